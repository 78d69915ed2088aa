package server

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// connLimiter bounds open connections, in all and per client address. At
// the cap, a new connection first closes the longest-idle keep-alive one:
// a flood of idle connections cannot lock active clients out. Only when
// every connection is busy is the new one refused (closed at once).
type connLimiter struct {
	max, perAddr int

	mu    sync.Mutex
	conns map[net.Conn]*connEntry
	idle  *list.List // of net.Conn, longest idle first
	addrs map[netip.Addr]int
}

type connEntry struct {
	addr netip.Addr
	idle *list.Element // nil unless idle
}

func newConnLimiter(max, perAddr int) *connLimiter {
	return &connLimiter{max: max, perAddr: perAddr, conns: map[net.Conn]*connEntry{}, idle: list.New(), addrs: map[netip.Addr]int{}}
}

// listener wraps ln so that Accept enforces the limits.
func (l *connLimiter) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, l: l}
}

type limitedListener struct {
	net.Listener
	l *connLimiter
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ll.l.admit(c) {
			return c, nil
		}
		c.Close()
	}
}

func (l *connLimiter) admit(c net.Conn) bool {
	var addr netip.Addr
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		addr = ap.Addr().Unmap()
	}
	var evict []net.Conn
	defer func() {
		for _, e := range evict {
			e.Close() // outside the lock: Close runs the ConnState hook
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perAddr > 0 && l.addrs[addr] >= l.perAddr {
		return false
	}
	for n := len(l.conns); l.max > 0 && n >= l.max; n-- {
		front := l.idle.Front()
		if front == nil {
			return false
		}
		old := front.Value.(net.Conn)
		l.idle.Remove(front)
		l.conns[old].idle = nil
		evict = append(evict, old)
	}
	l.conns[c] = &connEntry{addr: addr}
	l.addrs[addr]++
	return true
}

// connState is the http.Server's ConnState hook.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.conns[c]
	if !ok {
		return
	}
	if e.idle != nil {
		l.idle.Remove(e.idle)
		e.idle = nil
	}
	switch st {
	case http.StateIdle:
		e.idle = l.idle.PushBack(c)
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
		if l.addrs[e.addr]--; l.addrs[e.addr] <= 0 {
			delete(l.addrs, e.addr)
		}
	}
}

// open is how many connections are open.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
