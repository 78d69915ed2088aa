// Package roomtest is the conformance suite every room.Store backend passes.
package roomtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// NewStore returns an empty store following policies, closed by t.Cleanup.
type NewStore func(t *testing.T, policies room.Policies) room.Store

// Policy is the policy the suite runs under unless a test says otherwise.
var Policy = room.Policy{Capacity: 2, HeartbeatTTL: 30 * time.Second, WaitingTTL: 60 * time.Second, MaxActive: 15 * time.Minute}

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// Run runs the suite against the backend newStore builds.
func Run(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	open := func(t *testing.T) room.Store {
		return newStore(t, room.StaticPolicies{Default: Policy, Capacity: map[string]int{"big": 100}})
	}
	join := func(t *testing.T, st room.Store, event, user string, now time.Time) room.Session {
		t.Helper()
		s, created, err := st.Join(ctx, event, user, now)
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
	grant := func(t *testing.T, st room.Store, id string, now time.Time, want room.GrantOutcome) room.GrantResult {
		t.Helper()
		event := "E1"
		if s, err := st.Get(ctx, id, now); err == nil {
			event = s.EventID
		}
		r, err := st.Grant(ctx, event, id, now)
		if err != nil {
			t.Fatalf("grant %s: %v", id, err)
		}
		if r.Outcome != want {
			t.Fatalf("grant %s = %v, want %v", id, r.Outcome, want)
		}
		return r
	}
	get := func(t *testing.T, st room.Store, id string, now time.Time) room.Session {
		t.Helper()
		s, err := st.Get(ctx, id, now)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return s
	}

	t.Run("join creates a waiting session", func(t *testing.T) {
		st := open(t)
		s := join(t, st, "E1", "U1", t0)
		if !room.ValidSessionID(s.ID) || s.Status != room.StatusWaiting || s.EventID != "E1" || s.UserID != "U1" {
			t.Fatalf("session = %+v", s)
		}
		if s.Position != 1 || s.Seq != 1 || !s.CreatedAt.Equal(t0) {
			t.Fatalf("position %d seq %d createdAt %v, want 1, 1, %v", s.Position, s.Seq, s.CreatedAt, t0)
		}
		if g := get(t, st, s.ID, t0); g.ID != s.ID || g.Status != room.StatusWaiting || !g.Enqueued {
			t.Fatalf("get = %+v", g)
		}
		if _, err := st.Get(ctx, room.NewSessionID(), t0); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("get unknown: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("join is idempotent per event and user while live", func(t *testing.T) {
		st := open(t)
		a := join(t, st, "E1", "U1", t0)
		b, created, err := st.Join(ctx, "E1", "U1", t0.Add(time.Second))
		if err != nil || created || b.ID != a.ID {
			t.Fatalf("second join = %s created=%v err=%v, want %s created=false", b.ID, created, err, a.ID)
		}
		other := join(t, st, "E2", "U1", t0) // another event is another place
		if other.ID == a.ID {
			t.Fatal("same session for another event")
		}
		grant(t, st, a.ID, t0, room.Admitted)
		c, created, _ := st.Join(ctx, "E1", "U1", t0.Add(2*time.Second))
		if created || c.ID != a.ID || c.Status != room.StatusActive {
			t.Fatalf("join while active = %+v created=%v, want the active session", c, created)
		}
		if _, err := st.Leave(ctx, a.ID, t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		d := join(t, st, "E1", "U1", t0.Add(4*time.Second))
		if d.ID == a.ID {
			t.Fatal("join after leave returned the ended session")
		}
	})

	t.Run("positions follow join order and move as the line moves", func(t *testing.T) {
		st := open(t)
		var ids []string
		for i := range 6 {
			s := join(t, st, "E1", fmt.Sprintf("U%d", i), t0)
			if s.Position != int64(i+1) {
				t.Fatalf("user %d position = %d, want %d", i, s.Position, i+1)
			}
			ids = append(ids, s.ID)
		}
		grant(t, st, ids[0], t0, room.Admitted) // leaves the line
		if _, err := st.Leave(ctx, ids[2], t0); err != nil {
			t.Fatal(err)
		}
		want := map[int]int64{0: 0, 1: 1, 2: 0, 3: 2, 4: 3, 5: 4}
		for i, id := range ids {
			if got := get(t, st, id, t0).Position; got != want[i] {
				t.Errorf("user %d position = %d, want %d", i, got, want[i])
			}
		}
	})

	t.Run("grant admits up to capacity then holds", func(t *testing.T) {
		st := open(t)
		a, b, c := join(t, st, "E1", "A", t0), join(t, st, "E1", "B", t0), join(t, st, "E1", "C", t0)
		r := grant(t, st, a.ID, t0, room.Admitted)
		if r.Session.Status != room.StatusActive || !r.Session.ActivatedAt.Equal(t0) || !r.Session.ExpiresAt.Equal(t0.Add(Policy.HeartbeatTTL)) {
			t.Fatalf("admitted session = %+v", r.Session)
		}
		grant(t, st, b.ID, t0.Add(time.Second), room.Admitted)
		full := grant(t, st, c.ID, t0.Add(2*time.Second), room.Full)
		if !full.RetryAt.Equal(t0.Add(Policy.HeartbeatTTL)) {
			t.Fatalf("RetryAt = %v, want %v (the first active session's deadline)", full.RetryAt, t0.Add(Policy.HeartbeatTTL))
		}
		if s := get(t, st, c.ID, t0); s.Status != room.StatusWaiting || s.Position != 1 {
			t.Fatalf("held session = %+v, want WAITING at position 1", s)
		}
		grant(t, st, a.ID, t0, room.AlreadyActive) // a redelivered message admits no one twice
		if _, err := st.Leave(ctx, a.ID, t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		grant(t, st, c.ID, t0.Add(3*time.Second), room.Admitted)
		stats, err := st.Stats(ctx, "E1", t0.Add(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := room.EventStats{EventID: "E1", Capacity: 2, Active: 2, Waiting: 0, Joined: 3, Admitted: 3, Left: 1, PeakActive: 2}
		if stats.AdmissionRate <= 0 {
			t.Fatalf("admission rate %v after three admissions", stats.AdmissionRate)
		}
		stats.AdmissionRate = 0
		if len(stats.ExpiredBy) != 0 {
			t.Fatalf("expiries %v without any expiry", stats.ExpiredBy)
		}
		stats.ExpiredBy = nil
		if !reflect.DeepEqual(stats, want) {
			t.Fatalf("stats = %+v, want %+v", stats, want)
		}
	})

	t.Run("grant skips sessions that ended and unknown ids", func(t *testing.T) {
		st := open(t)
		a := join(t, st, "E1", "A", t0)
		if _, err := st.Leave(ctx, a.ID, t0); err != nil {
			t.Fatal(err)
		}
		grant(t, st, a.ID, t0, room.Skipped)
		grant(t, st, room.NewSessionID(), t0, room.Skipped)
		if s, _ := st.Stats(ctx, "E1", t0); s.Active != 0 || s.Admitted != 0 {
			t.Fatalf("stats after skips = %+v", s)
		}
	})

	t.Run("per-event capacity", func(t *testing.T) {
		st := open(t)
		for i := range 5 {
			s := join(t, st, "big", fmt.Sprint(i), t0)
			grant(t, st, s.ID, t0, room.Admitted)
		}
		if s, _ := st.Stats(ctx, "big", t0); s.Capacity != 100 || s.Active != 5 {
			t.Fatalf("stats = %+v", s)
		}
	})

	t.Run("capacity holds under concurrent grants", func(t *testing.T) {
		st := open(t)
		const n = 200
		ids := make([]string, n)
		for i := range ids {
			ids[i] = join(t, st, "E1", fmt.Sprint(i), t0).ID
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		admitted := 0
		for _, id := range ids {
			wg.Go(func() {
				r, err := st.Grant(ctx, "E1", id, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Outcome == room.Admitted {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if admitted != Policy.Capacity {
			t.Fatalf("admitted %d of %d concurrent grants, want exactly capacity %d", admitted, n, Policy.Capacity)
		}
		if s, _ := st.Stats(ctx, "E1", t0); s.Active != int64(Policy.Capacity) || s.Waiting != n-int64(Policy.Capacity) || s.PeakActive != int64(Policy.Capacity) {
			t.Fatalf("stats = %+v", s)
		}
	})

	t.Run("active session without heartbeat expires and frees its slot", func(t *testing.T) {
		st := open(t)
		a, b := join(t, st, "E1", "A", t0), join(t, st, "E1", "B", t0)
		grant(t, st, a.ID, t0, room.Admitted)
		grant(t, st, b.ID, t0, room.Admitted)
		c := join(t, st, "E1", "C", t0)
		hb := t0.Add(Policy.HeartbeatTTL / 2)
		if _, err := st.Heartbeat(ctx, b.ID, hb); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Touch(ctx, c.ID, hb); err != nil {
			t.Fatal(err)
		}
		before := t0.Add(Policy.HeartbeatTTL - time.Millisecond)
		grant(t, st, c.ID, before, room.Full)
		at := t0.Add(Policy.HeartbeatTTL)
		if s := get(t, st, a.ID, at); s.Status != room.StatusExpired || s.EndReason != room.ReasonHeartbeat {
			t.Fatalf("a at its deadline = %s/%s, want EXPIRED/heartbeat", s.Status, s.EndReason)
		}
		if s := get(t, st, b.ID, at); s.Status != room.StatusActive || !s.ExpiresAt.Equal(hb.Add(Policy.HeartbeatTTL)) {
			t.Fatalf("b after heartbeat = %s expires %v", s.Status, s.ExpiresAt)
		}
		waitFreed(t, st, "E1")
		grant(t, st, c.ID, at, room.Admitted)
		if s, _ := st.Stats(ctx, "E1", at); s.ExpiredBy[room.ReasonHeartbeat] != 1 {
			t.Fatalf("expired by reason = %v", s.ExpiredBy)
		}
		if _, err := st.Heartbeat(ctx, a.ID, at); !errors.Is(err, room.ErrEnded) {
			t.Fatalf("heartbeat on expired: err = %v, want ErrEnded", err)
		}
	})

	t.Run("max active ends a session whatever it does", func(t *testing.T) {
		st := open(t)
		a := join(t, st, "E1", "A", t0)
		grant(t, st, a.ID, t0, room.Admitted)
		for now := t0; now.Before(t0.Add(Policy.MaxActive)); now = now.Add(Policy.HeartbeatTTL / 2) {
			if _, err := st.Heartbeat(ctx, a.ID, now); err != nil {
				t.Fatalf("heartbeat at %v: %v", now.Sub(t0), err)
			}
		}
		s := get(t, st, a.ID, t0.Add(Policy.MaxActive))
		if s.Status != room.StatusExpired || s.EndReason != room.ReasonMaxActive {
			t.Fatalf("at maxActive = %s/%s, want EXPIRED/max_active", s.Status, s.EndReason)
		}
	})

	t.Run("waiting session without sign of life is abandoned", func(t *testing.T) {
		st := open(t)
		a, b := join(t, st, "E1", "A", t0), join(t, st, "E1", "B", t0)
		mid := t0.Add(Policy.WaitingTTL / 2)
		if _, err := st.Touch(ctx, b.ID, mid); err != nil { // a status poll keeps b
			t.Fatal(err)
		}
		late := t0.Add(Policy.WaitingTTL)
		grant(t, st, a.ID, late, room.Skipped)
		if s := get(t, st, a.ID, late); s.Status != room.StatusExpired || s.EndReason != room.ReasonAbandoned {
			t.Fatalf("abandoned = %s/%s", s.Status, s.EndReason)
		}
		r := grant(t, st, b.ID, late, room.Admitted)
		if r.Session.Status != room.StatusActive {
			t.Fatalf("b = %+v", r.Session)
		}
		if s, _ := st.Stats(ctx, "E1", late); s.Active != 1 || s.Expired != 1 || s.Waiting != 0 || s.ExpiredBy[room.ReasonAbandoned] != 1 {
			t.Fatalf("stats = %+v", s)
		}
	})

	t.Run("sweep ends overdue sessions", func(t *testing.T) {
		st := open(t)
		a := join(t, st, "E1", "A", t0)
		join(t, st, "E1", "B", t0)
		grant(t, st, a.ID, t0, room.Admitted)
		n, err := st.Sweep(ctx, t0.Add(Policy.WaitingTTL))
		if err != nil || n != 2 {
			t.Fatalf("sweep = %d, %v; want 2 (one active past heartbeat, one abandoned)", n, err)
		}
	})

	t.Run("leave is idempotent and frees at once", func(t *testing.T) {
		st := open(t)
		a := join(t, st, "E1", "A", t0)
		grant(t, st, a.ID, t0, room.Admitted)
		for range 2 {
			s, err := st.Leave(ctx, a.ID, t0.Add(time.Second))
			if err != nil || s.Status != room.StatusLeft || !s.EndedAt.Equal(t0.Add(time.Second)) {
				t.Fatalf("leave = %+v, %v", s, err)
			}
		}
		waitFreed(t, st, "E1")
		if s, _ := st.Stats(ctx, "E1", t0.Add(time.Second)); s.Active != 0 || s.Left != 1 {
			t.Fatalf("stats = %+v", s)
		}
		if _, err := st.Leave(ctx, room.NewSessionID(), t0); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("leave unknown: %v", err)
		}
		if _, err := st.Heartbeat(ctx, room.NewSessionID(), t0); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("heartbeat unknown: %v", err)
		}
	})

	t.Run("abort removes a session that never reached the queue", func(t *testing.T) {
		st := open(t)
		s, _, err := st.Join(ctx, "E1", "A", t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Abort(ctx, "E1", s.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, s.ID, t0); !errors.Is(err, room.ErrNotFound) {
			t.Fatalf("get after abort: %v", err)
		}
		if stats, _ := st.Stats(ctx, "E1", t0); stats.Waiting != 0 || stats.Joined != 0 {
			t.Fatalf("stats after abort = %+v", stats)
		}
		again := join(t, st, "E1", "A", t0)
		if again.Position != 1 {
			t.Fatalf("position after abort = %d", again.Position)
		}
		if err := st.Abort(ctx, "E1", again.ID); err != nil { // enqueued: abort must not touch it
			t.Fatal(err)
		}
		if g := get(t, st, again.ID, t0); g.Status != room.StatusWaiting {
			t.Fatalf("abort removed an enqueued session: %+v", g)
		}
	})

	t.Run("admission rate is unknown until someone is admitted, then follows the pace", func(t *testing.T) {
		st := newStore(t, room.StaticPolicies{Default: room.Policy{Capacity: 1000, HeartbeatTTL: time.Hour, WaitingTTL: time.Hour, MaxActive: time.Hour}})
		last := join(t, st, "E1", "last", t0)
		if s := get(t, st, last.ID, t0); s.AdmissionRate != 0 {
			t.Fatalf("rate before any admission = %v, want 0 (unknown)", s.AdmissionRate)
		}
		// Twenty admissions, one every 500ms: two per second.
		now := t0
		for i := range 20 {
			s := join(t, st, "E1", fmt.Sprint(i), now)
			grant(t, st, s.ID, now, room.Admitted)
			if i < 19 {
				now = now.Add(500 * time.Millisecond)
			}
		}
		s := get(t, st, last.ID, now)
		if s.AdmissionRate < 1.5 || s.AdmissionRate > 2.5 {
			t.Fatalf("rate after steady 2/s admissions = %v", s.AdmissionRate)
		}
		if w, ok := room.EstimatedWait(s.Position, s.AdmissionRate); !ok || w <= 0 {
			t.Fatalf("estimated wait = %v, %v", w, ok)
		}
		stats, _ := st.Stats(ctx, "E1", now)
		if stats.AdmissionRate != s.AdmissionRate {
			t.Fatalf("stats rate %v != session rate %v", stats.AdmissionRate, s.AdmissionRate)
		}
		// A line that stops moving: the rate decays, the estimate grows.
		later := get(t, st, last.ID, now.Add(time.Minute))
		if later.AdmissionRate >= s.AdmissionRate/2 {
			t.Fatalf("rate a minute after the last admission = %v, was %v", later.AdmissionRate, s.AdmissionRate)
		}
	})

	t.Run("events lists every joined event", func(t *testing.T) {
		st := open(t)
		if evs, err := st.Events(ctx); err != nil || len(evs) != 0 {
			t.Fatalf("events of an empty store = %v, %v", evs, err)
		}
		for i, ev := range []string{"b", "a", "b", "c"} {
			join(t, st, ev, fmt.Sprint("u", i), t0)
		}
		evs, err := st.Events(ctx)
		if err != nil || fmt.Sprint(evs) != "[a b c]" {
			t.Fatalf("events = %v, %v; want [a b c]", evs, err)
		}
	})

	t.Run("runtime settings change capacity, pause and cap the line", func(t *testing.T) {
		st := open(t)
		if _, ok, err := st.Settings(ctx, "E1"); ok || err != nil {
			t.Fatalf("settings of a new event: ok=%v err=%v", ok, err)
		}
		var ids []string
		for i := range 5 {
			ids = append(ids, join(t, st, "E1", fmt.Sprint(i), t0).ID)
		}
		grant(t, st, ids[0], t0, room.Admitted)
		grant(t, st, ids[1], t0, room.Admitted)
		grant(t, st, ids[2], t0, room.Full) // configured capacity 2
		raised := room.Settings{Capacity: 3, MaxActive: time.Hour}
		if err := st.PutSettings(ctx, "E1", raised); err != nil {
			t.Fatal(err)
		}
		waitFreed(t, st, "E1") // granters are woken to admit at once
		if got, ok, err := st.Settings(ctx, "E1"); !ok || err != nil || got != raised {
			t.Fatalf("settings = %+v, %v, %v; want %+v", got, ok, err, raised)
		}
		grant(t, st, ids[2], t0, room.Admitted)
		if s, _ := st.Stats(ctx, "E1", t0); s.Capacity != 3 || s.Active != 3 {
			t.Fatalf("stats after raising = %+v", s)
		}
		// Lowering admits no one until active drops below the new capacity.
		if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Leave(ctx, ids[0], t0); err != nil {
			t.Fatal(err)
		}
		grant(t, st, ids[3], t0, room.Full)
		if _, err := st.Leave(ctx, ids[1], t0); err != nil {
			t.Fatal(err)
		}
		// Paused: the line stays, nobody is admitted.
		if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2, Paused: true}); err != nil {
			t.Fatal(err)
		}
		grant(t, st, ids[3], t0, room.Full)
		if s, _ := st.Stats(ctx, "E1", t0); !s.Paused || s.Waiting != 2 {
			t.Fatalf("stats while paused = %+v", s)
		}
		if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2, MaxWaiting: 2}); err != nil {
			t.Fatal(err)
		}
		grant(t, st, ids[3], t0, room.Admitted)
		join(t, st, "E1", "late-1", t0)
		if _, _, err := st.Join(ctx, "E1", "late-2", t0); !errors.Is(err, room.ErrLineFull) {
			t.Fatalf("join past maxWaiting: %v, want ErrLineFull", err)
		}
		if again, created, err := st.Join(ctx, "E1", "late-1", t0); err != nil || created {
			t.Fatalf("a user already in a full line must get its place back: %+v %v %v", again, created, err)
		}
		if err := st.PutSettings(ctx, "quiet", room.Settings{Capacity: 9}); err != nil {
			t.Fatal(err)
		}
		if evs, _ := st.Events(ctx); !slices.Contains(evs, "quiet") {
			t.Fatalf("events %v lack an event with settings only", evs)
		}
	})

	t.Run("ping", func(t *testing.T) {
		if err := open(t).Ping(ctx); err != nil {
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
