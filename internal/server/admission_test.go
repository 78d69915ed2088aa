package server_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/memstore"
	"github.com/wrctl/wrctl/internal/room/roomtest"
)

// slowTick keeps the granter's safety-net tick out of the way, so only
// event-driven admission (notifications and deadline timers) can pass.
const slowTick = time.Hour

func TestCapacityNeverExceededUnderConcurrentJoins(t *testing.T) {
	// A standard queue gives up order, never safety.
	for _, backend := range append(backends, "sqs-standard") {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			o := defaultOptions()
			o.policy.Capacity = 5
			h := newHarness(t, backend, o)
			const users = 200
			var maxActive atomic.Int64
			stop := make(chan struct{})
			watched := make(chan struct{})
			go func() { // watch the store's count while joins pour in
				defer close(watched)
				for {
					if a := h.stats("E1").Active; a > maxActive.Load() {
						maxActive.Store(a)
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
			ids := make([]string, users)
			var wg sync.WaitGroup
			for i := range users {
				wg.Go(func() { ids[i] = h.join("E1", fmt.Sprintf("U%03d", i)).SessionID })
			}
			wg.Wait()
			await.Until(t, 20*time.Second, "capacity filled", func() bool { return h.stats("E1").Active >= 5 })
			close(stop)
			<-watched
			st := h.stats("E1")
			if maxActive.Load() > 5 || st.Active != 5 || st.Waiting != users-5 || st.Joined != users {
				t.Fatalf("max active seen %d, stats %+v; want at most 5 active and %d waiting", maxActive.Load(), st, users-5)
			}
			active := 0
			for _, id := range ids {
				if h.status(id).Status == api.StatusActive {
					active++
				}
			}
			if active != 5 {
				t.Fatalf("%d sessions report ACTIVE, capacity 5", active)
			}
		})
	}
}

func TestFIFOAdmissionOrderAndPromptLeave(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			o := defaultOptions()
			o.policy.Capacity = 1
			o.granter.Tick = slowTick
			h := newHarness(t, backend, o)
			const users = 8
			ids := make([]string, users)
			for i := range ids {
				s := h.join("E1", fmt.Sprintf("U%d", i))
				ids[i] = s.SessionID
			}
			for i, id := range ids {
				// Each leave must admit the next user through the store's
				// notification: the tick is an hour away.
				await.Until(t, 10*time.Second, fmt.Sprintf("user %d admitted", i), func() bool { return h.status(id).Status == api.StatusActive })
				for j := i + 1; j < users; j++ {
					s := h.status(ids[j])
					if s.Status != api.StatusWaiting || *s.Position != int64(j-i) {
						t.Fatalf("while user %d is inside, user %d is %s at position %v; want WAITING at %d", i, j, s.Status, s.Position, j-i)
					}
				}
				if c := h.post(id, "leave"); c != http.StatusNoContent {
					t.Fatalf("leave = %d", c)
				}
			}
			if st := h.stats("E1"); st.Admitted != users || st.Left != users {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestAdmissionOrderAcrossEvents(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			o := defaultOptions()
			o.policy.Capacity = 2
			h := newHarness(t, backend, o)
			// A full event must not hold up another.
			var e1 []string
			for i := range 4 {
				e1 = append(e1, h.join("E1", fmt.Sprint(i)).SessionID)
			}
			e2 := h.join("E2", "x").SessionID
			await.Until(t, 10*time.Second, "E2 admitted while E1 is full", func() bool { return h.status(e2).Status == api.StatusActive })
			await.Until(t, 10*time.Second, "E1 filled", func() bool { return h.stats("E1").Active == 2 })
			for i, id := range e1 {
				want := api.StatusActive
				if i >= 2 {
					want = api.StatusWaiting
				}
				if got := h.status(id).Status; got != want {
					t.Fatalf("E1 user %d = %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestHeartbeatExpiryFreesTheSlot(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			o := defaultOptions()
			o.policy.Capacity = 1
			o.policy.HeartbeatTTL = time.Second
			o.granter.Tick = slowTick
			h := newHarness(t, backend, o)
			a := h.join("E1", "A").SessionID
			b := h.join("E1", "B").SessionID
			await.Until(t, 10*time.Second, "A admitted", func() bool { return h.status(a).Status == api.StatusActive })
			// A never heartbeats; B keeps polling. The granter's deadline
			// timer, not the tick, must admit B when A expires.
			await.Until(t, 10*time.Second, "B admitted after A expired", func() bool { return h.status(b).Status == api.StatusActive })
			got := h.status(a)
			if got.Status != api.StatusExpired || got.EndReason != string(room.ReasonHeartbeat) {
				t.Fatalf("A = %s/%s, want EXPIRED/heartbeat", got.Status, got.EndReason)
			}
			// A heartbeating B stays.
			deadline := time.Now().Add(2500 * time.Millisecond)
			for time.Now().Before(deadline) {
				if c := h.post(b, "heartbeat"); c != http.StatusNoContent {
					t.Fatalf("heartbeat of active B = %d", c)
				}
				time.Sleep(200 * time.Millisecond) // the client's heartbeat cadence
			}
			if s := h.status(b); s.Status != api.StatusActive {
				t.Fatalf("heartbeating B = %s", s.Status)
			}
		})
	}
}

// TestAbandonedWaitingSessionIsSkipped runs the room on a memory store
// whose clock the test moves, so who outlives the waiting TTL is decided
// by the test's steps, not by how fast the machine runs them.
func TestAbandonedWaitingSessionIsSkipped(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			o := defaultOptions()
			o.policy.Capacity = 1
			o.policy.WaitingTTL = 3 * time.Second
			clk := roomtest.NewClock(roomtest.T0)
			o.store = memstore.New(memstore.Config{Clock: clk.Now}, room.StaticPolicies{Default: o.policy})
			o.now = clk.Now
			h := newHarness(t, backend, o)
			a := h.join("E1", "A").SessionID
			b := h.join("E1", "B").SessionID // never polls again
			c := h.join("E1", "C").SessionID
			await.Until(t, 10*time.Second, "A admitted", func() bool { return h.status(a).Status == api.StatusActive })
			clk.Advance(2 * time.Second)
			h.status(c) // C polls within the TTL, and so stays
			clk.Advance(2 * time.Second)
			// B's TTL ran out 1 s ago; the granter's sweep ends it.
			await.Until(t, 10*time.Second, "B abandoned", func() bool {
				s, _ := h.Store.Get(t.Context(), b)
				return s.Status == api.StatusExpired
			})
			if s := h.status(c); s.Status != api.StatusWaiting || *s.Position != 1 {
				t.Fatalf("C = %s at %v, want WAITING at position 1 (B no longer counts)", s.Status, s.Position)
			}
			if code := h.post(a, "leave"); code != http.StatusNoContent {
				t.Fatal(code)
			}
			await.Until(t, 10*time.Second, "C admitted", func() bool { return h.status(c).Status == api.StatusActive })
			sb := h.status(b)
			if sb.Status != api.StatusExpired || sb.EndReason != string(room.ReasonAbandoned) || sb.ActivatedAt != nil {
				t.Fatalf("B = %+v, want EXPIRED/abandoned, never activated", sb)
			}
			if st := h.stats("E1"); st.Admitted != 2 {
				t.Fatalf("admitted %d, want 2 (A and C)", st.Admitted)
			}
		})
	}
}
