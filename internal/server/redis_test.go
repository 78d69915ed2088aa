package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
	"github.com/wrctl/wrctl/internal/redistest"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
)

func TestRedisOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	o := defaultOptions()
	o.noGranter = true // keep every message on the queue to count them
	st, err := redisstore.New(context.Background(), redisstore.Config{Addrs: []string{rs.Addr}}, room.StaticPolicies{Default: o.policy})
	if err != nil {
		t.Fatal(err)
	}
	q := memqueue.New(memqueue.Config{})
	o.store, o.queue = st, q
	h := newHarness(t, "memory", o)
	first := h.join("E1", "U0")

	rs.Stop()
	r := h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"E1","userId":"U1"}`))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("join with Redis down = %d (Retry-After %q) %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	problem(t, r)
	if q.Len() != 1 {
		t.Fatalf("queue holds %d messages after a refused join, want 1", q.Len())
	}
	for _, path := range []string{api.SessionsPath + "/" + first.SessionID, "/readyz"} {
		if r := h.do("GET", path, "", nil); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("GET %s with Redis down = %d %s", path, r.Status, r.Body)
		}
	}

	if err := rs.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "joins succeed once Redis is back", func() bool {
		r := h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"E1","userId":"U1"}`))
		return r.Status == http.StatusAccepted
	})
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("readyz after recovery = %d %s", r.Status, r.Body)
	}
	if q.Len() != 2 {
		t.Fatalf("queue holds %d messages, want 2 (one per accepted join)", q.Len())
	}
}

func TestAdmissionOnTheRedisStore(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			rs := redistest.New(t)
			o := defaultOptions()
			o.policy.Capacity = 1
			o.granter.Tick = slowTick
			st, err := redisstore.New(context.Background(), redisstore.Config{Addrs: []string{rs.Addr}}, room.StaticPolicies{Default: o.policy})
			if err != nil {
				t.Fatal(err)
			}
			o.store = st
			h := newHarness(t, backend, o)
			a, b := h.join("E1", "A"), h.join("E1", "B")
			eventually(t, 10*time.Second, "A admitted", func() bool { return h.status(a.SessionID).Status == api.StatusActive })
			if s := h.status(b.SessionID); s.Status != api.StatusWaiting || *s.Position != 1 {
				t.Fatalf("B = %+v", s)
			}
			if c := h.post(a.SessionID, "leave"); c != http.StatusNoContent {
				t.Fatal(c)
			}
			// Only the pub/sub notification can admit B: the tick is an hour away.
			eventually(t, 10*time.Second, "B admitted after A left", func() bool { return h.status(b.SessionID).Status == api.StatusActive })
		})
	}
}
