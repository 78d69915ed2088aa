package roomtest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Admission: ticket order, capacity, the line held back by unsent tickets.

// testGrantAdmitsInTicketOrderWhateverMessage: grant admits in ticket order whatever message arrives, up to capacity.
func testGrantAdmitsInTicketOrderWhateverMessage(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testGrantSkipsThoseWhoEndedAndAnswers: grant skips those who ended and answers an empty line or unknown event.
func testGrantSkipsThoseWhoEndedAndAnswers(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}

// testATicketWhoseMessageIsNotYet: a ticket whose message is not yet on the queue holds back later tickets.
func testATicketWhoseMessageIsNotYet(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testPerEventCapacity: per-event capacity.
func testPerEventCapacity(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
	for i := range 5 {
		s := join(t, st, "big", fmt.Sprint(i))
		admits(t, st, "big", s.ID, s.ID)
	}
	if s := stats(t, st, "big"); s.Capacity != 100 || s.Active != 5 {
		t.Fatalf("stats = %+v", s)
	}
}

// testCapacityAndOrderHoldUnderConcurrentGrants: capacity and order hold under concurrent grants.
func testCapacityAndOrderHoldUnderConcurrentGrants(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}
