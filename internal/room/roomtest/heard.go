package roomtest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// heard are the cases of admissions heard at once: the fast path, the
// first deadline that covers the next due poll, the pre-queue across
// schedule changes, and the change feed every replica hears.
var heard = []testCase{
	{"a join that finds nobody waiting and a free slot is admitted at once; one that finds anyone ahead waits", testAJoinThatFindsNobodyWaitingAnd},
	{"joins racing into an empty room: never past capacity, admitted in ticket order", testJoinsRacingIntoAnEmptyRoomNever},
	{"obeying Retry-After never ends a session: a fresh admission's first deadline covers the next due poll", testObeyingRetryAfterNeverEndsASession},
	{"schedule changes: the pre-queue keeps its place and goes first", testScheduleChangesThePreQueueKeepsIts},
	{"every replica hears of admissions, ends of waiting and new settings", testEveryReplicaHearsOfAdmissionsEndsOf},
}

// openWith is an empty store under p at a clock standing at T0.
func openWith(t *testing.T, newStore NewStore, p room.Policy) (room.Store, *Clock) {
	clk := NewClock(T0)
	return newStore(t, room.StaticPolicies{Default: p}, clk.Now), clk
}

// joinAs joins user without a key; with confirm, a waiting session's
// message is marked sent.
func joinAs(t *testing.T, st room.Store, event, user string, confirm bool) room.Session {
	t.Helper()
	s, created, err := st.Join(ctx, room.JoinRequest{EventID: event, UserID: user})
	if err != nil || !created {
		t.Fatalf("join %s/%s: %v (created %v)", event, user, err, created)
	}
	if confirm && s.Status == room.StatusWaiting {
		if err := st.MarkEnqueued(ctx, event, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// grantAny is a grant with id's message, whatever its outcome.
func grantAny(t *testing.T, st room.Store, event, id string) room.GrantResult {
	t.Helper()
	r, err := st.Grant(ctx, event, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testAJoinThatFindsNobodyWaitingAnd: a join that finds nobody waiting and a free slot is admitted at once; one that finds anyone ahead waits.
func testAJoinThatFindsNobodyWaitingAnd(t *testing.T, newStore NewStore) {
	st, clk := openWith(t, newStore, FastPolicy)
	a := joinAs(t, st, "E", "A", true)
	if a.Status != room.StatusActive || !a.Enqueued || a.Admission != 1 || !a.ActivatedAt.Equal(T0) ||
		!a.ExpiresAt.Equal(T0.Add(FastPolicy.HeartbeatTTL)) {
		t.Fatalf("first join in an empty room = %+v, want ACTIVE at once until +%v", a, FastPolicy.HeartbeatTTL)
	}
	if b := joinAs(t, st, "E", "B", true); b.Status != room.StatusActive || b.Admission != 2 {
		t.Fatalf("second join with a free slot = %s #%d", b.Status, b.Admission)
	}
	// Full: C waits, and its message is not yet on the queue.
	c, _, err := st.Join(ctx, room.JoinRequest{EventID: "E", UserID: "C"})
	if err != nil || c.Status != room.StatusWaiting {
		t.Fatalf("join at capacity = %+v %v", c, err)
	}
	clk.Advance(time.Second)
	if _, err := st.Leave(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	// A slot is free, but C (unconfirmed) is ahead: D takes its turn.
	d := joinAs(t, st, "E", "D", true)
	if d.Status != room.StatusWaiting || d.Position != 2 {
		t.Fatalf("join behind an unconfirmed ticket = %s at %d, want WAITING at 2", d.Status, d.Position)
	}
	if r := grantAny(t, st, "E", d.ID); r.Outcome != room.Blocked {
		t.Fatalf("grant with C unconfirmed = %v, want blocked", r.Outcome)
	}
	if err := st.MarkEnqueued(ctx, "E", c.ID); err != nil {
		t.Fatal(err)
	}
	if r := grantAny(t, st, "E", d.ID); r.Outcome != room.Admitted || r.Session.ID != c.ID {
		t.Fatalf("grant = %v %s, want C admitted", r.Outcome, r.Session.ID)
	}
	if s := get(t, st, d.ID); s.Status != room.StatusWaiting || s.Position != 1 {
		t.Fatalf("D = %s at %d", s.Status, s.Position)
	}

	// Paused, or under a binding rate, nobody passes at once.
	paused, _ := openWith(t, newStore, FastPolicy)
	if err := paused.PutSettings(ctx, "P", room.Settings{Paused: true}); err != nil {
		t.Fatal(err)
	}
	if s := joinAs(t, paused, "P", "A", true); s.Status != room.StatusWaiting {
		t.Fatalf("join while paused = %s", s.Status)
	}
	rated, rclk := openWith(t, newStore, FastPolicy)
	if err := rated.PutSettings(ctx, "R", room.Settings{Capacity: 100, NewUsersPerMinute: 60}); err != nil {
		t.Fatal(err)
	}
	if s := joinAs(t, rated, "R", "A", true); s.Status != room.StatusActive {
		t.Fatalf("first join under a rate of 60/min = %s", s.Status)
	}
	if s := joinAs(t, rated, "R", "B", true); s.Status != room.StatusWaiting {
		t.Fatalf("second join in the same instant under 60/min = %s, want WAITING (no token)", s.Status)
	}
	rclk.Advance(30 * time.Second) // tokens again, and B still alive
	if s := joinAs(t, rated, "R", "C", true); s.Status != room.StatusWaiting {
		t.Fatalf("join with B waiting = %s, want WAITING behind B", s.Status)
	}
}

// testJoinsRacingIntoAnEmptyRoomNever: joins racing into an empty room: never past capacity, admitted in ticket order.
func testJoinsRacingIntoAnEmptyRoomNever(t *testing.T, newStore NewStore) {
	p := FastPolicy
	p.Capacity = 5
	st, _ := openWith(t, newStore, p)
	const n = 60
	var (
		mu       sync.Mutex
		sessions []room.Session
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E", UserID: fmt.Sprint("u", i)})
			if err != nil {
				t.Error(err)
				return
			}
			if s.Status == room.StatusWaiting {
				if err := st.MarkEnqueued(ctx, "E", s.ID); err != nil {
					t.Error(err)
				}
			}
			mu.Lock()
			sessions = append(sessions, s)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	slices.SortFunc(sessions, func(a, b room.Session) int { return int(a.Seq - b.Seq) })
	for i, s := range sessions {
		if at := i < p.Capacity; at != (s.Status == room.StatusActive) || at && s.Admission != s.Seq {
			t.Fatalf("ticket %d: %s admission %d; want exactly tickets 1..%d ACTIVE at once, in ticket order", s.Seq, s.Status, s.Admission, p.Capacity)
		}
	}
	// The line drains in ticket order as slots free.
	for i := p.Capacity; i < n; i++ {
		if _, err := st.Leave(ctx, sessions[i-p.Capacity].ID); err != nil {
			t.Fatal(err)
		}
		r := grantAny(t, st, "E", sessions[n-1].ID)
		if r.Outcome != room.Admitted || r.Session.Seq != sessions[i].Seq || r.Session.Admission != int64(i+1) {
			t.Fatalf("grant %d: %v ticket %d #%d, want ticket %d #%d", i, r.Outcome, r.Session.Seq, r.Session.Admission, sessions[i].Seq, i+1)
		}
	}
	if s, _ := st.Stats(ctx, "E"); s.PeakActive != int64(p.Capacity) {
		t.Fatalf("peak %d, capacity %d", s.PeakActive, p.Capacity)
	}
}

// testObeyingRetryAfterNeverEndsASession: obeying Retry-After never ends a session: a fresh admission's first deadline covers the next due poll.
func testObeyingRetryAfterNeverEndsASession(t *testing.T, newStore NewStore) {
	// The figures: waiting TTL 3m, heartbeat TTL 15s, a
	// pre-queue of 5 at capacity 5, everyone admitted at the start.
	p := room.Policy{Capacity: 5, WaitingTTL: 3 * time.Minute, HeartbeatTTL: 15 * time.Second, MaxActive: time.Hour}
	longest := room.LongestPoll(p.WaitingTTL)
	if longest != time.Minute {
		t.Fatalf("LongestPoll(3m) = %v, want 1m", longest)
	}
	st, clk := openWith(t, newStore, p)
	starts := T0.Add(10 * time.Second)
	if err := st.PutSettings(ctx, "E", room.Settings{StartsAt: starts}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		clk.Set(T0.Add(time.Duration(i) * time.Second)) // each polls last at its join
		ids = append(ids, joinAs(t, st, "E", fmt.Sprint("u", i), true).ID)
	}
	clk.Set(starts)
	for range ids {
		if r := grantAny(t, st, "E", ids[0]); r.Outcome != room.Admitted {
			t.Fatalf("grant at the start = %v", r.Outcome)
		}
	}
	// Each comes back exactly when it was told it might (its last poll
	// + LongestPoll), long after a heartbeat TTL from the start.
	for i, id := range ids {
		due := T0.Add(time.Duration(i)*time.Second + longest)
		clk.Set(due)
		s, err := st.Touch(ctx, id)
		if err != nil || s.Status != room.StatusActive {
			t.Fatalf("user %d at its due poll %v after the start: %s %v, want ACTIVE", i, due.Sub(starts), s.Status, err)
		}
		if left := s.ExpiresAt.Sub(due); left < p.HeartbeatTTL {
			t.Fatalf("user %d learns of its admission with %v left, want a whole heartbeat TTL (%v)", i, left, p.HeartbeatTTL)
		}
		clk.Set(s.ExpiresAt.Add(-time.Millisecond))
		if _, err := st.Heartbeat(ctx, id); err != nil {
			t.Fatalf("user %d heartbeat just before its deadline: %v", i, err)
		}
	}
	if s, _ := st.Stats(ctx, "E"); s.Expired != 0 || s.Active != 5 {
		t.Fatalf("expired %d active %d, want 0 and 5", s.Expired, s.Active)
	}
	// From the line, too: a WAITING user polled at seen, admitted later.
	wst, wclk := openWith(t, newStore, Policy)
	w := joinAs(t, wst, "E", "w", true)
	wclk.Advance(3 * time.Second)
	r := grantAny(t, wst, "E", w.ID)
	if want := T0.Add(room.LongestPoll(Policy.WaitingTTL) + Policy.HeartbeatTTL); r.Outcome != room.Admitted || !r.Session.ExpiresAt.Equal(want) {
		t.Fatalf("admission from the line: %v until %v, want until %v", r.Outcome, r.Session.ExpiresAt, want)
	}
}

// testScheduleChangesThePreQueueKeepsIts: schedule changes: the pre-queue keeps its place and goes first.
func testScheduleChangesThePreQueueKeepsIts(t *testing.T, newStore NewStore) {
	p := FastPolicy
	p.WaitingTTL = 10 * time.Minute // alive across the schedule's moves without polls
	st, clk := openWith(t, newStore, p)
	if err := st.PutSettings(ctx, "E", room.Settings{Capacity: 100, StartsAt: T0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var pre []string
	for i := range 4 {
		s := joinAs(t, st, "E", fmt.Sprint("p", i), true)
		if !s.PreQueued {
			t.Fatalf("join before the start = %+v", s)
		}
		pre = append(pre, s.ID)
	}
	// The doors close again: opensAt moves ahead, startsAt is cleared.
	opens := T0.Add(2 * time.Minute)
	if err := st.PutSettings(ctx, "E", room.Settings{Capacity: 100, OpensAt: opens}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	r := grantAny(t, st, "E", pre[0])
	if r.Outcome != room.Full || !r.RetryAt.Equal(opens) {
		t.Fatalf("grant before the new opening = %v retry %v, want full until %v (the message kept)", r.Outcome, r.RetryAt, opens)
	}
	for _, id := range pre {
		if s := get(t, st, id); s.Status != room.StatusWaiting || !s.PreQueued {
			t.Fatalf("pre-queued session before the opening = %s pre %v", s.Status, s.PreQueued)
		}
	}
	clk.Set(opens)
	late := joinAs(t, st, "E", "late", true)
	if late.Status != room.StatusWaiting || late.Position != int64(len(pre)+1) {
		t.Fatalf("join at the opening = %s at %d, want WAITING behind the %d pre-queued", late.Status, late.Position, len(pre))
	}
	admitted := map[string]bool{}
	for range pre {
		r := grantAny(t, st, "E", late.ID)
		if r.Outcome != room.Admitted || !slices.Contains(pre, r.Session.ID) || admitted[r.Session.ID] {
			t.Fatalf("grant at the opening = %v %s, want a pre-queued session", r.Outcome, r.Session.ID)
		}
		admitted[r.Session.ID] = true
	}
	if r := grantAny(t, st, "E", late.ID); r.Session.ID != late.ID {
		t.Fatalf("after the pre-queue, grant admitted %s, want the later join", r.Session.ID)
	}

	// Passthrough before the start: joins still wait for the start,
	// and the pre-queue goes first.
	pt, pclk := openWith(t, newStore, p)
	starts := T0.Add(time.Minute)
	if err := pt.PutSettings(ctx, "E", room.Settings{StartsAt: starts}); err != nil {
		t.Fatal(err)
	}
	a := joinAs(t, pt, "E", "a", true)
	if err := pt.PutSettings(ctx, "E", room.Settings{StartsAt: starts, Method: room.MethodPassthrough}); err != nil {
		t.Fatal(err)
	}
	b := joinAs(t, pt, "E", "b", true)
	if b.Status != room.StatusWaiting || !b.PreQueued {
		t.Fatalf("join under passthrough before the start = %s pre %v, want the pre-queue", b.Status, b.PreQueued)
	}
	if r := grantAny(t, pt, "E", a.ID); r.Outcome != room.Full || !r.RetryAt.Equal(starts) {
		t.Fatalf("grant under passthrough before the start = %v, want full until the start", r.Outcome)
	}
	pclk.Set(starts)
	c := joinAs(t, pt, "E", "c", true)
	if c.Status != room.StatusWaiting || c.Position != 3 {
		t.Fatalf("join at the start under passthrough = %s at %d, want WAITING behind the pre-queue", c.Status, c.Position)
	}
	for range 2 {
		if r := grantAny(t, pt, "E", c.ID); r.Outcome != room.Admitted || r.Session.ID == c.ID {
			t.Fatalf("grant = %v %s, want a pre-queued session first", r.Outcome, r.Session.ID)
		}
	}
	if r := grantAny(t, pt, "E", c.ID); r.Session.ID != c.ID {
		t.Fatal("the later join was not admitted after the pre-queue")
	}
	if d := joinAs(t, pt, "E", "d", true); d.Status != room.StatusActive {
		t.Fatalf("join under passthrough with nobody waiting = %s, want ACTIVE at once", d.Status)
	}
}

// testEveryReplicaHearsOfAdmissionsEndsOf: every replica hears of admissions, ends of waiting and new settings.
func testEveryReplicaHearsOfAdmissionsEndsOf(t *testing.T, newStore NewStore) {
	st, _ := openWith(t, newStore, Policy)
	a := joinAs(t, st, "E", "A", true)
	b := joinAs(t, st, "E", "B", true)
	grantAny(t, st, "E", a.ID)
	waitChange(t, st, room.Change{EventID: "E", SessionID: a.ID, Status: room.StatusActive})
	if _, err := st.Leave(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	waitChange(t, st, room.Change{EventID: "E", SessionID: b.ID, Status: room.StatusLeft})
	if err := st.PutSettings(ctx, "E", room.Settings{Paused: true}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, st, room.Change{EventID: "E"})
}

// waitChange waits for want on the store's changes, passing over others.
func waitChange(t *testing.T, st room.Store, want room.Change) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case c, ok := <-st.Changes():
			if !ok {
				t.Fatalf("changes closed before %+v", want)
			}
			if c == want {
				return
			}
		case <-timeout:
			t.Fatalf("no change %+v", want)
		}
	}
}
