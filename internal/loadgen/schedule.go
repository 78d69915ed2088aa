package loadgen

import (
	"math"
	"time"
)

// Schedule is the open arrival model: when each user is due to join,
// whatever the server or the workers are doing.
type Schedule struct {
	rate   float64
	stages []Stage
}

// NewSchedule returns the schedule of a constant rate or of stages.
func NewSchedule(rate float64, stages []Stage) Schedule {
	return Schedule{rate: rate, stages: stages}
}

// Capacity is how many arrivals the schedule holds: unbounded for a rate,
// the integral of the rate over the stages otherwise.
func (s Schedule) Capacity() int {
	if len(s.stages) == 0 {
		return math.MaxInt
	}
	total, prev := 0.0, 0.0
	for _, st := range s.stages {
		total += (prev + st.Rate) / 2 * st.Duration.Seconds()
		prev = st.Rate
	}
	return int(math.Floor(total + 1e-9))
}

// At returns when arrival k (0-based) is due, from the start of the run; ok
// is false when the stages end first.
func (s Schedule) At(k int) (time.Duration, bool) {
	if len(s.stages) == 0 {
		return time.Duration(float64(k) / s.rate * float64(time.Second)), true
	}
	// Arrival k comes when the cumulative count N(t) = ∫rate reaches k.
	need := float64(k)
	var start time.Duration
	prev := 0.0
	for _, st := range s.stages {
		d := st.Duration.Seconds()
		area := (prev + st.Rate) / 2 * d
		if need < area-1e-9 {
			// Within the stage: r(t) = prev + (st.Rate-prev)·t/d, so
			// N(t) = prev·t + (st.Rate-prev)·t²/(2d); solve N(t) = need.
			a := (st.Rate - prev) / (2 * d)
			var t float64
			switch {
			case need <= 0:
				t = 0
			case math.Abs(a) < 1e-12:
				t = need / prev
			default:
				t = (-prev + math.Sqrt(prev*prev+4*a*need)) / (2 * a)
			}
			return start + time.Duration(t*float64(time.Second)), true
		}
		need -= area
		start += st.Duration
		prev = st.Rate
	}
	return 0, false
}
