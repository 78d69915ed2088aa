package room

import (
	"math"
	"testing"
	"time"
)

// TestPermuteWithSeedIsUniform draws many permutations of 4 from fresh
// seeds: each of the 24 orders must come up about equally often (a
// chi-square test far past any plausible chance), and the same seed must
// give the same order.
func TestPermuteWithSeedIsUniform(t *testing.T) {
	const n, draws = 4, 48_000
	counts := map[[n]int]int{}
	for range draws {
		var k [n]int
		copy(k[:], PermuteWithSeed(n, NewSeed()))
		counts[k]++
	}
	if len(counts) != 24 {
		t.Fatalf("%d distinct orders of 4, want 24", len(counts))
	}
	want := float64(draws) / 24
	chi := 0.0
	for _, c := range counts {
		chi += math.Pow(float64(c)-want, 2) / want
	}
	// 23 degrees of freedom: p < 1e-6 beyond about 65.
	if chi > 65 {
		t.Fatalf("chi-square %.1f over 24 orders: not uniform (%v)", chi, counts)
	}
	seed := NewSeed()
	a, b := PermuteWithSeed(100, seed), PermuteWithSeed(100, seed)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("one seed gave two orders")
		}
	}
}

func TestPhaseFollowsTheSchedule(t *testing.T) {
	t0 := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{OpensAt: t0, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(2 * time.Hour)}
	for _, c := range []struct {
		at   time.Duration
		want Phase
	}{{-time.Second, PhaseScheduled}, {0, PhasePreQueue}, {time.Hour - 1, PhasePreQueue}, {time.Hour, PhaseLive}, {2 * time.Hour, PhaseEnded}} {
		if got := p.Phase(t0.Add(c.at)); got != c.want {
			t.Errorf("at %v: %v, want %v", c.at, got, c.want)
		}
	}
	if (Policy{}).Phase(t0) != PhaseLive {
		t.Error("no schedule is not live")
	}
	if err := ValidateSchedule(t0, t0.Add(-time.Second), time.Time{}); err == nil {
		t.Error("a start before the opening passed")
	}
	if err := ValidateSchedule(time.Time{}, t0, t0); err == nil {
		t.Error("an end at the start passed")
	}
	if _, err := ParseMethod("lifo"); err == nil {
		t.Error("an unknown method passed")
	}
	if err := (Settings{Method: "lifo"}).Validate(); err == nil {
		t.Error("settings with an unknown method passed")
	}
}
