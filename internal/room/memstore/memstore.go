// Package memstore is the embedded, single-process room.Store: no set-up,
// sessions vanish on restart. Every method holds one mutex, which makes each
// operation atomic as the Store contract requires.
//
// What it keeps is bounded by what is live: each live session has exactly
// one entry in the deadline heap (moved in place by a poll, never pushed
// again), ended sessions are kept for a short retention and up to a cap, and
// an event is forgotten once it has been idle for its retention.
package memstore

import (
	"container/heap"
	"context"
	"encoding/hex"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Config tunes the store.
type Config struct {
	// Clock is the room's clock. Default time.Now.
	Clock room.Clock
	// Retention bounds what the store keeps of the past.
	Retention room.Retention
	// MaxEnded caps the ended sessions kept for status; past it the oldest
	// are forgotten first. Default 100,000.
	MaxEnded int
}

// Store is the in-memory room.Store.
type Store struct {
	policies room.Policies
	now      room.Clock
	keep     room.Retention
	maxEnded int

	mu       sync.Mutex
	sessions map[string]*rec
	byUser   map[userKey]*rec // live session of each (event, user)
	events   map[string]*event
	// deadlines orders every live session by ExpiresAt, one entry each.
	deadlines recHeap
	// ended lists ended sessions in the order they ended, to forget them.
	ended fifo[endedRef]
	// idle lists events that had their last live session end, to forget
	// them once idle for the event retention.
	idle     fifo[idleRef]
	freed    chan string
	changes  chan room.Change
	closed   bool
	settings map[string]room.Settings
}

type userKey struct{ event, user string }

// rec is a session with its places in the heaps.
type rec struct {
	room.Session
	keyHash string
	gi, ai  int // index in Store.deadlines and in event.active; -1 when absent
	// ticket is the session's place in the line's order: its Seq, or after
	// the start's shuffle, the pre-queue ticket the shuffle gave it.
	ticket int64
	// pre is set while the session waits in the pre-queue.
	pre bool
}

type endedRef struct {
	r  *rec
	at time.Time
}

type idleRef struct {
	id    string
	since time.Time
}

type event struct {
	seq       int64
	waiting   fenwick
	bySeq     map[int64]*rec // WAITING sessions in line by ticket
	pre       map[int64]*rec // WAITING sessions in the pre-queue by Seq
	shuffle   *room.Shuffle  // the last start's record
	nActive   int64
	active    recHeap // ACTIVE sessions by deadline
	admission int64
	admitted  int64
	left      int64
	expired   int64
	joined    int64
	peak      int64
	rate      room.Rate
	bucket    room.Bucket // NewUsersPerMinute's tokens
	expiredBy map[room.EndReason]int64
	idleSince time.Time // zero while the event has live sessions
	log       []logEntry
	seed      *[32]byte // the next draw's, committed to in the log
}

// nWait counts the WAITING sessions, in line or in the pre-queue.
func (e *event) nWait() int64 { return int64(len(e.bySeq) + len(e.pre)) }

var _ room.Store = (*Store)(nil)

// changesBuffer is how many changes wait for a slow reader before the
// next is dropped.
const changesBuffer = 4096

// New returns an empty store whose sessions follow the given policies.
func New(cfg Config, policies room.Policies) *Store {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxEnded <= 0 {
		cfg.MaxEnded = 100_000
	}
	return &Store{
		policies: policies,
		now:      cfg.Clock,
		keep:     cfg.Retention.WithDefaults(),
		maxEnded: cfg.MaxEnded,
		sessions: make(map[string]*rec),
		byUser:   make(map[userKey]*rec),
		events:   make(map[string]*event),
		freed:    make(chan string, 1024),
		changes:  make(chan room.Change, changesBuffer),
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
		e = &event{bySeq: make(map[int64]*rec), pre: make(map[int64]*rec), active: recHeap{active: true}}
		s.events[id] = e
	}
	return e
}

// Join implements room.Store.
func (s *Store) Join(_ context.Context, req room.JoinRequest) (room.Session, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireDue(now)
	s.settle(req.EventID, now)
	if r, ok := s.byUser[userKey{req.EventID, req.UserID}]; ok {
		if !req.MayRejoin(r.keyHash) {
			return room.Session{}, false, room.ErrAlreadyJoined
		}
		r.Verified = r.Verified || req.Verified
		return s.view(r, now), false, nil
	}
	p := s.policy(req.EventID)
	if err := p.JoinError(now); err != nil {
		return room.Session{}, false, err
	}
	if e, ok := s.events[req.EventID]; ok && p.MaxWaiting > 0 && e.nWait() >= int64(p.MaxWaiting) {
		return room.Session{}, false, room.ErrLineFull
	}
	e := s.event(req.EventID)
	e.seq++
	e.joined++
	e.idleSince = time.Time{}
	r := &rec{
		Session: room.Session{
			ID:         room.NewSessionID(),
			EventID:    req.EventID,
			UserID:     req.UserID,
			Seq:        e.seq,
			Status:     room.StatusWaiting,
			CreatedAt:  now,
			LastSeenAt: now,
			ExpiresAt:  now.Add(p.WaitingTTL),
			Verified:   req.Verified,
		},
		keyHash: room.HashKey(req.Key),
		gi:      -1,
		ai:      -1,
		ticket:  e.seq,
	}
	s.sessions[r.ID] = r
	s.byUser[userKey{req.EventID, req.UserID}] = r
	heap.Push(&s.deadlines, r)
	pre := p.Phase(now) == room.PhasePreQueue
	if pre && e.seed == nil {
		seed := room.NewSeed()
		e.seed = &seed
		s.audit(e, p, now, room.AuditEntry{Type: room.AuditCommit, SeedHash: room.SeedCommitment(seed)})
	}
	s.audit(e, p, now, room.AuditEntry{Type: room.AuditJoin, Ticket: r.Seq, Ref: room.AuditRef(r.ID), Pre: pre})
	switch {
	case pre:
		r.pre = true
		e.pre[r.Seq] = r
	case s.atOnce(e, p, now):
		r.Enqueued = true // admitted at once: no message to wait for
		s.admit(e, r, p.ActiveDeadline(now, now), now)
	default:
		e.waiting.add(r.ticket, 1)
		e.bySeq[r.ticket] = r
	}
	return s.view(r, now), true, nil
}

// atOnce reports whether a join to a live event is admitted at once:
// nobody waits ahead of it (in line, unconfirmed, or in the pre-queue), and
// the room is open (passthrough) or, unless every join is to queue, has a
// free slot and a token of the admission rate, unpaused. A token is taken
// when it says yes. The Redis store's at_once (redisstore/scripts.go) is
// its twin: the conformance suite holds both to the same rule, and a
// change here is made there too.
func (s *Store) atOnce(e *event, p room.Policy, now time.Time) bool {
	switch {
	case e.nWait() > 0:
		return false
	case p.Method == room.MethodPassthrough:
		return true
	case p.QueueAll, p.Paused || e.nActive >= int64(p.Capacity):
		return false
	case p.NewUsersPerMinute > 0:
		ok, _ := e.bucket.Take(p.NewUsersPerMinute, now.UnixMilli())
		return ok
	}
	return true
}

// settle brings an event up to its schedule and method at now: at the
// start, the pre-queue is shuffled into the line once; while the line is
// closed (ended, or rejecting), its WAITING sessions end.
func (s *Store) settle(eventID string, now time.Time) {
	e, ok := s.events[eventID]
	if !ok || e.nWait() == 0 {
		return
	}
	p := s.policy(eventID)
	if reason, closed := p.Closed(now); closed {
		for _, set := range []map[int64]*rec{e.pre, e.bySeq} {
			for _, r := range set {
				s.end(r, room.StatusExpired, reason, now)
			}
		}
		return
	}
	if len(e.pre) > 0 && p.Phase(now) == room.PhaseLive {
		s.start(eventID, e, p, now)
	}
}

// start moves the pre-queue into the line in a uniformly random order,
// ahead of every later join: the pre-queue's tickets, sorted, are dealt
// out again by a seeded Fisher–Yates permutation, and the deal is recorded.
func (s *Store) start(eventID string, e *event, p room.Policy, now time.Time) {
	tickets := slices.Sorted(maps.Keys(e.pre))
	seed := room.NewSeed()
	if e.seed != nil {
		seed, e.seed = *e.seed, nil // the one committed to when the pre-queue opened
	}
	perm := room.PermuteWithSeed(len(tickets), seed)
	order := make([]int64, len(tickets))
	for i, j := range perm {
		r := e.pre[tickets[j]]
		order[i] = r.Seq
		r.pre = false
		r.ticket = tickets[i]
		e.waiting.add(r.ticket, 1)
		e.bySeq[r.ticket] = r
	}
	clear(e.pre)
	e.shuffle = &room.Shuffle{At: now, StartsAt: p.StartsAt, Seed: room.SeedString(seed), Order: order}
	s.audit(e, p, now, room.AuditEntry{Type: room.AuditDraw, Seed: room.SeedString(seed), Tickets: tickets, Order: order})
	s.changed(room.Change{EventID: eventID})
}

// MarkEnqueued implements room.Store.
func (s *Store) MarkEnqueued(_ context.Context, eventID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sessions[id]
	if !ok || r.EventID != eventID {
		return room.ErrNotFound
	}
	r.Enqueued = true
	if r.Status == room.StatusWaiting && s.events[eventID].head() == r || s.policy(eventID).Method == room.MethodRandom {
		s.notifyFreed(eventID) // a granter may be blocked on this ticket
	}
	return nil
}

// Abort implements room.Store.
func (s *Store) Abort(_ context.Context, eventID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.sessions[id]; ok && r.EventID == eventID && r.Status == room.StatusWaiting && !r.Enqueued {
		s.abort(r)
	}
	return nil
}

// abort removes a WAITING session as if it never joined.
func (s *Store) abort(r *rec) {
	e := s.events[r.EventID]
	s.audit(e, s.policy(r.EventID), s.now(), room.AuditEntry{Type: room.AuditExpire, Ticket: r.Seq, Reason: "aborted"})
	e.unline(r)
	e.joined--
	heap.Remove(&s.deadlines, r.gi)
	delete(s.sessions, r.ID)
	delete(s.byUser, userKey{r.EventID, r.UserID})
	s.maybeIdle(r.EventID, e, s.now())
}

// Get implements room.Store.
func (s *Store) Get(_ context.Context, id string) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireDue(now)
	r, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	s.settle(r.EventID, now)
	return s.view(r, now), nil
}

