package roomtest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// The schedule and the queueing methods.

// testScheduleRefusedBeforeOpensAtPreQueuedUntil: schedule: refused before opensAt, pre-queued until startsAt, shuffled once at the start ahead of later joins.
func testScheduleRefusedBeforeOpensAtPreQueuedUntil(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testEndsAtRefusesJoinsAndEndsTheWaiting: endsAt refuses joins and ends the waiting sessions; ACTIVE ones run on.
func testEndsAtRefusesJoinsAndEndsTheWaiting(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testAnEventSEndReachesItsWaiting: an event's end reaches its waiting sessions through the sweep alone.
func testAnEventSEndReachesItsWaiting(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testRejectRefusesJoinsWithTheEventS: reject refuses joins with the event's message and ends the waiting; fifo takes joins again.
func testRejectRefusesJoinsWithTheEventS(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}

// testPassthroughDrainsTheLineWithoutACap: passthrough drains the line without a cap, then admits joins at once; no join overtakes the line.
func testPassthroughDrainsTheLineWithoutACap(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}

// testRandomAdmitsByLotteryEveryoneOnceNot: random admits by lottery: everyone once, not in ticket order.
func testRandomAdmitsByLotteryEveryoneOnceNot(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}
