// Package roomtest is the conformance suite every room.Store backend passes.
package roomtest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// NewStore returns an empty store following policies whose every deadline
// is decided by clock, closed by t.Cleanup.
type NewStore func(t *testing.T, policies room.Policies, clock room.Clock) room.Store

// Policy is the policy the suite runs under unless a test says otherwise.
// It sends every join through the line (QueueAll), since most of the suite
// is about the line; the tests of joins admitted at once use FastPolicy.
var Policy = room.Policy{Capacity: 2, HeartbeatTTL: 30 * time.Second, WaitingTTL: 60 * time.Second, MaxActive: 15 * time.Minute,
	QueueAll: true}

// FastPolicy is Policy as configured by default: a join that finds nobody
// waiting and a free slot is admitted at once.
var FastPolicy = func() room.Policy { p := Policy; p.QueueAll = false; return p }()

// Clock is a settable room.Clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; use it as a room.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// T0 is where the suite's clocks start: long past, so any code that reads
// the real clock instead of the store's fails here on every day.
var T0 = time.Date(2020, 1, 1, 10, 0, 0, 0, time.UTC)

// Run runs the suite against the backend newStore builds.
func Run(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	open := func(t *testing.T) (room.Store, *Clock) {
		clk := NewClock(T0)
		return newStore(t, room.StaticPolicies{Default: Policy, Capacity: map[string]int{"big": 100}}, clk.Now), clk
	}
	join := func(t *testing.T, st room.Store, event, user string) room.Session {
		t.Helper()
		s, created, err := st.Join(ctx, room.JoinRequest{EventID: event, UserID: user, Key: "k-" + user})
		if err != nil {
			t.Fatalf("join %s/%s: %v", event, user, err)
		}
		if !created {
			t.Fatalf("join %s/%s: created = false for a new user", event, user)
		}
		if err := st.MarkEnqueued(ctx, event, s.ID); err != nil {
			t.Fatalf("mark enqueued: %v", err)
		}
		return s
	}
	grant := func(t *testing.T, st room.Store, event, id string, want room.GrantOutcome) room.GrantResult {
		t.Helper()
		r, err := st.Grant(ctx, event, id)
		if err != nil {
			t.Fatalf("grant %s: %v", id, err)
		}
		if r.Outcome != want {
			t.Fatalf("grant with %s's message = %v, want %v", id, r.Outcome, want)
		}
		return r
	}
	admits := func(t *testing.T, st room.Store, event, msgID, wantID string) room.Session {
		t.Helper()
		r := grant(t, st, event, msgID, room.Admitted)
		if r.Session.ID != wantID {
			t.Fatalf("grant with %s's message admitted %s (ticket %d), want %s", msgID, r.Session.ID, r.Session.Seq, wantID)
		}
		return r.Session
	}
	get := func(t *testing.T, st room.Store, id string) room.Session {
		t.Helper()
		s, err := st.Get(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return s
	}
	stats := func(t *testing.T, st room.Store, event string) room.EventStats {
		t.Helper()
		s, err := st.Stats(ctx, event)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("join creates a waiting session at the store's time", func(t *testing.T) {
		st, _ := open(t)
		s := join(t, st, "E1", "U1")
		if !room.ValidSessionID(s.ID) || s.Status != room.StatusWaiting || s.EventID != "E1" || s.UserID != "U1" {
			t.Fatalf("session = %+v", s)
		}
		if s.Position != 1 || s.Seq != 1 || !s.CreatedAt.Equal(T0) || !s.ExpiresAt.Equal(T0.Add(Policy.WaitingTTL)) {
			t.Fatalf("position %d seq %d createdAt %v expiresAt %v, want 1, 1, %v, +%v", s.Position, s.Seq, s.CreatedAt, s.ExpiresAt, T0, Policy.WaitingTTL)
		}
		if s.WaitingTTL != Policy.WaitingTTL {
			t.Fatalf("effective waiting TTL = %v, want %v", s.WaitingTTL, Policy.WaitingTTL)
		}
		if g := get(t, st, s.ID); g.ID != s.ID || g.Status != room.StatusWaiting || !g.Enqueued {
			t.Fatalf("get = %+v", g)
		}
		if _, err := st.Get(ctx, room.NewSessionID()); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("get unknown: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("a re-join gets the live session only with proof of the first join", func(t *testing.T) {
		st, clk := open(t)
		a := join(t, st, "E1", "U1") // key "k-U1"
		clk.Advance(time.Second)
		b, created, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "U1", Key: "k-U1"})
		if err != nil || created || b.ID != a.ID {
			t.Fatalf("re-join with the key = %s created=%v err=%v, want %s created=false", b.ID, created, err, a.ID)
		}
		for _, req := range []room.JoinRequest{
			{EventID: "E1", UserID: "U1"},
			{EventID: "E1", UserID: "U1", Key: "someone-else"},
		} {
			s, _, err := st.Join(ctx, req)
			if !errors.Is(err, room.ErrAlreadyJoined) || s.ID != "" {
				t.Fatalf("re-join with key %q = %q, %v; want ErrAlreadyJoined and no session", req.Key, s.ID, err)
			}
		}
		if c, created, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "U1", Trusted: true}); err != nil || created || c.ID != a.ID {
			t.Fatalf("trusted re-join = %s created=%v err=%v", c.ID, created, err)
		}
		if g := get(t, st, a.ID); g.Status != room.StatusWaiting || g.Position != 1 {
			t.Fatalf("refused re-joins touched the session: %+v", g)
		}
		other := join(t, st, "E2", "U1") // another event is another place
		if other.ID == a.ID {
			t.Fatal("same session for another event")
		}
		admits(t, st, "E1", a.ID, a.ID)
		if c, created, _ := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "U1", Key: "k-U1"}); created || c.ID != a.ID || c.Status != room.StatusActive {
			t.Fatalf("join while active = %+v created=%v, want the active session", c, created)
		}
		if _, err := st.Leave(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if d := join(t, st, "E1", "U1"); d.ID == a.ID {
			t.Fatal("join after leave returned the ended session")
		}
	})

	t.Run("positions follow join order and move as the line moves", func(t *testing.T) {
		st, _ := open(t)
		var ids []string
		for i := range 6 {
			s := join(t, st, "E1", fmt.Sprintf("U%d", i))
			if s.Position != int64(i+1) {
				t.Fatalf("user %d position = %d, want %d", i, s.Position, i+1)
			}
			ids = append(ids, s.ID)
		}
		admits(t, st, "E1", ids[3], ids[0]) // any message admits the first ticket
		if _, err := st.Leave(ctx, ids[2]); err != nil {
			t.Fatal(err)
		}
		want := map[int]int64{0: 0, 1: 1, 2: 0, 3: 2, 4: 3, 5: 4}
		for i, id := range ids {
			if got := get(t, st, id).Position; got != want[i] {
				t.Errorf("user %d position = %d, want %d", i, got, want[i])
			}
		}
	})

	t.Run("grant admits in ticket order whatever message arrives, up to capacity", func(t *testing.T) {
		st, clk := open(t)
		a, b, c := join(t, st, "E1", "A"), join(t, st, "E1", "B"), join(t, st, "E1", "C")
		s := admits(t, st, "E1", c.ID, a.ID)
		// Its first deadline covers the poll it was asked for (at most
		// LongestPoll after it last polled), then a whole heartbeat TTL.
		first := T0.Add(room.LongestPoll(Policy.WaitingTTL) + Policy.HeartbeatTTL)
		if s.Status != room.StatusActive || !s.ActivatedAt.Equal(T0) || !s.ExpiresAt.Equal(first) || s.Admission != 1 {
			t.Fatalf("admitted session = %+v, want ACTIVE at %v until %v", s, T0, first)
		}
		clk.Advance(time.Second)
		if s := admits(t, st, "E1", a.ID, b.ID); s.Admission != 2 {
			t.Fatalf("second admission numbered %d", s.Admission)
		}
		clk.Advance(time.Second)
		full := grant(t, st, "E1", c.ID, room.Full)
		if !full.RetryAt.Equal(first) {
			t.Fatalf("RetryAt = %v, want %v (the first active session's deadline)", full.RetryAt, first)
		}
		if s := get(t, st, c.ID); s.Status != room.StatusWaiting || s.Position != 1 {
			t.Fatalf("held session = %+v, want WAITING at position 1", s)
		}
		if _, err := st.Leave(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if s := admits(t, st, "E1", a.ID, c.ID); s.Admission != 3 { // a's redelivered message admits c
			t.Fatalf("third admission numbered %d", s.Admission)
		}
		grant(t, st, "E1", b.ID, room.Skipped) // nobody waits: the message is spent
		want := room.EventStats{EventID: "E1", Capacity: 2, Active: 2, Waiting: 0, Joined: 3, Admitted: 3, Left: 1, PeakActive: 2}
		got := stats(t, st, "E1")
		if got.AdmissionRate <= 0 {
			t.Fatalf("admission rate %v after three admissions", got.AdmissionRate)
		}
		got.AdmissionRate = 0
		if len(got.ExpiredBy) != 0 {
			t.Fatalf("expiries %v without any expiry", got.ExpiredBy)
		}
		got.ExpiredBy = nil
		if got.Policy != Policy {
			t.Fatalf("effective policy %+v, want the configured %+v", got.Policy, Policy)
		}
		got.Policy = room.Policy{}
		if !got.Now.Equal(T0.Add(2 * time.Second)) {
			t.Fatalf("stats at %v, want the store's time %v", got.Now, T0.Add(2*time.Second))
		}
		got.Now = time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stats = %+v, want %+v", got, want)
		}
	})

	t.Run("grant skips those who ended and answers an empty line or unknown event", func(t *testing.T) {
		st, _ := open(t)
		a, b := join(t, st, "E1", "A"), join(t, st, "E1", "B")
		if _, err := st.Leave(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		admits(t, st, "E1", a.ID, b.ID)
		grant(t, st, "E1", b.ID, room.Skipped)
		grant(t, st, "nobody", room.NewSessionID(), room.Skipped)
		if s := stats(t, st, "E1"); s.Active != 1 || s.Admitted != 1 {
			t.Fatalf("stats after skips = %+v", s)
		}
	})

	t.Run("a ticket whose message is not yet on the queue holds back later tickets", func(t *testing.T) {
		st, clk := open(t)
		a, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "A"}) // sending
		if err != nil {
			t.Fatal(err)
		}
		b := join(t, st, "E1", "B")
		r := grant(t, st, "E1", b.ID, room.Blocked)
		if r.RetryAt.IsZero() || r.Session.ID != a.ID {
			t.Fatalf("blocked result = %+v, want a's id and a retry time", r)
		}
		admits(t, st, "E1", a.ID, a.ID) // a's own message proves it is on the queue
		admits(t, st, "E1", b.ID, b.ID)

		// The blocking ticket's own join confirms its send: granters are
		// woken, and b's message admits it first.
		a3, _, _ := st.Join(ctx, room.JoinRequest{EventID: "E3", UserID: "A"})
		b3 := join(t, st, "E3", "B")
		grant(t, st, "E3", b3.ID, room.Blocked)
		if err := st.MarkEnqueued(ctx, "E3", a3.ID); err != nil {
			t.Fatal(err)
		}
		waitFreed(t, st, "E3")
		admits(t, st, "E3", b3.ID, a3.ID)

		// A join whose replica died before its message was sent: it never
		// got an answer, and gives up its ticket after the grace.
		c, _, _ := st.Join(ctx, room.JoinRequest{EventID: "E2", UserID: "C"})
		d := join(t, st, "E2", "D")
		r = grant(t, st, "E2", d.ID, room.Blocked)
		clk.Set(r.RetryAt)
		admits(t, st, "E2", d.ID, d.ID)
		if _, err := st.Get(ctx, c.ID); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("the never-sent session: %v, want ErrNotFound", err)
		}
		if err := st.MarkEnqueued(ctx, "E2", c.ID); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("mark enqueued after the grace: %v, want ErrNotFound (the join must not be accepted)", err)
		}
		if s := stats(t, st, "E2"); s.Joined != 1 || s.Waiting != 0 {
			t.Fatalf("stats = %+v", s)
		}
	})

	t.Run("per-event capacity", func(t *testing.T) {
		st, _ := open(t)
		for i := range 5 {
			s := join(t, st, "big", fmt.Sprint(i))
			admits(t, st, "big", s.ID, s.ID)
		}
		if s := stats(t, st, "big"); s.Capacity != 100 || s.Active != 5 {
			t.Fatalf("stats = %+v", s)
		}
	})

	t.Run("capacity and order hold under concurrent grants", func(t *testing.T) {
		st, _ := open(t)
		const n = 200
		ids := make([]string, n)
		for i := range ids {
			ids[i] = join(t, st, "E1", fmt.Sprint(i)).ID
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var admitted []string
		for _, id := range ids {
			wg.Go(func() {
				r, err := st.Grant(ctx, "E1", id)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Outcome == room.Admitted {
					mu.Lock()
					admitted = append(admitted, r.Session.ID)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(admitted)
		want := slices.Sorted(slices.Values(ids[:Policy.Capacity]))
		if !slices.Equal(admitted, want) {
			t.Fatalf("concurrent grants admitted %d sessions %v, want exactly the first %d tickets", len(admitted), admitted, Policy.Capacity)
		}
		if s := stats(t, st, "E1"); s.Active != int64(Policy.Capacity) || s.Waiting != n-int64(Policy.Capacity) || s.PeakActive != int64(Policy.Capacity) {
			t.Fatalf("stats = %+v", s)
		}
	})

	t.Run("active session without heartbeat expires and frees its slot", func(t *testing.T) {
		st, clk := open(t)
		a, b := join(t, st, "E1", "A"), join(t, st, "E1", "B")
		deadline := admits(t, st, "E1", a.ID, a.ID).ExpiresAt
		if want := Policy.FirstDeadline(T0, T0); !deadline.Equal(want) {
			t.Fatalf("first deadline %v, want %v", deadline, want)
		}
		admits(t, st, "E1", b.ID, b.ID)
		c := join(t, st, "E1", "C")
		hb := deadline.Add(-Policy.HeartbeatTTL / 2)
		clk.Set(hb)
		if _, err := st.Heartbeat(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Touch(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		clk.Set(deadline.Add(-time.Millisecond))
		grant(t, st, "E1", c.ID, room.Full)
		clk.Set(deadline)
		if s := get(t, st, a.ID); s.Status != room.StatusExpired || s.EndReason != room.ReasonHeartbeat {
			t.Fatalf("a at its deadline = %s/%s, want EXPIRED/heartbeat", s.Status, s.EndReason)
		}
		if s := get(t, st, b.ID); s.Status != room.StatusActive || !s.ExpiresAt.Equal(hb.Add(Policy.HeartbeatTTL)) {
			t.Fatalf("b after heartbeat = %s expires %v", s.Status, s.ExpiresAt)
		}
		waitFreed(t, st, "E1")
		admits(t, st, "E1", c.ID, c.ID)
		if s := stats(t, st, "E1"); s.ExpiredBy[room.ReasonHeartbeat] != 1 {
			t.Fatalf("expired by reason = %v", s.ExpiredBy)
		}
		if _, err := st.Heartbeat(ctx, a.ID); !errors.Is(err, room.ErrEnded) {
			t.Fatalf("heartbeat on expired: err = %v, want ErrEnded", err)
		}
	})

	t.Run("max active ends a session whatever it does", func(t *testing.T) {
		st, clk := open(t)
		a := join(t, st, "E1", "A")
		admits(t, st, "E1", a.ID, a.ID)
		for now := T0; now.Before(T0.Add(Policy.MaxActive)); now = now.Add(Policy.HeartbeatTTL / 2) {
			clk.Set(now)
			if _, err := st.Heartbeat(ctx, a.ID); err != nil {
				t.Fatalf("heartbeat at %v: %v", now.Sub(T0), err)
			}
		}
		clk.Set(T0.Add(Policy.MaxActive))
		s := get(t, st, a.ID)
		if s.Status != room.StatusExpired || s.EndReason != room.ReasonMaxActive {
			t.Fatalf("at maxActive = %s/%s, want EXPIRED/max_active", s.Status, s.EndReason)
		}
	})

	t.Run("waiting session without sign of life is abandoned", func(t *testing.T) {
		st, clk := open(t)
		a, b := join(t, st, "E1", "A"), join(t, st, "E1", "B")
		clk.Set(T0.Add(Policy.WaitingTTL / 2))
		if _, err := st.Touch(ctx, b.ID); err != nil { // a status poll keeps b
			t.Fatal(err)
		}
		clk.Set(T0.Add(Policy.WaitingTTL))
		admits(t, st, "E1", a.ID, b.ID)
		if s := get(t, st, a.ID); s.Status != room.StatusExpired || s.EndReason != room.ReasonAbandoned {
			t.Fatalf("abandoned = %s/%s", s.Status, s.EndReason)
		}
		if s := stats(t, st, "E1"); s.Active != 1 || s.Expired != 1 || s.Waiting != 0 || s.ExpiredBy[room.ReasonAbandoned] != 1 {
			t.Fatalf("stats = %+v", s)
		}
	})

	t.Run("sweep ends overdue sessions", func(t *testing.T) {
		st, clk := open(t)
		a := join(t, st, "E1", "A")
		join(t, st, "E1", "B")
		admits(t, st, "E1", a.ID, a.ID)
		join(t, st, "E2", "C")
		clk.Set(T0.Add(Policy.WaitingTTL))
		n, err := st.Sweep(ctx)
		if err != nil || n != 3 {
			t.Fatalf("sweep = %d, %v; want 3 (one active past heartbeat, two abandoned in two events)", n, err)
		}
		if n, err := st.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep = %d, %v; want 0", n, err)
		}
	})

	t.Run("leave is idempotent and frees at once", func(t *testing.T) {
		st, clk := open(t)
		a := join(t, st, "E1", "A")
		admits(t, st, "E1", a.ID, a.ID)
		clk.Advance(time.Second)
		for range 2 {
			s, err := st.Leave(ctx, a.ID)
			if err != nil || s.Status != room.StatusLeft || !s.EndedAt.Equal(T0.Add(time.Second)) {
				t.Fatalf("leave = %+v, %v", s, err)
			}
		}
		waitFreed(t, st, "E1")
		if s := stats(t, st, "E1"); s.Active != 0 || s.Left != 1 {
			t.Fatalf("stats = %+v", s)
		}
		if _, err := st.Leave(ctx, room.NewSessionID()); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("leave unknown: %v", err)
		}
		if _, err := st.Heartbeat(ctx, room.NewSessionID()); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("heartbeat unknown: %v", err)
		}
	})

	t.Run("abort removes a session that never reached the queue", func(t *testing.T) {
		st, _ := open(t)
		s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "A"})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Abort(ctx, "E1", s.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, s.ID); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("get after abort: %v", err)
		}
		if err := st.MarkEnqueued(ctx, "E1", s.ID); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("mark enqueued after abort: %v, want ErrNotFound", err)
		}
		if st := stats(t, st, "E1"); st.Waiting != 0 || st.Joined != 0 {
			t.Fatalf("stats after abort = %+v", st)
		}
		again := join(t, st, "E1", "A")
		if again.Position != 1 {
			t.Fatalf("position after abort = %d", again.Position)
		}
		if err := st.Abort(ctx, "E1", again.ID); err != nil { // enqueued: abort must not touch it
			t.Fatal(err)
		}
		if g := get(t, st, again.ID); g.Status != room.StatusWaiting {
			t.Fatalf("abort removed an enqueued session: %+v", g)
		}
	})

	t.Run("admission rate is unknown until someone is admitted, then follows the pace", func(t *testing.T) {
		clk := NewClock(T0)
		st := newStore(t, room.StaticPolicies{Default: room.Policy{Capacity: 1000, HeartbeatTTL: time.Hour, WaitingTTL: time.Hour, MaxActive: time.Hour,
			QueueAll: true}}, clk.Now)
		probe := join(t, st, "E2", "probe")
		if s := get(t, st, probe.ID); s.AdmissionRate != 0 {
			t.Fatalf("rate before any admission = %v, want 0 (unknown)", s.AdmissionRate)
		}
		if _, ok := room.EstimatedWait(1, 0); ok {
			t.Fatal("an estimate while the rate is unknown")
		}
		admits(t, st, "E2", probe.ID, probe.ID)
		// Twenty admissions, one every 500ms: two per second.
		for i := range 20 {
			clk.Advance(500 * time.Millisecond)
			s := join(t, st, "E2", fmt.Sprint(i))
			admits(t, st, "E2", s.ID, s.ID)
		}
		w := join(t, st, "E2", "waiting")
		s := get(t, st, w.ID)
		if s.AdmissionRate < 1.5 || s.AdmissionRate > 2.5 {
			t.Fatalf("rate after steady 2/s admissions = %v", s.AdmissionRate)
		}
		if d, ok := room.EstimatedWait(s.Position, s.AdmissionRate); !ok || d <= 0 {
			t.Fatalf("estimated wait = %v, %v", d, ok)
		}
		if got := stats(t, st, "E2"); got.AdmissionRate != s.AdmissionRate {
			t.Fatalf("stats rate %v != session rate %v", got.AdmissionRate, s.AdmissionRate)
		}
		// A line that stops moving: the rate decays, the estimate grows,
		// and past a day it is no estimate at all rather than a wild one.
		clk.Advance(time.Minute)
		later := get(t, st, w.ID)
		if later.AdmissionRate >= s.AdmissionRate/2 {
			t.Fatalf("rate a minute after the last admission = %v, was %v", later.AdmissionRate, s.AdmissionRate)
		}
		clk.Advance(50 * time.Minute)
		stalled := get(t, st, w.ID)
		if d, ok := room.EstimatedWait(stalled.Position, stalled.AdmissionRate); ok || stalled.AdmissionRate != 0 {
			t.Fatalf("rate %v, estimate %v for a line stalled for 50 minutes, want none", stalled.AdmissionRate, d)
		}
		if got := stats(t, st, "E2"); got.AdmissionRate != 0 {
			t.Fatalf("stats rate %v for a stalled line, want 0 (unknown)", got.AdmissionRate)
		}
	})

	t.Run("events lists live events and forgets idle ones", func(t *testing.T) {
		st, clk := open(t)
		if evs, err := st.Events(ctx); err != nil || len(evs) != 0 {
			t.Fatalf("events of an empty store = %v, %v", evs, err)
		}
		var ids []string
		for i, ev := range []string{"b", "a", "b", "c"} {
			ids = append(ids, join(t, st, ev, fmt.Sprint("u", i)).ID)
		}
		evs, err := st.Events(ctx)
		if err != nil || fmt.Sprint(evs) != "[a b c]" {
			t.Fatalf("events = %v, %v; want [a b c]", evs, err)
		}
		if err := st.PutSettings(ctx, "c", room.Settings{Capacity: 9}); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[:3] {
			if _, err := st.Leave(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		// Every session abandoned or gone: after the idle retention, only
		// the event with runtime settings is left.
		for range 3 {
			clk.Advance(room.Retention{}.WithDefaults().Event)
			if _, err := st.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if evs, err := st.Events(ctx); err != nil || fmt.Sprint(evs) != "[c]" {
			t.Fatalf("events after every session ended long ago = %v, %v; want [c]", evs, err)
		}
		if _, err := st.Get(ctx, ids[0]); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("a session that ended past the retention: %v, want ErrNotFound", err)
		}
		if s := join(t, st, "a", "again"); s.Position != 1 {
			t.Fatalf("a forgotten event starts a new line: position %d", s.Position)
		}
	})

	t.Run("runtime settings change capacity, pause and cap the line", func(t *testing.T) {
		st, _ := open(t)
		if _, ok, err := st.Settings(ctx, "E1"); ok || err != nil {
			t.Fatalf("settings of a new event: ok=%v err=%v", ok, err)
		}
		var ids []string
		for i := range 5 {
			ids = append(ids, join(t, st, "E1", fmt.Sprint(i)).ID)
		}
		admits(t, st, "E1", ids[0], ids[0])
		admits(t, st, "E1", ids[1], ids[1])
		grant(t, st, "E1", ids[2], room.Full) // configured capacity 2
		raised := room.Settings{Capacity: 3, MaxActive: time.Hour, WaitingTTL: 20 * time.Second}
		if err := st.PutSettings(ctx, "E1", raised); err != nil {
			t.Fatal(err)
		}
		waitFreed(t, st, "E1") // granters are woken to admit at once
		if got, ok, err := st.Settings(ctx, "E1"); !ok || err != nil || got != raised {
			t.Fatalf("settings = %+v, %v, %v; want %+v", got, ok, err, raised)
		}
		if s := get(t, st, ids[3]); s.WaitingTTL != raised.WaitingTTL {
			t.Fatalf("effective waiting TTL = %v, want the runtime %v", s.WaitingTTL, raised.WaitingTTL)
		}
		admits(t, st, "E1", ids[2], ids[2])
		if s := stats(t, st, "E1"); s.Capacity != 3 || s.Active != 3 || s.Policy.Capacity != 3 || s.Policy.WaitingTTL != raised.WaitingTTL ||
			s.Policy.MaxActive != raised.MaxActive || s.Policy.HeartbeatTTL != Policy.HeartbeatTTL {
			t.Fatalf("stats after raising = %+v", s)
		}
		// Lowering admits no one until active drops below the new capacity.
		if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Leave(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
		grant(t, st, "E1", ids[3], room.Full)
		if _, err := st.Leave(ctx, ids[1]); err != nil {
			t.Fatal(err)
		}
		// Paused: the line stays, nobody is admitted.
		if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2, Paused: true}); err != nil {
			t.Fatal(err)
		}
		grant(t, st, "E1", ids[3], room.Full)
		if s := stats(t, st, "E1"); !s.Paused || s.Waiting != 2 {
			t.Fatalf("stats while paused = %+v", s)
		}
		if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2, MaxWaiting: 2}); err != nil {
			t.Fatal(err)
		}
		admits(t, st, "E1", ids[3], ids[3])
		join(t, st, "E1", "late-1")
		if _, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "late-2"}); !errors.Is(err, room.ErrLineFull) {
			t.Fatalf("join past maxWaiting: %v, want ErrLineFull", err)
		}
		if again, created, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "late-1", Key: "k-late-1"}); err != nil || created {
			t.Fatalf("a user already in a full line must get its place back: %+v %v %v", again, created, err)
		}
		if err := st.PutSettings(ctx, "quiet", room.Settings{Capacity: 9}); err != nil {
			t.Fatal(err)
		}
		if evs, _ := st.Events(ctx); !slices.Contains(evs, "quiet") {
			t.Fatalf("events %v lack an event with settings only", evs)
		}
	})

	t.Run("newUsersPerMinute caps admissions per minute as well as capacity, shared by every replica", func(t *testing.T) {
		st, clk := open(t)
		if err := st.PutSettings(ctx, "big", room.Settings{NewUsersPerMinute: 120}); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range 8 {
			ids = append(ids, join(t, st, "big", fmt.Sprint("r", i)).ID)
		}
		// 120 a minute is 2 a second: the bucket holds a second's worth.
		admits(t, st, "big", ids[0], ids[0])
		admits(t, st, "big", ids[1], ids[1])
		r := grant(t, st, "big", ids[2], room.Full) // capacity 100 has room: the rate binds
		if wait := r.RetryAt.Sub(clk.Now()); wait <= 0 || wait > 500*time.Millisecond {
			t.Fatalf("retry in %v, want within the half second a token takes", wait)
		}
		clk.Advance(500 * time.Millisecond)
		admits(t, st, "big", ids[2], ids[2])
		grant(t, st, "big", ids[3], room.Full)
		// Over 2 seconds, 4 more: the measured rate is the setting.
		admitted := 0
		for range 20 {
			clk.Advance(100 * time.Millisecond)
			if r, err := st.Grant(ctx, "big", ids[3]); err != nil {
				t.Fatal(err)
			} else if r.Outcome == room.Admitted {
				admitted++
			}
		}
		if admitted != 4 {
			t.Fatalf("admitted %d in 2s at 120 a minute, want 4", admitted)
		}
		if s := stats(t, st, "big"); s.Policy.NewUsersPerMinute != 120 || s.Active != 7 || s.AdmissionRate <= 0 || s.AdmissionRate > 2 || s.Binding() != "rate" {
			t.Fatalf("stats = %+v; want the admission rate at most the cap of 2/s", s)
		}
		if got, ok, err := st.Settings(ctx, "big"); !ok || err != nil || got.NewUsersPerMinute != 120 {
			t.Fatalf("settings = %+v %v %v", got, ok, err)
		}
		// Cleared, only capacity binds again.
		if err := st.PutSettings(ctx, "big", room.Settings{}); err != nil {
			t.Fatal(err)
		}
		admits(t, st, "big", ids[7], ids[7])
	})

	t.Run("schedule: refused before opensAt, pre-queued until startsAt, shuffled once at the start ahead of later joins", func(t *testing.T) {
		st, clk := open(t)
		opens, starts := T0.Add(time.Minute), T0.Add(2*time.Minute)
		if err := st.PutSettings(ctx, "big", room.Settings{OpensAt: opens, StartsAt: starts}); err != nil {
			t.Fatal(err)
		}
		_, _, err := st.Join(ctx, room.JoinRequest{EventID: "big", UserID: "early"})
		var notOpen *room.NotOpenError
		if !errors.As(err, &notOpen) || !notOpen.OpensAt.Equal(opens) || !errors.Is(err, room.ErrNotOpen) {
			t.Fatalf("join before opensAt: err = %v, want NotOpenError at %v", err, opens)
		}
		if s := stats(t, st, "big"); s.Phase() != room.PhaseScheduled || s.Joined != 0 {
			t.Fatalf("before opensAt: phase %v joined %d", s.Phase(), s.Joined)
		}
		clk.Set(opens)
		const n = 40
		var pre []room.Session
		for i := range n {
			s := join(t, st, "big", fmt.Sprint("p", i))
			if !s.PreQueued || s.Position != 0 || !s.StartsAt.Equal(starts) || s.Status != room.StatusWaiting {
				t.Fatalf("pre-queued join = %+v; want no position and the start", s)
			}
			pre = append(pre, s)
		}
		if s := stats(t, st, "big"); s.Phase() != room.PhasePreQueue || s.PreQueued != n || s.Waiting != n || s.Binding() != "" {
			t.Fatalf("pre-queue stats: phase %v preQueued %d waiting %d", s.Phase(), s.PreQueued, s.Waiting)
		}
		// Nobody is admitted before the start; the message waits for it.
		if r := grant(t, st, "big", pre[0].ID, room.Full); !r.RetryAt.Equal(starts) {
			t.Fatalf("grant before the start: retry at %v, want %v", r.RetryAt, starts)
		}
		// A re-join keeps its place; one who stops polling is abandoned.
		again, created, err := st.Join(ctx, room.JoinRequest{EventID: "big", UserID: "p3", Key: "k-p3"})
		if err != nil || created || again.ID != pre[3].ID || !again.PreQueued {
			t.Fatalf("re-join in the pre-queue = %+v %v %v", again, created, err)
		}
		clk.Advance(50 * time.Second)
		for _, s := range pre[1:] {
			if _, err := st.Touch(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
		}
		clk.Set(starts.Add(10 * time.Second)) // pre[0] has not polled for 70s
		if g := get(t, st, pre[0].ID); g.Status != room.StatusExpired || g.EndReason != room.ReasonAbandoned {
			t.Fatalf("silent pre-queued session = %s %s, want EXPIRED abandoned", g.Status, g.EndReason)
		}
		later := join(t, st, "big", "later")
		if later.PreQueued || later.Position != n {
			t.Fatalf("join after the start = position %d pre-queued %v, want %d behind the pre-queue", later.Position, later.PreQueued, n)
		}
		sh, ok, err := st.Shuffle(ctx, "big")
		if err != nil || !ok {
			t.Fatalf("shuffle record: %v %v", ok, err)
		}
		if len(sh.Order) != n-1 || !sh.StartsAt.Equal(starts) || sh.At.Before(starts) {
			t.Fatalf("shuffle record = %d tickets, for %v at %v", len(sh.Order), sh.StartsAt, sh.At)
		}
		// Positions are a permutation of 1..n-1 in the recorded order, and
		// the seed reproduces that order from the tickets in join order.
		byTicket := map[int64]room.Session{}
		for _, s := range pre[1:] {
			byTicket[s.Seq] = s
		}
		for i, ticket := range sh.Order {
			g := get(t, st, byTicket[ticket].ID)
			if g.Position != int64(i+1) || g.PreQueued {
				t.Fatalf("ticket %d: position %d, want %d as recorded", ticket, g.Position, i+1)
			}
		}
		sorted := slices.Sorted(slices.Values(sh.Order))
		var seed [32]byte
		if b, err := hex.DecodeString(sh.Seed); err != nil || copy(seed[:], b) != 32 {
			t.Fatalf("seed %q: %v", sh.Seed, err)
		}
		for i, j := range room.PermuteWithSeed(len(sorted), seed) {
			if sh.Order[i] != sorted[j] {
				t.Fatalf("the seed does not reproduce the order at %d", i)
			}
		}
		if slices.IsSorted(sh.Order) {
			t.Fatal("the pre-queue kept its join order")
		}
		// Admission follows the shuffled order, then the later join.
		for _, ticket := range sh.Order[:5] {
			admits(t, st, "big", later.ID, byTicket[ticket].ID)
		}
		if s := stats(t, st, "big"); s.ShuffledCount != n-1 || s.PreQueued != 0 || s.Phase() != room.PhaseLive {
			t.Fatalf("after the start: %+v", s)
		}
		// Once: later operations leave the record as it was.
		again2, _, _ := st.Shuffle(ctx, "big")
		if !again2.At.Equal(sh.At) || !slices.Equal(again2.Order, sh.Order) {
			t.Fatal("the shuffle ran again")
		}
	})

	t.Run("endsAt refuses joins and ends the waiting sessions; ACTIVE ones run on", func(t *testing.T) {
		st, clk := open(t)
		ends := T0.Add(30 * time.Second)
		if err := st.PutSettings(ctx, "E1", room.Settings{EndsAt: ends}); err != nil {
			t.Fatal(err)
		}
		a, b := join(t, st, "E1", "A"), join(t, st, "E1", "B")
		admits(t, st, "E1", a.ID, a.ID)
		clk.Advance(20 * time.Second)
		if _, err := st.Heartbeat(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		clk.Set(ends)
		_, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "C"})
		var ended *room.EndedError
		if !errors.As(err, &ended) || !ended.EndsAt.Equal(ends) || !errors.Is(err, room.ErrEventEnded) {
			t.Fatalf("join after endsAt: err = %v, want EndedError", err)
		}
		if g := get(t, st, b.ID); g.Status != room.StatusExpired || g.EndReason != room.ReasonEventEnded {
			t.Fatalf("waiting session after endsAt = %s %s, want EXPIRED event_ended", g.Status, g.EndReason)
		}
		if g := get(t, st, a.ID); g.Status != room.StatusActive {
			t.Fatalf("active session after endsAt = %s", g.Status)
		}
		if s := stats(t, st, "E1"); s.Phase() != room.PhaseEnded || s.ExpiredBy[room.ReasonEventEnded] != 1 || s.Waiting != 0 {
			t.Fatalf("stats after the end: %+v", s)
		}
	})

	t.Run("an event's end reaches its waiting sessions through the sweep alone", func(t *testing.T) {
		st, clk := open(t)
		if err := st.PutSettings(ctx, "E1", room.Settings{EndsAt: T0.Add(30 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		a := join(t, st, "E1", "A")
		clk.Advance(30 * time.Second)
		if n, err := st.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("sweep ended %d (%v), want the one waiting session", n, err)
		}
		if g := get(t, st, a.ID); g.EndReason != room.ReasonEventEnded {
			t.Fatalf("after the sweep: %s %s", g.Status, g.EndReason)
		}
	})

	t.Run("reject refuses joins with the event's message and ends the waiting; fifo takes joins again", func(t *testing.T) {
		st, _ := open(t)
		a, b, c := join(t, st, "E1", "A"), join(t, st, "E1", "B"), join(t, st, "E1", "C")
		admits(t, st, "E1", a.ID, a.ID)
		if err := st.PutSettings(ctx, "E1", room.Settings{Method: room.MethodReject, Message: "Sold out"}); err != nil {
			t.Fatal(err)
		}
		_, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "D"})
		var rej *room.RejectedError
		if !errors.As(err, &rej) || rej.Message != "Sold out" || !errors.Is(err, room.ErrRejected) {
			t.Fatalf("join under reject: err = %v, want the message", err)
		}
		for _, s := range []room.Session{b, c} {
			if g := get(t, st, s.ID); g.Status != room.StatusExpired || g.EndReason != room.ReasonRejected {
				t.Fatalf("waiting session under reject = %s %s", g.Status, g.EndReason)
			}
		}
		if g := get(t, st, a.ID); g.Status != room.StatusActive {
			t.Fatalf("active session under reject = %s", g.Status)
		}
		if err := st.PutSettings(ctx, "E1", room.Settings{Method: room.MethodFIFO}); err != nil {
			t.Fatal(err)
		}
		join(t, st, "E1", "D")
	})

	t.Run("passthrough drains the line without a cap, then admits joins at once; no join overtakes the line", func(t *testing.T) {
		st, _ := open(t)
		a, b := join(t, st, "E1", "A"), join(t, st, "E1", "B")
		admits(t, st, "E1", a.ID, a.ID)
		admits(t, st, "E1", b.ID, b.ID)
		c := join(t, st, "E1", "C") // capacity 2: waits
		if err := st.PutSettings(ctx, "E1", room.Settings{Method: room.MethodPassthrough}); err != nil {
			t.Fatal(err)
		}
		// C still waits: a join now takes its turn behind C.
		d := join(t, st, "E1", "D")
		if d.Status != room.StatusWaiting || d.Position != 2 {
			t.Fatalf("join under passthrough with C waiting = %s at %d, want WAITING at 2", d.Status, d.Position)
		}
		admits(t, st, "E1", d.ID, c.ID)
		admits(t, st, "E1", c.ID, d.ID)
		e, created, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "E"})
		if err != nil || !created || e.Status != room.StatusActive || e.Admission != 5 || !e.Enqueued {
			t.Fatalf("join under passthrough with nobody waiting = %+v %v", e, err)
		}
		if s := stats(t, st, "E1"); s.Active != 5 || s.PeakActive != 5 {
			t.Fatalf("under passthrough: active %d peak %d, want 5 past capacity 2", s.Active, s.PeakActive)
		}
	})

	t.Run("random admits by lottery: everyone once, not in ticket order", func(t *testing.T) {
		st, _ := open(t)
		if err := st.PutSettings(ctx, "big", room.Settings{Method: room.MethodRandom}); err != nil {
			t.Fatal(err)
		}
		const n = 30
		var tickets []int64
		for i := range n {
			s := join(t, st, "big", fmt.Sprint("r", i))
			if s.Method != room.MethodRandom {
				t.Fatalf("waiting session's method = %q", s.Method)
			}
			tickets = append(tickets, s.Seq)
		}
		var order []int64
		seen := map[string]bool{}
		for range n {
			r := grant(t, st, "big", "", room.Admitted)
			if seen[r.Session.ID] {
				t.Fatalf("%s admitted twice", r.Session.ID)
			}
			seen[r.Session.ID] = true
			order = append(order, r.Session.Seq)
		}
		grant(t, st, "big", "", room.Skipped)
		if slices.Equal(order, tickets) {
			t.Fatal("the lottery admitted in ticket order")
		}
	})

	runHeard(t, newStore)

	t.Run("ping", func(t *testing.T) {
		st, _ := open(t)
		if err := st.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// waitFreed waits for a freed notification for event.
func waitFreed(t *testing.T, st room.Store, event string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-st.Freed():
			if e == event {
				return
			}
		case <-timeout:
			t.Fatalf("no freed notification for %s", event)
		}
	}
}
