package roomtest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Joins, re-joins, positions, leaving and aborting.

// testJoinCreatesAWaitingSessionAtThe: join creates a waiting session at the store's time.
func testJoinCreatesAWaitingSessionAtThe(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}

// testAReJoinGetsTheLiveSession: a re-join gets the live session only with proof of the first join.
func testAReJoinGetsTheLiveSession(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testPositionsFollowJoinOrderAndMoveAs: positions follow join order and move as the line moves.
func testPositionsFollowJoinOrderAndMoveAs(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}

// testLeaveIsIdempotentAndFreesAtOnce: leave is idempotent and frees at once.
func testLeaveIsIdempotentAndFreesAtOnce(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testAbortRemovesASessionThatNeverReached: abort removes a session that never reached the queue.
func testAbortRemovesASessionThatNeverReached(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
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
}

// testPing: ping.
func testPing(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
