package room

import (
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"time"
)

// Shuffle is the record of an event's start: the pre-queue's random order,
// kept so that it can be audited afterwards.
type Shuffle struct {
	// At is when the shuffle ran (by the room's clock), StartsAt the start
	// it was for.
	At, StartsAt time.Time
	// Seed is the 32-byte ChaCha8 seed, hex, drawn from crypto/rand: with
	// Order's tickets sorted, PermuteWithSeed(len, seed) gives Order again.
	Seed string
	// Order lists the pre-queued sessions' tickets (join sequence) in their
	// new order: Order[0] is first in line after the start.
	Order []int64
}

// NewSeed draws a shuffle seed from crypto/rand.
func NewSeed() [32]byte {
	var seed [32]byte
	rand.Read(seed[:]) // never fails on supported platforms
	return seed
}

// PermuteWithSeed is a uniformly random permutation of 0..n-1: Fisher–Yates
// driven by ChaCha8 keyed with seed, a cryptographically strong generator,
// so the order cannot be predicted or steered, yet the seed reproduces it.
func PermuteWithSeed(n int, seed [32]byte) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	r := mrand.New(mrand.NewChaCha8(seed))
	for i := n - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

// SeedString is a seed as Shuffle records it.
func SeedString(seed [32]byte) string { return hex.EncodeToString(seed[:]) }
