package server

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiterForgetsLeastRecentAddressesPastItsBound(t *testing.T) {
	l := newIPLimiter(1, 1, 1000)
	now := time.Unix(0, 0)
	for i := range 50_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("a new address %v was refused", a)
		}
	}
	if n := l.len(); n != 1000 {
		t.Fatalf("the limiter remembers %d addresses after 50,000, want its bound 1000", n)
	}
	recent := netip.AddrFrom4([4]byte{10, 0, 195, 79}) // the last one: still limited
	if ok, _ := l.allow(recent, now); ok {
		t.Fatal("the most recent address got a second token within its second")
	}
}
