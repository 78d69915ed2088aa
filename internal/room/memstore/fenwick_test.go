package memstore

import (
	"math/rand/v2"
	"testing"
)

// TestFenwickMatchesAModel drives the tree as the store does: new tickets
// always above the last, waves of admissions that empty the line, and
// checks every prefix sum and the head against a plain set. An empty line
// must not slide the window past tickets not yet issued.
func TestFenwickMatchesAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var f fenwick
	waiting := map[int64]bool{}
	next := int64(0)
	for round := range 200 {
		for range rng.IntN(700) + 1 { // joins
			next++
			f.add(next, 1)
			waiting[next] = true
		}
		for i := range next + 1 { // admissions: most of the line, at times all of it
			if waiting[i] && (round%3 == 0 || rng.IntN(4) > 0) {
				f.add(i, -1)
				delete(waiting, i)
			}
		}
		head := next + 1
		for i := range next + 1 {
			if waiting[i] {
				head = i
				break
			}
		}
		if len(waiting) > 0 && f.first() != head {
			t.Fatalf("round %d: first = %d, want %d", round, f.first(), head)
		}
		var sum int64
		for i := f.base + 1; i <= next; i++ {
			if waiting[i] {
				sum++
			}
			if got := f.sum(i); got != sum {
				t.Fatalf("round %d: sum(%d) = %d, want %d", round, i, got, sum)
			}
		}
	}
}