// Touch implements room.Store.
func (s *Store) Touch(_ context.Context, id string) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireDue(now)
	r, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	s.settle(r.EventID, now)
	if r.Status == room.StatusWaiting {
		s.seen(r, now)
	}
	return s.view(r, now), nil
}

// Heartbeat implements room.Store.
func (s *Store) Heartbeat(_ context.Context, id string) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireDue(now)
	r, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	s.settle(r.EventID, now)
	if !r.Status.Live() {
		return s.view(r, now), room.ErrEnded
	}
	s.seen(r, now)
	return s.view(r, now), nil
}

// seen records a sign of life and moves the session's deadline in place.
func (s *Store) seen(r *rec, now time.Time) {
	p := s.policy(r.EventID)
	r.LastSeenAt = now
	switch r.Status {
	case room.StatusWaiting:
		r.ExpiresAt = now.Add(p.WaitingTTL)
	case room.StatusActive:
		r.ExpiresAt = p.ActiveDeadline(r.ActivatedAt, now)
		heap.Fix(&s.events[r.EventID].active, r.ai)
	}
	heap.Fix(&s.deadlines, r.gi)
}

// Leave implements room.Store.
func (s *Store) Leave(_ context.Context, id string) (room.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireDue(now)
	r, ok := s.sessions[id]
	if !ok {
		return room.Session{}, room.ErrNotFound
	}
	s.settle(r.EventID, now)
	if r.Status.Live() {
		s.end(r, room.StatusLeft, room.ReasonLeft, now)
	}
	return s.view(r, now), nil
}

