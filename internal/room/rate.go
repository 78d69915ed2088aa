package room

import (
	"math"
	"time"
)

// RateTau is the time constant of the admission rate: admissions older than
// a few RateTau barely count, so the estimate follows the line's pace.
const RateTau = 30 * time.Second

// Rate is an exponentially decayed count of admissions, the "recent
// admission rate" a wait estimate divides by. It is O(1) to update and to
// read, and the Redis store keeps the same three numbers in Lua.
type Rate struct {
	// Value is the decayed rate in admissions per millisecond as of At.
	Value float64
	// At and First are the last and the first admission, in Unix ms.
	At, First int64
}

// Add records one admission at now (Unix ms).
func (r *Rate) Add(now int64) {
	tau := float64(RateTau.Milliseconds())
	if r.First == 0 {
		r.First = now
	}
	r.Value = r.Value*math.Exp(-float64(max(now-r.At, 0))/tau) + 1/tau
	r.At = now
}

// RateStale is how long after the last admission the rate is no longer
// a pace to estimate with: the line has stopped, and an estimate would only
// grow without meaning.
const RateStale = 5 * RateTau

// PerSecond is the rate at now, corrected for the start-up bias of a decayed
// sum that began at First; 0 (unknown) if nothing has been admitted, or
// nothing for RateStale.
func (r Rate) PerSecond(now int64) float64 {
	if r.First == 0 || now-r.At >= RateStale.Milliseconds() {
		return 0
	}
	tau := float64(RateTau.Milliseconds())
	v := r.Value * math.Exp(-float64(max(now-r.At, 0))/tau)
	span := float64(max(now-r.First, 1000)) // one admission alone reads as about one per second
	return v / (1 - math.Exp(-span/tau)) * 1000
}

// MaxEstimatedWait bounds a wait estimate: past it the line has all but
// stopped and a number would mislead, so there is none.
const MaxEstimatedWait = 24 * time.Hour

// EstimatedWait is position ÷ rate, or false while it cannot be estimated:
// nothing admitted yet, or a rate so low (the line has stalled) that the
// estimate would pass MaxEstimatedWait.
func EstimatedWait(position int64, perSecond float64) (time.Duration, bool) {
	if !(perSecond > 0) || position <= 0 || math.IsInf(perSecond, 0) {
		return 0, false
	}
	sec := float64(position) / perSecond
	if !(sec <= MaxEstimatedWait.Seconds()) {
		return 0, false
	}
	return time.Duration(sec * float64(time.Second)), true
}
