package loadgen_test

import (
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/loadgen"
)

// arrivalsIn counts the scheduled arrivals in [from, to).
func arrivalsIn(s loadgen.Schedule, from, to time.Duration) int {
	n := 0
	for k := 0; ; k++ {
		at, ok := s.At(k)
		if !ok || at >= to {
			return n
		}
		if at >= from {
			n++
		}
	}
}

func TestScheduleKeepsTheRate(t *testing.T) {
	cases := []struct {
		name     string
		s        loadgen.Schedule
		from, to time.Duration
		want     int
	}{
		{"constant 100/s, first second", loadgen.NewSchedule(100, nil), 0, time.Second, 100},
		{"constant 100/s, a later second", loadgen.NewSchedule(100, nil), 7 * time.Second, 8 * time.Second, 100},
		{"constant 0.5/s over 10s", loadgen.NewSchedule(0.5, nil), 0, 10 * time.Second, 5},
		// A ramp 0→100/s over 10s: N(t) = 5t², so 125 by 5s and 375 after.
		{"ramp, first half", loadgen.NewSchedule(0, []loadgen.Stage{{10 * time.Second, 100}}), 0, 5 * time.Second, 125},
		{"ramp, second half", loadgen.NewSchedule(0, []loadgen.Stage{{10 * time.Second, 100}}), 5 * time.Second, 10 * time.Second, 375},
		{"ramp then hold", loadgen.NewSchedule(0, []loadgen.Stage{{10 * time.Second, 100}, {10 * time.Second, 100}}), 10 * time.Second, 20 * time.Second, 1000},
		{"ramp down", loadgen.NewSchedule(0, []loadgen.Stage{{time.Second, 200}, {2 * time.Second, 0}}), time.Second, 3 * time.Second, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := arrivalsIn(c.s, c.from, c.to); got < c.want-1 || got > c.want+1 {
				t.Fatalf("%d arrivals in [%s, %s), want %d±1", got, c.from, c.to, c.want)
			}
		})
	}
}

func TestStagesEndTheSchedule(t *testing.T) {
	s := loadgen.NewSchedule(0, []loadgen.Stage{{10 * time.Second, 100}, {10 * time.Second, 100}})
	if c := s.Capacity(); c != 1500 {
		t.Fatalf("capacity %d, want 1500", c)
	}
	if _, ok := s.At(1500); ok {
		t.Fatal("an arrival past the last stage")
	}
	prev := time.Duration(-1)
	for k := range 1500 {
		at, ok := s.At(k)
		if !ok || at < prev || at > 20*time.Second {
			t.Fatalf("arrival %d at %s (ok %v), previous %s", k, at, ok, prev)
		}
		prev = at
	}
}

func TestParseStagesAndDist(t *testing.T) {
	st, err := loadgen.ParseStages("30s:100, 1m:500")
	if err != nil || len(st) != 2 || st[1].Duration != time.Minute || st[1].Rate != 500 {
		t.Fatalf("stages = %v, %v", st, err)
	}
	for _, bad := range []string{"30s", "x:1", "30s:-1", "0s:5", "30s:many"} {
		if _, err := loadgen.ParseStages(bad); err == nil {
			t.Errorf("stages %q accepted", bad)
		}
	}
	d, err := loadgen.ParseDist("2s..10s")
	if err != nil || d.Min != 2*time.Second || d.Max != 10*time.Second {
		t.Fatalf("dist = %v, %v", d, err)
	}
	for _, bad := range []string{"", "10s..2s", "soon", "-1s"} {
		if _, err := loadgen.ParseDist(bad); err == nil {
			t.Errorf("dist %q accepted", bad)
		}
	}
}
