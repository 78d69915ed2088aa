package memstore

import (
	"math/rand/v2"
	"testing"
)

func TestFenwickMatchesPrefixSums(t *testing.T) {
	var f fenwick
	var plain []int64
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 5000 {
		i := int64(r.IntN(3000) + 1)
		for int64(len(plain)) <= i {
			plain = append(plain, 0)
		}
		plain[i]++
		f.add(i, 1)
		if step%97 == 0 {
			var want int64
			for j := int64(0); j < int64(len(plain)); j++ {
				want += plain[j]
				if got := f.sum(j); got != want {
					t.Fatalf("sum(%d) = %d, want %d", j, got, want)
				}
			}
		}
	}
}

// TestFenwickSlidesWithTheLine runs a line whose tickets only grow while the
// front drains: the window slides, and sums and the head stay exact.
func TestFenwickSlidesWithTheLine(t *testing.T) {
	var f fenwick
	live := map[int64]bool{}
	r := rand.New(rand.NewPCG(3, 4))
	next, low := int64(1), int64(1)
	for step := range 200_000 {
		if r.IntN(2) == 0 || len(live) == 0 {
			live[next] = true
			f.add(next, 1)
			next++
		} else {
			for !live[low] {
				low++
			}
			victim := low
			if r.IntN(4) == 0 { // someone further back leaves
				victim = low + int64(r.IntN(int(next-low)))
			}
			if live[victim] {
				delete(live, victim)
				f.add(victim, -1)
			}
		}
		if step%5000 == 0 && len(live) > 0 {
			for low < next && !live[low] {
				low++
			}
			if got := f.first(); got != low {
				t.Fatalf("step %d: first = %d, want %d", step, got, low)
			}
			var before int64
			for i := low; i < next; i++ {
				if got := f.sum(i); got != before+b2i(live[i]) {
					t.Fatalf("step %d: sum(%d) = %d, want %d", step, i, got, before+b2i(live[i]))
				}
				before += b2i(live[i])
			}
		}
	}
	if n := len(f.tree) - 1; int64(n) > 4*(next-low)+2*minSlide {
		t.Fatalf("tree of %d for a live span of %d tickets: it did not slide", n, next-low)
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
