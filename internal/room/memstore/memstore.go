// Package memstore is the embedded, single-process room.Store: no set-up,
// sessions vanish on restart. Every method holds one mutex, which makes each
// operation atomic as the Store contract requires.
package memstore

import (
	"container/heap"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// EndedRetention is how long an ended session still answers status (as LEFT
// or EXPIRED) before it is forgotten and answers not found.
const EndedRetention = time.Hour

// Store is the in-memory room.Store.
type Store struct {
	policies room.Policies

	mu       sync.Mutex
	sessions map[string]*room.Session
	byUser   map[userKey]string // live session of each (event, user)
	events   map[string]*event
	// deadlines orders every live session by ExpiresAt. Entries go stale when
	// a heartbeat moves a deadline; a stale entry is dropped when it surfaces.
	deadlines deadlineHeap
	freed     chan string
	closed    bool
	settings  map[string]room.Settings
}

type userKey struct{ event, user string }

type event struct {
	seq     int64
	waiting fenwick
	nWait   int64
	nActive int64
	// active orders the event's ACTIVE sessions by deadline, for RetryAt.
	active                        deadlineHeap
	admitted, left, expired, join int64
	peak                          int64
	rate                          room.Rate
	expiredBy                     map[room.EndReason]int64
}

var _ room.Store = (*Store)(nil)

// New returns an empty store whose sessions follow the given policies.
func New(policies room.Policies) *Store {
	return &Store{
		policies: policies,
		sessions: make(map[string]*room.Session),
		byUser:   make(map[userKey]string),
		events:   make(map[string]*event),
		freed:    make(chan string, 1024),
		settings: make(map[string]room.Settings),
	}
}

// policy is the event's effective policy: configuration, then settings.
func (s *Store) policy(eventID string) room.Policy {
	return s.policies.Policy(eventID).With(s.settings[eventID])
}

func (s *Store) event(id string) *event {
	e, ok := s.events[id]
	if !ok {
		e = &event{}
		s.events[id] = e
	}
	return e
}

// Join implements room.Store.
func (s *Store) Join(_ context.Context, eventID, userID string, now time.Time) (room.Session, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireDue(now)
	if id, ok := s.byUser[userKey{eventID, userID}]; ok {
		return s.view(s.sessions[id], now), false, nil
	}
	p := s.policy(eventID)
	if e, ok := s.events[eventID]; ok && p.MaxWaiting > 0 && e.nWait >= int64(p.MaxWaiting) {
		return room.Session{}, false, room.ErrLineFull
	}
	e := s.event(eventID)
	e.seq++
	e.join++
	ss := &room.Session{
		ID:         room.NewSessionID(),
		EventID:    eventID,
		UserID:     userID,
		Seq:        e.seq,
		Status:     room.StatusWaiting,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(p.WaitingTTL),
	}
	s.sessions[ss.ID] = ss
	s.byUser[userKey{eventID, userID}] = ss.ID
	e.waiting.add(ss.Seq, 1)
	e.nWait++
	heap.Push(&s.deadlines, deadline{at: ss.ExpiresAt, id: ss.ID})
	return s.view(ss, now), true, nil
}

// MarkEnqueued implements room.Store.
func (s *Store) MarkEnqueued(_ context.Context, eventID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok || ss.EventID != eventID {
		return room.ErrNotFound
	}
	ss.Enqueued = true
	return nil
}

// Abort implements room.Store.
func (s *Store) Abort(_ context.Context, eventID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok || ss.EventID != eventID || ss.Status != room.StatusWaiting || ss.Enqueued {
		return nil
	}
	e := s.event(ss.EventID)
	e.waiting.add(ss.Seq, -1)
	e.nWait--
	e.join--
	delete(s.sessions, id)
	delete(s.byUser, userKey{ss.EventID, ss.UserID})
	return nil
}

// Get implements room.Store.
func (s *Store) Get(_ context.Context, id string, now time.Time) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireDue(now)
	ss, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	return s.view(ss, now), nil
}

