package loadgen

import (
	"math"
	"testing"
)

// TestUtilizationCountsTheSlotsUsedWhileSomeoneWaits: capacity 2, A and B
// inside from 0s; C waits from 1s; A leaves at 5s and C is let in only at
// 6s: the room was full 4 of the 5 waiting seconds, half full for one.
func TestUtilizationCountsTheSlotsUsedWhileSomeoneWaits(t *testing.T) {
	const s, t0 = int64(1e6), int64(1_800_000_000e6)
	adms := []Admission{
		{Ticket: 1, SeenAt: t0, LeftAt: t0 + 5*s},
		{Ticket: 2, SeenAt: t0, LeftAt: t0 + 10*s},
		{Ticket: 3, JoinedAt: t0 + 1*s, SeenAt: t0 + 6*s, LeftAt: t0 + 10*s},
		// A pre-queued user's wait for the start is not a wait for a slot.
		{Ticket: 4, JoinedAt: t0, SeenAt: t0 + 20*s, LeftAt: t0 + 21*s, PreQueued: true},
	}
	inside, waited := utilization(adms, 2)
	if waited != 5 || inside != 9 {
		t.Fatalf("utilization sweep = %v user-seconds over %v s, want 9 over 5", inside, waited)
	}
	r := &Report{Events: map[string]Event{"e": {Capacity: 2}}, Admissions: map[string][]Admission{"e": adms},
		Users: Users{Admitted: 4}, Overall: Endpoint{Count: 20}}
	h := r.heard()
	if h.Utilization == nil || math.Abs(*h.Utilization-0.9) > 1e-9 || h.RequestsPerAdmitted != 5 {
		t.Fatalf("heard = %+v, want utilization 0.9 and 5 requests per admitted user", h)
	}
}