// Grant implements room.Store.
func (s *Store) Grant(_ context.Context, eventID, id string) (room.GrantResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireDue(now)
	if r, ok := s.sessions[id]; ok && r.EventID == eventID && r.Status == room.StatusWaiting {
		r.Enqueued = true // its message is in the granter's hands
	}
	s.settle(eventID, now)
	e, ok := s.events[eventID]
	if !ok {
		return room.GrantResult{Outcome: room.Skipped}, nil
	}
	p := s.policy(eventID)
	if ph := p.Phase(now); ph == room.PhaseScheduled || ph == room.PhasePreQueue {
		// No one is admitted before the event is open and started, and the
		// pre-queue goes first then: the message waits for it.
		return room.GrantResult{Outcome: room.Full, RetryAt: p.LiveAt()}, nil
	}
	var head *rec
	for {
		head = e.head()
		if p.Method == room.MethodRandom && head != nil {
			head = e.draw(now, s.keep.EnqueueGrace)
		}
		if head == nil {
			return room.GrantResult{Outcome: room.Skipped}, nil
		}
		if head.Enqueued {
			break
		}
		if grace := head.CreatedAt.Add(s.keep.EnqueueGrace); now.Before(grace) {
			return room.GrantResult{Outcome: room.Blocked, Session: s.view(head, now), RetryAt: grace}, nil
		}
		s.abort(head) // its join was never answered: it cannot hold the line
	}
	if p.Method == room.MethodPassthrough {
		s.grant(e, head, p, now) // the room is open: no cap
		return room.GrantResult{Outcome: room.Admitted, Session: s.view(head, now)}, nil
	}
	if p.Paused || e.nActive >= int64(p.Capacity) {
		var retry time.Time
		if len(e.active.recs) > 0 {
			retry = e.active.recs[0].ExpiresAt
		}
		return room.GrantResult{Outcome: room.Full, Session: s.view(head, now), RetryAt: retry}, nil
	}
	if n := p.NewUsersPerMinute; n > 0 {
		if ok, retry := e.bucket.Take(n, now.UnixMilli()); !ok {
			return room.GrantResult{Outcome: room.Full, Session: s.view(head, now), RetryAt: time.UnixMilli(retry)}, nil
		}
	}
	s.grant(e, head, p, now)
	return room.GrantResult{Outcome: room.Admitted, Session: s.view(head, now)}, nil
}

