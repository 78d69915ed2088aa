package roomtest

import (
	"errors"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Sessions that stop showing signs of life, and the sweep.

// testActiveSessionWithoutHeartbeatExpiresAndFrees: active session without heartbeat expires and frees its slot.
func testActiveSessionWithoutHeartbeatExpiresAndFrees(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testMaxActiveEndsASessionWhateverIt: max active ends a session whatever it does.
func testMaxActiveEndsASessionWhateverIt(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testWaitingSessionWithoutSignOfLifeIs: waiting session without sign of life is abandoned.
func testWaitingSessionWithoutSignOfLifeIs(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}

// testSweepEndsOverdueSessions: sweep ends overdue sessions.
func testSweepEndsOverdueSessions(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
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
}
