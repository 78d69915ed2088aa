package server

import (
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// maxLimiterAddrs bounds the client addresses the join limiter remembers:
// past it the least recently seen address is forgotten (it starts again
// with a full bucket), so no churn of addresses grows it.
const maxLimiterAddrs = 100_000

// ipLimiter is a token bucket per client IP in a bounded LRU.
type ipLimiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets *lru.Cache[netip.Addr, *rate.Limiter]
}

func newIPLimiter(perSecond float64, burst int, size int) *ipLimiter {
	if size <= 0 {
		size = maxLimiterAddrs
	}
	c, _ := lru.New[netip.Addr, *rate.Limiter](size) // errors only on a size <= 0
	return &ipLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), buckets: c}
}

// allow takes a token for ip, or says how long until one is free.
func (l *ipLimiter) allow(ip netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.buckets.Get(ip)
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.buckets.Add(ip, lim)
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// len is how many addresses the limiter remembers.
func (l *ipLimiter) len() int { return l.buckets.Len() }