// grant admits a WAITING session from the line, with a first deadline
// that covers its next due poll, and tells those waiting for its news.
func (s *Store) grant(e *event, r *rec, p room.Policy, now time.Time) {
	s.admit(e, r, p.FirstDeadline(now, r.LastSeenAt), now)
	s.changed(room.Change{EventID: r.EventID, SessionID: r.ID, Status: room.StatusActive})
}

// admit makes a session ACTIVE until deadline.
func (s *Store) admit(e *event, r *rec, deadline, now time.Time) {
	if r.Status == room.StatusWaiting {
		e.unline(r)
	}
	e.nActive++
	e.admitted++
	e.admission++
	e.peak = max(e.peak, e.nActive)
	e.rate.Add(now.UnixMilli())
	r.Status = room.StatusActive
	r.Admission = e.admission
	active := e.nActive
	s.audit(e, s.policy(r.EventID), now, room.AuditEntry{Type: room.AuditAdmit, Ticket: r.Seq, Admission: e.admission, Active: &active})
	r.ActivatedAt = now
	r.LastSeenAt = now
	r.ExpiresAt = deadline
	heap.Fix(&s.deadlines, r.gi)
	heap.Push(&e.active, r)
}

// unline takes a WAITING session out of the line or the pre-queue.
func (e *event) unline(r *rec) {
	if r.pre {
		delete(e.pre, r.Seq)
		return
	}
	if _, ok := e.bySeq[r.ticket]; ok {
		e.waiting.add(r.ticket, -1)
		delete(e.bySeq, r.ticket)
	}
}

