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