// Touch implements room.Store.
func (s *Store) Touch(_ context.Context, id string, now time.Time) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireDue(now)
	ss, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	if ss.Status == room.StatusWaiting {
		s.seen(ss, now)
	}
	return s.view(ss, now), nil
}

// Heartbeat implements room.Store.
func (s *Store) Heartbeat(_ context.Context, id string, now time.Time) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireDue(now)
	ss, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	if !ss.Status.Live() {
		return s.view(ss, now), room.ErrEnded
	}
	s.seen(ss, now)
	return s.view(ss, now), nil
}

// seen records a sign of life and moves the session's deadline.
func (s *Store) seen(ss *room.Session, now time.Time) {
	p := s.policy(ss.EventID)
	ss.LastSeenAt = now
	switch ss.Status {
	case room.StatusWaiting:
		ss.ExpiresAt = now.Add(p.WaitingTTL)
	case room.StatusActive:
		ss.ExpiresAt = p.ActiveDeadline(ss.ActivatedAt, now)
		e := s.event(ss.EventID)
		heap.Push(&e.active, deadline{at: ss.ExpiresAt, id: ss.ID})
		if len(e.active) > 2*int(e.nActive)+64 {
			e.compact(s.sessions)
		}
	}
	heap.Push(&s.deadlines, deadline{at: ss.ExpiresAt, id: ss.ID})
}

// Leave implements room.Store.
func (s *Store) Leave(_ context.Context, id string, now time.Time) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireDue(now)
	ss, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	if ss.Status.Live() {
		s.end(ss, room.StatusLeft, room.ReasonLeft, now)
	}
	return s.view(ss, now), nil
}

// Grant implements room.Store.
func (s *Store) Grant(_ context.Context, eventID, id string, now time.Time) (room.GrantResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireDue(now)
	ss, ok := s.sessions[id]
	if !ok || ss.EventID != eventID {
		return room.GrantResult{Outcome: room.Skipped}, nil
	}
	switch ss.Status {
	case room.StatusActive:
		return room.GrantResult{Outcome: room.AlreadyActive, Session: s.view(ss, now)}, nil
	case room.StatusLeft, room.StatusExpired:
		return room.GrantResult{Outcome: room.Skipped, Session: s.view(ss, now)}, nil
	}
	e := s.event(ss.EventID)
	p := s.policy(ss.EventID)
	if p.Paused || e.nActive >= int64(p.Capacity) {
		return room.GrantResult{Outcome: room.Full, Session: s.view(ss, now), RetryAt: e.nextActiveDeadline(s.sessions)}, nil
	}
	e.waiting.add(ss.Seq, -1)
	e.nWait--
	e.nActive++
	e.admitted++
	e.peak = max(e.peak, e.nActive)
	e.rate.Add(now.UnixMilli())
	ss.Status = room.StatusActive
	ss.ActivatedAt = now
	ss.LastSeenAt = now
	ss.ExpiresAt = p.ActiveDeadline(now, now)
	heap.Push(&s.deadlines, deadline{at: ss.ExpiresAt, id: ss.ID})
	heap.Push(&e.active, deadline{at: ss.ExpiresAt, id: ss.ID})
	return room.GrantResult{Outcome: room.Admitted, Session: s.view(ss, now)}, nil
}

// Sweep implements room.Store.
func (s *Store) Sweep(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expireDue(now), nil
}

// Stats implements room.Store.
func (s *Store) Stats(_ context.Context, eventID string, now time.Time) (room.EventStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireDue(now)
	p := s.policy(eventID)
	st := room.EventStats{EventID: eventID, Capacity: p.Capacity, Paused: p.Paused}
	if e, ok := s.events[eventID]; ok {
		st.Active, st.Waiting = e.nActive, e.nWait
		st.Joined, st.Admitted, st.Left, st.Expired = e.join, e.admitted, e.left, e.expired
		st.PeakActive = e.peak
		st.ExpiredBy = maps.Clone(e.expiredBy)
		st.AdmissionRate = e.rate.PerSecond(now.UnixMilli())
	}
	return st, nil
}