// head is the event's lowest-ticket WAITING session in line, or nil.
func (e *event) head() *rec {
	if len(e.bySeq) == 0 {
		return nil
	}
	return e.bySeq[e.waiting.first()]
}

// draw is the random method's pick: one of the sessions in line, drawn
// uniformly. One whose message is not yet confirmed on the queue is passed
// over for the next in line (its join is still sending), unless its grace
// has run out, when the caller gives up on it.
func (e *event) draw(now time.Time, grace time.Duration) *rec {
	n := int64(len(e.bySeq))
	k := 1 + rand.Int64N(n)
	for i := int64(0); i < min(n, 100); i++ {
		r := e.bySeq[e.waiting.find(1+(k-1+i)%n)]
		if r.Enqueued || !now.Before(r.CreatedAt.Add(grace)) {
			return r
		}
	}
	return e.bySeq[e.waiting.find(k)]
}

// Sweep implements room.Store.
func (s *Store) Sweep(_ context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := s.expireDue(now)
	for id, e := range s.events {
		if e.nWait() > 0 {
			before := e.expired
			s.settle(id, now)
			n += int(e.expired - before)
		}
	}
	return n, nil
}

// Stats implements room.Store.
func (s *Store) Stats(_ context.Context, eventID string) (room.EventStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireDue(now)
	s.settle(eventID, now)
	p := s.policy(eventID)
	st := room.EventStats{EventID: eventID, Capacity: p.Capacity, Paused: p.Paused, Policy: p, Now: now}
	if e, ok := s.events[eventID]; ok {
		st.Active, st.Waiting, st.PreQueued = e.nActive, e.nWait(), int64(len(e.pre))
		if e.shuffle != nil {
			st.Shuffled, st.ShuffledCount = e.shuffle.At, int64(len(e.shuffle.Order))
		}
		st.Joined, st.Admitted, st.Left, st.Expired = e.joined, e.admitted, e.left, e.expired
		st.PeakActive = e.peak
		st.ExpiredBy = maps.Clone(e.expiredBy)
		st.AdmissionRate = p.CapRate(e.rate.PerSecond(now.UnixMilli()))
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

// Shuffle implements room.Store.
func (s *Store) Shuffle(_ context.Context, eventID string) (room.Shuffle, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(eventID, s.now())
	if e, ok := s.events[eventID]; ok && e.shuffle != nil {
		sh := *e.shuffle
		sh.Order = slices.Clone(sh.Order)
		return sh, true, nil
	}
	return room.Shuffle{}, false, nil
}

// Audit implements room.Store.
func (s *Store) Audit(_ context.Context, eventID string, from int64, max int) ([]room.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.events[eventID]
	if !ok || from < 1 || from > int64(len(e.log)) {
		return nil, nil
	}
	page := e.log[from-1 : min(int64(len(e.log)), from-1+int64(max))]
	out := make([]room.AuditEntry, len(page))
	for i, le := range page {
		out[i] = le.expand(from + int64(i))
	}
	return out, nil
}

// logEntry is an audit entry as the store keeps it: a session's entries
// (join, admission, end) in a few words, about 80 bytes where the whole
// entry takes some 280; the rare ones (settings, commit, draw) whole.
type logEntry struct {
	at, ticket, admission, active int64
	ref                           [16]byte
	kind                          uint8 // an index into logKinds
	pre                           bool
	reason                        string
	whole                         *room.AuditEntry
}

var logKinds = []string{room.AuditJoin, room.AuditAdmit, room.AuditLeave, room.AuditExpire}

// pack is en as the store keeps it.
func pack(en room.AuditEntry) logEntry {
	kind := slices.Index(logKinds, en.Type)
	if kind < 0 {
		return logEntry{at: en.At, whole: &en}
	}
	le := logEntry{at: en.At, ticket: en.Ticket, admission: en.Admission, kind: uint8(kind), pre: en.Pre, reason: en.Reason}
	if en.Active != nil {
		le.active = *en.Active
	}
	hex.Decode(le.ref[:], []byte(en.Ref)) // room.AuditRef: 16 bytes of hex
	return le
}

// expand is the entry le keeps, numbered seq.
func (le logEntry) expand(seq int64) room.AuditEntry {
	if le.whole != nil {
		en := *le.whole
		en.Seq = seq
		return en
	}
	en := room.AuditEntry{Seq: seq, Type: logKinds[le.kind], At: le.at, Ticket: le.ticket, Pre: le.pre, Reason: le.reason}
	switch en.Type {
	case room.AuditJoin:
		en.Ref = hex.EncodeToString(le.ref[:])
	case room.AuditAdmit:
		active := le.active
		en.Admission, en.Active = le.admission, &active
	}
	return en
}

// audit appends an entry to the event's log, the settings in force first
// when the log starts; a settings entry carries p's.
func (s *Store) audit(e *event, p room.Policy, at time.Time, en room.AuditEntry) {
	if len(e.log) == 0 && en.Type != room.AuditSettingsType {
		e.log = append(e.log, pack(room.AuditEntry{Type: room.AuditSettingsType, At: at.UnixMilli(), Settings: room.AuditSettingsOf(p)}))
	}
	if en.Type == room.AuditSettingsType {
		en.Settings = room.AuditSettingsOf(p)
	}
	en.At = at.UnixMilli()
	e.log = append(e.log, pack(en))
}

// PutSettings implements room.Store.
func (s *Store) PutSettings(_ context.Context, eventID string, st room.Settings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings[eventID] = st
	s.audit(s.event(eventID), s.policy(eventID), s.now(), room.AuditEntry{Type: room.AuditSettingsType})
	s.notifyFreed(eventID) // wake a granter holding the event's line
	s.changed(room.Change{EventID: eventID})
	return nil
}

// Freed implements room.Store.
func (s *Store) Freed() <-chan string { return s.freed }

// Changes implements room.Store. The memory store serves one replica, so
// the feed has one reader (its server's held requests); a change that
// finds the feed full is dropped, and held requests still answer at their
// timeout.
func (s *Store) Changes() <-chan room.Change { return s.changes }

// Ping implements room.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements room.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.freed)
		close(s.changes)
	}
	return nil
}

