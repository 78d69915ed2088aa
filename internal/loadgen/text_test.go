package loadgen

import (
	"testing"
	"time"
)

// TestLatencyRowsCountEveryRequestOnce: the drawn histogram puts each
// request in the one row whose bound is the first at or above it.
func TestLatencyRowsCountEveryRequestOnce(t *testing.T) {
	h := newHist()
	lat := map[time.Duration]int64{time.Millisecond: 900, 3 * time.Millisecond: 80, 40 * time.Millisecond: 19, 2 * time.Second: 1}
	for d, n := range lat {
		for range n {
			record(h, d)
		}
	}
	rows := latencyRows(summarize(h))
	if len(rows) != histRows {
		t.Fatalf("%d rows, want %d", len(rows), histRows)
	}
	var total int64
	for i, row := range rows {
		total += row.count
		if i > 0 && row.upTo <= rows[i-1].upTo {
			t.Fatalf("row %d bound %d not above %d", i, row.upTo, rows[i-1].upTo)
		}
	}
	if total != 1000 {
		t.Fatalf("rows count %d requests, want 1000", total)
	}
	if rows[0].count != 900 || rows[len(rows)-1].count != 1 {
		t.Fatalf("fastest row %d (want 900), slowest %d (want 1): %v", rows[0].count, rows[len(rows)-1].count, rows)
	}
	if got := latencyRows(summarize(newHist())); got != nil {
		t.Fatalf("an empty histogram draws %v", got)
	}
}
