package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/api"
)

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection: the gate's
// proxy flushes streamed responses and hijacks WebSocket upgrades.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// observe gives every request an id (X-Request-Id, kept from the client when
// well-formed), counts it by route and code, and logs it: at debug level, at
// warn for a 5xx. Logs name the route pattern, never the path, which holds
// the session id (a bearer secret).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [8]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		d := time.Since(start)
		s.metrics.HTTP(route, sw.code, d)
		level := slog.LevelDebug
		if sw.code >= 500 {
			level = slog.LevelWarn
		}
		if s.log.Enabled(r.Context(), level) {
			s.log.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "route", route,
				"status", sw.code, "duration_ms", float64(d.Microseconds())/1000, "client", s.clientIP(r).String())
		}
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// API deadlines: a request's body must arrive, and its answer leave,
// within these.
const (
	apiReadTimeout  = 10 * time.Second
	apiWriteTimeout = 15 * time.Second
)

// limitConcurrency gives API requests (the page included) their deadlines
// and answers 503 once MaxConcurrent are in flight, rather than queueing
// without bound while a crowd arrives. What the gate proxies has a limit
// and deadlines of its own.
func (s *Server) limitConcurrency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.enter(w) {
			return
		}
		defer s.exit()
		next.ServeHTTP(w, r)
	})
}

// enter takes a place among the API requests in flight and sets the
// request's deadlines, or answers 503 and reports false.
func (s *Server) enter(w http.ResponseWriter) bool {
	if s.inflight != nil {
		select {
		case s.inflight <- struct{}{}:
		default:
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, api.CodeOverloaded, "", "the waiting room is at its limit of requests in flight; try again")
			return false
		}
	}
	rc := http.NewResponseController(w)
	now := time.Now()
	rc.SetReadDeadline(now.Add(apiReadTimeout))
	rc.SetWriteDeadline(now.Add(apiWriteTimeout))
	return true
}

func (s *Server) exit() {
	if s.inflight != nil {
		<-s.inflight
	}
}

// clientIP is the request's client: the peer address, or, when the peer is
// a trusted proxy, the nearest untrusted address in X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // a malformed hop: trust nothing beyond the proxy
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a
		}
		addr = a
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