// Events implements room.Store.
func (s *Store) Events(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Collect(maps.Keys(s.events))
	for id := range s.settings {
		if _, ok := s.events[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Settings implements room.Store.
func (s *Store) Settings(_ context.Context, eventID string) (room.Settings, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.settings[eventID]
	return st, ok, nil
}

// PutSettings implements room.Store.
func (s *Store) PutSettings(_ context.Context, eventID string, st room.Settings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings[eventID] = st
	s.notifyFreed(eventID) // wake a granter holding the event's line
	return nil
}

// Freed implements room.Store.
func (s *Store) Freed() <-chan string { return s.freed }

// Ping implements room.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements room.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.freed)
	}
	return nil
}

// expireDue ends every live session whose deadline is at or before now.
func (s *Store) expireDue(now time.Time) int {
	n := 0
	for len(s.deadlines) > 0 && !s.deadlines[0].at.After(now) {
		d := heap.Pop(&s.deadlines).(deadline)
		ss, ok := s.sessions[d.id]
		if ok && d.purge && !ss.Status.Live() {
			delete(s.sessions, d.id)
			continue
		}
		if !ok || d.purge || !ss.Status.Live() || !ss.ExpiresAt.Equal(d.at) {
			continue // stale: the session moved its deadline or ended
		}
		reason := room.ReasonAbandoned
		if ss.Status == room.StatusActive {
			reason = s.policy(ss.EventID).ActiveEndReason(ss.ActivatedAt, ss.ExpiresAt)
		}
		s.end(ss, room.StatusExpired, reason, ss.ExpiresAt)
		n++
	}
	return n
}

// end moves a live session to a final status and frees what it held.
func (s *Store) end(ss *room.Session, st room.Status, reason room.EndReason, at time.Time) {
	e := s.event(ss.EventID)
	switch ss.Status {
	case room.StatusWaiting:
		e.waiting.add(ss.Seq, -1)
		e.nWait--
	case room.StatusActive:
		e.nActive--
		s.notifyFreed(ss.EventID)
	}
	if st == room.StatusLeft {
		e.left++
	} else {
		e.expired++
		if e.expiredBy == nil {
			e.expiredBy = map[room.EndReason]int64{}
		}
		e.expiredBy[reason]++
	}
	ss.Status = st
	ss.EndReason = reason
	ss.EndedAt = at
	delete(s.byUser, userKey{ss.EventID, ss.UserID})
	heap.Push(&s.deadlines, deadline{at: at.Add(EndedRetention), id: ss.ID, purge: true})
}

func (s *Store) notifyFreed(eventID string) {
	if s.closed {
		return
	}
	select {
	case s.freed <- eventID:
	default: // a full channel already holds wake-ups; the granter's tick covers the rest
	}
}

// view copies a session and fills in its position and the event's rate.
func (s *Store) view(ss *room.Session, now time.Time) room.Session {
	v := *ss
	if v.Status == room.StatusWaiting {
		e := s.events[ss.EventID]
		v.Position = e.waiting.sum(ss.Seq-1) + 1
		v.AdmissionRate = e.rate.PerSecond(now.UnixMilli())
	}
	return v
}

// nextActiveDeadline is the earliest deadline among the event's ACTIVE
// sessions, dropping stale heap entries on the way.
func (e *event) nextActiveDeadline(sessions map[string]*room.Session) time.Time {
	for len(e.active) > 0 {
		d := e.active[0]
		ss, ok := sessions[d.id]
		if ok && ss.Status == room.StatusActive && ss.ExpiresAt.Equal(d.at) {
			return d.at
		}
		heap.Pop(&e.active)
	}
	return time.Time{}
}

// compact drops stale entries from the event's active heap, so heartbeats
// cannot grow it without bound.
func (e *event) compact(sessions map[string]*room.Session) {
	live := e.active[:0]
	for _, d := range e.active {
		if ss, ok := sessions[d.id]; ok && ss.Status == room.StatusActive && ss.ExpiresAt.Equal(d.at) {
			live = append(live, d)
		}
	}
	e.active = live
	heap.Init(&e.active)
}

type deadline struct {
	at    time.Time
	id    string
	purge bool // forget the ended session rather than expire it
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
