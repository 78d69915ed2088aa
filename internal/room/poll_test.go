package room_test

import (
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

func TestWaitingPollIntervalGrowsWithTheLineAndKeepsTheSessionAlive(t *testing.T) {
	const pref, ttl = 2 * time.Second, 60 * time.Second
	cases := []struct {
		name     string
		position int64
		rate     float64
		want     time.Duration
	}{
		{"head of the line", 1, 10, pref},
		{"near the head", 50, 10, pref},                        // 5s to wait: a tenth is under the preferred
		{"minutes back", 3000, 10, 15 * time.Second},           // 300s to wait: a twentieth
		{"an hour back", 36000, 10, ttl / 3},                   // a twentieth is 3 minutes: capped
		{"no estimate, near", 2, 0, pref + 2*time.Millisecond}, // one more interval per thousand ahead
		{"no estimate, far", 5001, 0, 12 * time.Second},        // 2s × 6
		{"no estimate, very far", 1_000_000, 0, ttl / 3},
	}
	for _, c := range cases {
		if got := room.WaitingPollInterval(pref, ttl, c.position, c.rate); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Never past a third of the waiting TTL, never under a second.
	for _, pos := range []int64{1, 10, 1e3, 1e5, 1e7} {
		for _, rate := range []float64{0, 0.01, 1, 100} {
			for _, ttl := range []time.Duration{3 * time.Second, 30 * time.Second, time.Hour} {
				got := room.WaitingPollInterval(pref, ttl, pos, rate)
				if got > max(ttl/3, time.Second) || got < time.Second {
					t.Fatalf("position %d rate %v ttl %v: %v", pos, rate, ttl, got)
				}
			}
		}
	}
}