// expireDue ends every live session whose deadline is at or before now,
// then forgets ended sessions and idle events past their retention. Its
// cost follows what is due, not what is kept.
func (s *Store) expireDue(now time.Time) int {
	n := 0
	for len(s.deadlines.recs) > 0 && !s.deadlines.recs[0].ExpiresAt.After(now) {
		r := s.deadlines.recs[0]
		reason := room.ReasonAbandoned
		if r.Status == room.StatusActive {
			reason = s.policy(r.EventID).ActiveEndReason(r.ActivatedAt, r.ExpiresAt)
		}
		s.end(r, room.StatusExpired, reason, r.ExpiresAt)
		n++
	}
	for s.ended.len() > 0 {
		old := s.ended.peek()
		if now.Before(old.at.Add(s.keep.Ended)) {
			break
		}
		s.forget(s.ended.pop().r)
	}
	for s.idle.len() > 0 && !now.Before(s.idle.peek().since.Add(s.keep.Event)) {
		ref := s.idle.pop()
		e, ok := s.events[ref.id]
		if !ok || !e.idleSince.Equal(ref.since) {
			continue // live again, or idle again later with an entry of its own
		}
		if _, configured := s.settings[ref.id]; configured {
			continue
		}
		delete(s.events, ref.id)
	}
	return n
}

