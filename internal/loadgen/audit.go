package loadgen

import (
	"slices"
)

// Admission is one user's admission as the load generator saw it: enough to
// audit fairness and client-side capacity exactly, and to merge shards.
// Times are Unix microseconds.
type Admission struct {
	// Ticket is the server's join sequence number in the event.
	Ticket int64
	// Order is the server's admission number in the event (1 for the first
	// admitted); 0 from a server that does not report it.
	Order int64
	// ActivatedAt is the server's admission time.
	ActivatedAt int64
	// SeenAt is when the user first saw itself ACTIVE; LeftAt when it sent
	// its leave or saw its session end (0: still inside at the end).
	SeenAt, LeftAt int64
}

// MarshalJSON writes an admission as a compact array:
// [ticket, activatedAt, seenAt, leftAt, order].
func (a Admission) MarshalJSON() ([]byte, error) {
	return []byte("[" + itoa(a.Ticket) + "," + itoa(a.ActivatedAt) + "," + itoa(a.SeenAt) + "," + itoa(a.LeftAt) + "," + itoa(a.Order) + "]"), nil
}

// UnmarshalJSON reads the compact array (shards from older runs have no order).
func (a *Admission) UnmarshalJSON(b []byte) error {
	var v [5]int64
	if err := unmarshalInts(b, v[:]); err != nil {
		if err := unmarshalInts(b, v[:4]); err != nil {
			return err
		}
		v[4] = 0
	}
	a.Ticket, a.ActivatedAt, a.SeenAt, a.LeftAt, a.Order = v[0], v[1], v[2], v[3], v[4]
	return nil
}

// Inversions counts the pairs admitted out of join order: admitted earlier
// yet holding a later ticket. The order of admission is the server's
// admission number when every admission has one, where no tie can hide a
// reversal; otherwise the server's admission time, and equal times are no
// inversion. It returns the count and the number of pairs compared.
func Inversions(adms []Admission) (inversions, pairs int64) {
	s := slices.Clone(adms)
	byOrder := !slices.ContainsFunc(s, func(a Admission) bool { return a.Order <= 0 })
	slices.SortStableFunc(s, func(a, b Admission) int {
		if byOrder {
			return cmpInt(a.Order, b.Order)
		}
		if a.ActivatedAt != b.ActivatedAt {
			return cmpInt(a.ActivatedAt, b.ActivatedAt)
		}
		return cmpInt(a.Ticket, b.Ticket)
	})
	tickets := make([]int64, len(s))
	for i, a := range s {
		tickets[i] = a.Ticket
	}
	n := int64(len(s))
	return countInversions(tickets, make([]int64, len(tickets))), n * (n - 1) / 2
}

// countInversions counts i < j with v[i] > v[j] by merge sort: O(n log n).
func countInversions(v, buf []int64) int64 {
	if len(v) < 2 {
		return 0
	}
	mid := len(v) / 2
	n := countInversions(v[:mid], buf[:mid]) + countInversions(v[mid:], buf[mid:])
	i, j, k := 0, mid, 0
	for i < mid && j < len(v) {
		if v[i] <= v[j] {
			buf[k] = v[i]
			i++
		} else {
			buf[k] = v[j]
			n += int64(mid - i)
			j++
		}
		k++
	}
	k += copy(buf[k:], v[i:mid])
	copy(buf[k:], v[j:])
	copy(v, buf[:len(v)])
	return n
}

// MaxConcurrent is the most users that saw themselves inside at once: from
// first seeing ACTIVE until sending their leave. It never counts a user the
// server had not admitted, so a value above capacity is a real violation.
// end closes intervals still open.
func MaxConcurrent(adms []Admission, end int64) int64 {
	type edge struct {
		at    int64
		delta int64
	}
	edges := make([]edge, 0, 2*len(adms))
	for _, a := range adms {
		left := a.LeftAt
		if left == 0 {
			left = end
		}
		edges = append(edges, edge{a.SeenAt, 1}, edge{left, -1})
	}
	// At equal times a leave comes first: the slot was free before it was taken.
	slices.SortFunc(edges, func(a, b edge) int {
		if a.at != b.at {
			return cmpInt(a.at, b.at)
		}
		return cmpInt(a.delta, b.delta)
	})
	var cur, peak int64
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PerMinute reads the pace of admission from the server's activation
// times: the most admissions in any 60 seconds, and the average per minute
// over the span from the first to the last (0 with fewer than two).
func PerMinute(adms []Admission) (maxInAMinute int64, perMinute float64) {
	at := make([]int64, 0, len(adms))
	for _, a := range adms {
		if a.ActivatedAt > 0 {
			at = append(at, a.ActivatedAt)
		}
	}
	slices.Sort(at)
	const minute = int64(60_000_000) // µs
	j := 0
	for i := range at {
		for at[i]-at[j] >= minute {
			j++
		}
		maxInAMinute = max(maxInAMinute, int64(i-j+1))
	}
	if n := len(at); n > 1 && at[n-1] > at[0] {
		perMinute = float64(n-1) / (float64(at[n-1]-at[0]) / float64(minute))
	}
	return maxInAMinute, perMinute
}
