package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/await"
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
	o.policy.QueueAll = true
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
	await.Until(t, 10*time.Second, "joins succeed once Redis is back", func() bool {
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
			await.Until(t, 10*time.Second, "A admitted", func() bool { return h.status(a.SessionID).Status == api.StatusActive })
			if s := h.status(b.SessionID); s.Status != api.StatusWaiting || *s.Position != 1 {
				t.Fatalf("B = %+v", s)
			}
			if c := h.post(a.SessionID, "leave"); c != http.StatusNoContent {
				t.Fatal(c)
			}
			// Only the pub/sub notification can admit B: the tick is an hour away.
			await.Until(t, 10*time.Second, "B admitted after A left", func() bool { return h.status(b.SessionID).Status == api.StatusActive })
		})
	}
}

// TestReplicaWithClockAheadExpiresNobody runs two replicas on one Redis, one
// of them with its own clock an hour ahead (far past every TTL). Its sweeps,
// polls, heartbeats and tokens must all follow the room's clock (Redis's):
// nobody expires early and its tokens verify at the right time.
func TestReplicaWithClockAheadExpiresNobody(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	o := defaultOptions()
	o.policy.Capacity = 1
	o.policy.HeartbeatTTL = 20 * time.Second
	o.policy.WaitingTTL = 20 * time.Second
	st, err := redisstore.New(context.Background(), redisstore.Config{Addrs: []string{rs.Addr}}, room.StaticPolicies{Default: o.policy})
	if err != nil {
		t.Fatal(err)
	}
	o.store, o.queue = st, memqueue.New(memqueue.Config{})
	a := newHarness(t, "memory", o)
	skewed := o
	skewed.now = func() time.Time { return time.Now().Add(time.Hour) }
	skewed.granter.Tick = 20 * time.Millisecond // sweeps often
	b := newHarness(t, "memory", skewed)

	in := a.join("E1", "in")
	await.Until(t, 10*time.Second, "the first user admitted", func() bool { return a.status(in.SessionID).Status == api.StatusActive })
	waiting := b.join("E1", "waiting")
	sweeps := func() float64 { return scrape(t, b)["wrctl_store_requests_total{op=sweep,outcome=ok}"] }
	await.Until(t, 10*time.Second, "the skewed replica swept 20 times", func() bool { return sweeps() >= 20 })
	if c := b.post(in.SessionID, "heartbeat"); c != http.StatusNoContent {
		t.Fatalf("heartbeat through the skewed replica = %d", c)
	}
	s := b.status(in.SessionID)
	if s.Status != api.StatusActive {
		t.Fatalf("the active user = %s after the skewed replica's sweeps", s.Status)
	}
	if d := time.Until(*s.ExpiresAt); d > o.policy.HeartbeatTTL+5*time.Second || d < 0 {
		t.Fatalf("expiresAt %v is %v away: not the room's clock plus the heartbeat TTL", s.ExpiresAt, d)
	}
	if _, err := accesstoken.NewHS256Verifier(testSecret).Verify(context.Background(), s.AccessToken); err != nil {
		t.Fatalf("the skewed replica's access token does not verify now: %v", err)
	}
	if w := b.status(waiting.SessionID); w.Status != api.StatusWaiting || *w.Position != 1 {
		t.Fatalf("the waiting user = %+v after the skewed replica's sweeps", w)
	}
}
