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
	// PreQueued is a user that joined into the event's pre-queue, before
	// its start.
	PreQueued bool
	// JoinedAt is when the user's join was answered WAITING (0: it was
	// admitted at its join, or the report predates it).
	JoinedAt int64
}

// MarshalJSON writes an admission as a compact array:
// [ticket, activatedAt, seenAt, leftAt, order, preQueued (0 or 1), joinedAt].
func (a Admission) MarshalJSON() ([]byte, error) {
	pre := "0"
	if a.PreQueued {
		pre = "1"
	}
	return []byte("[" + itoa(a.Ticket) + "," + itoa(a.ActivatedAt) + "," + itoa(a.SeenAt) + "," + itoa(a.LeftAt) + "," + itoa(a.Order) + "," + pre +
		"," + itoa(a.JoinedAt) + "]"), nil
}

// UnmarshalJSON reads the compact array (shards from older runs have no
// order, or no pre-queue flag).
func (a *Admission) UnmarshalJSON(b []byte) error {
	var v [7]int64
	var err error
	for _, n := range []int{7, 6, 5, 4} {
		v = [7]int64{}
		if err = unmarshalInts(b, v[:n]); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	a.Ticket, a.ActivatedAt, a.SeenAt, a.LeftAt, a.Order, a.PreQueued, a.JoinedAt = v[0], v[1], v[2], v[3], v[4], v[5] == 1, v[6]
	return nil
}

// StartAudit checks an event's start: the users who joined its pre-queue
// must be admitted in an order unrelated to their join order, all of them
// before anyone who joined after the start.
type StartAudit struct {
	// PreQueued counts the admitted users who had joined the pre-queue;
	// AfterStart those who joined after the start.
	PreQueued  int64 `json:"preQueued"`
	AfterStart int64 `json:"afterStart"`
	// RankCorrelation is Spearman's rank correlation between the
	// pre-queued users' join order (ticket) and their admission order: near
	// 0 for a fair shuffle (its standard error is about 1/sqrt(n-1)), 1
	// for join order kept. Null with fewer than 3.
	RankCorrelation *float64 `json:"rankCorrelation"`
	// Overtaken counts the users who joined after the start yet were
	// admitted before some pre-queued user: 0 when the pre-queue goes first.
	Overtaken int64 `json:"overtaken"`
	// ShuffleSize is how many the server's record of the start ordered
	// (-1: not read, without --admin-token); ShuffleMatches says the
	// pre-queued users were admitted in the record's order.
	ShuffleSize    int64 `json:"shuffleSize"`
	ShuffleMatches bool  `json:"shuffleMatches"`
}

// AuditStart audits an event's start from its admissions (ordered by the
// server's admission number), or nil when nobody was pre-queued. record,
// if not nil, is the server's shuffle record: tickets in the drawn order.
func AuditStart(adms []Admission, record []int64) *StartAudit {
	var pre, after []Admission
	for _, a := range adms {
		if a.PreQueued {
			pre = append(pre, a)
		} else {
			after = append(after, a)
		}
	}
	if len(pre) == 0 {
		return nil
	}
	byOrder := func(a, b Admission) int { return cmpInt(a.Order, b.Order) }
	slices.SortFunc(pre, byOrder)
	s := &StartAudit{PreQueued: int64(len(pre)), AfterStart: int64(len(after)), ShuffleSize: -1}
	last := pre[len(pre)-1].Order
	for _, a := range after {
		if a.Order < last {
			s.Overtaken++
		}
	}
	if n := len(pre); n >= 3 {
		// Admission ranks are 0..n-1 as sorted; ticket ranks by sorting.
		byTicket := slices.Clone(pre)
		slices.SortFunc(byTicket, func(a, b Admission) int { return cmpInt(a.Ticket, b.Ticket) })
		rank := make(map[int64]int, n)
		for i, a := range byTicket {
			rank[a.Ticket] = i
		}
		var d2 float64
		for i, a := range pre {
			d := float64(i - rank[a.Ticket])
			d2 += d * d
		}
		rho := 1 - 6*d2/(float64(n)*(float64(n)*float64(n)-1))
		s.RankCorrelation = &rho
	}
	if record != nil {
		s.ShuffleSize = int64(len(record))
		// The pre-queued users' tickets, in admission order, must come in
		// the record's order (some may have left the line before theirs).
		place := make(map[int64]int, len(record))
		for i, t := range record {
			place[t] = i
		}
		s.ShuffleMatches = true
		prev := -1
		for _, a := range pre {
			p, ok := place[a.Ticket]
			if !ok || p < prev {
				s.ShuffleMatches = false
				break
			}
			prev = p
		}
	}
	return s
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