// end moves a live session to a final status and frees what it held.
func (s *Store) end(r *rec, st room.Status, reason room.EndReason, at time.Time) {
	e := s.events[r.EventID]
	switch r.Status {
	case room.StatusWaiting:
		e.unline(r)
		s.changed(room.Change{EventID: r.EventID, SessionID: r.ID, Status: st})
	case room.StatusActive:
		e.nActive--
		heap.Remove(&e.active, r.ai)
		s.notifyFreed(r.EventID)
	}
	heap.Remove(&s.deadlines, r.gi)
	kind := room.AuditExpire
	if st == room.StatusLeft {
		kind = room.AuditLeave
	}
	s.audit(e, s.policy(r.EventID), at, room.AuditEntry{Type: kind, Ticket: r.Seq, Reason: string(reason)})
	if st == room.StatusLeft {
		e.left++
	} else {
		e.expired++
		if e.expiredBy == nil {
			e.expiredBy = map[room.EndReason]int64{}
		}
		e.expiredBy[reason]++
	}
	r.Status = st
	r.EndReason = reason
	r.EndedAt = at
	delete(s.byUser, userKey{r.EventID, r.UserID})
	s.ended.push(endedRef{r: r, at: at})
	for s.ended.len() > s.maxEnded {
		s.forget(s.ended.pop().r)
	}
	s.maybeIdle(r.EventID, e, at)
}

// forget drops an ended session.
func (s *Store) forget(r *rec) {
	if cur, ok := s.sessions[r.ID]; ok && cur == r {
		delete(s.sessions, r.ID)
	}
}

// maybeIdle starts an event's idle retention once nothing in it is live.
func (s *Store) maybeIdle(id string, e *event, at time.Time) {
	if e.nActive == 0 && e.nWait() == 0 && e.idleSince.IsZero() {
		e.idleSince = at
		s.idle.push(idleRef{id: id, since: at})
	}
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

// changed delivers a change to Changes, unless its reader lags.
func (s *Store) changed(c room.Change) {
	if s.closed {
		return
	}
	select {
	case s.changes <- c:
	default:
	}
}

// view copies a session and fills in its position and the event's rate.
func (s *Store) view(r *rec, now time.Time) room.Session {
	v := r.Session
	if v.Status == room.StatusWaiting {
		e := s.events[r.EventID]
		p := s.policy(r.EventID)
		v.Method, v.Paused = p.Method, p.Paused
		v.WaitingTTL = p.WaitingTTL
		if r.pre {
			v.PreQueued, v.StartsAt = true, p.StartsAt
			return v
		}
		v.Position = e.waiting.sum(r.ticket-1) + 1
		v.AdmissionRate = p.CapRate(e.rate.PerSecond(now.UnixMilli()))
	}
	return v
}

// recHeap orders sessions by ExpiresAt and keeps each one's index, so a
// moved deadline is fixed in place rather than pushed again.
type recHeap struct {
	recs   []*rec
	active bool // indexes live in rec.ai rather than rec.gi
}

func (h recHeap) Len() int           { return len(h.recs) }
func (h recHeap) Less(i, j int) bool { return h.recs[i].ExpiresAt.Before(h.recs[j].ExpiresAt) }
func (h recHeap) Swap(i, j int) {
	h.recs[i], h.recs[j] = h.recs[j], h.recs[i]
	h.setIndex(i)
	h.setIndex(j)
}

func (h recHeap) setIndex(i int) {
	if h.active {
		h.recs[i].ai = i
	} else {
		h.recs[i].gi = i
	}
}

func (h *recHeap) Push(x any) {
	h.recs = append(h.recs, x.(*rec))
	h.setIndex(len(h.recs) - 1)
}

func (h *recHeap) Pop() any {
	old := h.recs
	r := old[len(old)-1]
	old[len(old)-1] = nil
	h.recs = old[:len(old)-1]
	if h.active {
		r.ai = -1
	} else {
		r.gi = -1
	}
	return r
}

// fifo is a queue that gives back the memory of what it has popped.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }
func (q *fifo[T]) peek() T  { return q.items[q.head] }
func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }

func (q *fifo[T]) pop() T {
	var zero T
	v := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head > 1024 && q.head*2 >= len(q.items) {
		q.items = append([]T(nil), q.items[q.head:]...)
		q.head = 0
	}
	return v
}
