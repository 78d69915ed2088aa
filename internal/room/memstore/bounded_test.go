package memstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// TestPollsAndChurnKeepNothing checks what the store holds is bounded by
// what is live: polls move a deadline in place, and ended sessions and idle
// events go after their retention or past the cap.
func TestPollsAndChurnKeepNothing(t *testing.T) {
	now := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := New(Config{Clock: clock, MaxEnded: 1000}, room.StaticPolicies{Default: room.Policy{Capacity: 1, HeartbeatTTL: time.Minute, WaitingTTL: time.Minute, MaxActive: time.Hour, QueueAll: true}})
	ctx := context.Background()

	s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E", UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	for range 100_000 {
		now = now.Add(time.Millisecond)
		if _, err := st.Touch(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(st.deadlines.recs); n != 1 {
		t.Fatalf("100,000 polls of one session left %d deadline entries, want 1", n)
	}

	// One client cycling join → leave: ended sessions stop at the cap.
	for i := range 5000 {
		s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E", UserID: fmt.Sprint("c", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Leave(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(st.sessions); n > 1000+1 {
		t.Fatalf("%d sessions kept after 5,000 join/leave cycles, want at most the cap 1000 + 1 live", n)
	}

	// One-off events whose sessions all expire are forgotten.
	for i := range 20_000 {
		if _, _, err := st.Join(ctx, room.JoinRequest{EventID: fmt.Sprint("once-", i), UserID: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour)
	if _, err := st.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(st.events); n > 1 {
		t.Fatalf("%d events kept after every one-off event went idle an hour ago", n)
	}
	if n := len(st.sessions) + len(st.deadlines.recs) + len(st.byUser) + st.ended.len() + st.idle.len(); n > 1000 {
		t.Fatalf("%d entries kept with nothing live", n)
	}
}
