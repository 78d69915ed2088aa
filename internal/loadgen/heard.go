package loadgen

import (
	"cmp"
	"slices"
	"time"
)

// Heard is how soon users heard of their admission, what waiting cost them
// in requests, and how full the room was kept while people waited.
type Heard struct {
	// TimeToHear runs from the server's admission (its activatedAt, on its
	// clock) to the user first seeing ACTIVE (on the load generator's
	// clock: the two must agree, as on one host or under NTP).
	TimeToHear Latency `json:"timeToHear"`
	// RequestsPerAdmitted is the users' requests of every endpoint (not
	// the audit's stats reads) per admitted user.
	RequestsPerAdmitted float64 `json:"requestsPerAdmitted"`
	// Utilization is the room's slots in use while someone waited: users
	// inside by their own count ÷ capacity, averaged over the time at least
	// one admitted user was waiting its turn (a pre-queue's wait for the
	// start is not counted). Null when nobody waited or no event's
	// capacity is known.
	Utilization *float64 `json:"utilization"`
	// WaitedSeconds is that time, summed over the events.
	WaitedSeconds float64 `json:"waitedSeconds"`
}

// heard computes Heard from the admissions and the endpoint counts.
func (r *Report) heard() Heard {
	var out Heard
	h := newHist()
	var used, offered float64 // slot-seconds used and available while someone waited
	for id, adms := range r.Admissions {
		for _, a := range adms {
			if a.ActivatedAt > 0 && a.SeenAt > 0 {
				record(h, time.Duration(max(a.SeenAt-a.ActivatedAt, 0))*time.Microsecond)
			}
		}
		capacity := r.Events[id].Capacity
		if capacity <= 0 {
			continue
		}
		u, w := utilization(adms, capacity)
		used += u
		offered += w * float64(capacity)
		out.WaitedSeconds += w
	}
	out.TimeToHear = summarize(h)
	if r.Users.Admitted > 0 {
		out.RequestsPerAdmitted = float64(r.Overall.Count) / float64(r.Users.Admitted)
	}
	if offered > 0 {
		v := used / offered
		out.Utilization = &v
	}
	return out
}

// utilization sweeps one event's admissions in time: while at least one
// user waits its turn (from its join's answer to seeing ACTIVE, pre-queue
// waits left out), it sums the users inside (seen ACTIVE, not yet left)
// over time. It returns those user-seconds and the seconds someone waited.
func utilization(adms []Admission, capacity int) (insideSeconds, waitedSeconds float64) {
	type step struct {
		at              int64 // Unix µs
		inside, waiting int
	}
	var steps []step
	var end int64
	for _, a := range adms {
		if a.SeenAt <= 0 {
			continue
		}
		steps = append(steps, step{at: a.SeenAt, inside: 1})
		if a.LeftAt > 0 {
			steps = append(steps, step{at: a.LeftAt, inside: -1})
		}
		if !a.PreQueued && a.JoinedAt > 0 && a.JoinedAt < a.SeenAt {
			steps = append(steps, step{at: a.JoinedAt, waiting: 1}, step{at: a.SeenAt, waiting: -1})
		}
		end = max(end, a.SeenAt, a.LeftAt)
	}
	slices.SortFunc(steps, func(x, y step) int { return cmp.Compare(x.at, y.at) })
	inside, waiting := 0, 0
	for i, s := range steps {
		inside += s.inside
		waiting += s.waiting
		next := end
		if i+1 < len(steps) {
			next = steps[i+1].at
		}
		if waiting > 0 && next > s.at {
			dt := float64(next-s.at) / 1e6
			insideSeconds += float64(min(inside, capacity)) * dt
			waitedSeconds += dt
		}
	}
	return insideSeconds, waitedSeconds
}
