package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/redistest"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
)

// fleet is several `wrctl serve` replicas sharing one Redis and one SQS queue.
type fleet struct {
	t        *testing.T
	args     []string
	mu       sync.Mutex
	replicas []*serveProc
	alive    []bool
	http     *http.Client
}

func newFleet(t *testing.T, n int, args ...string) *fleet {
	f := &fleet{t: t, args: args, http: &http.Client{Timeout: 10 * time.Second}}
	for range n {
		f.add()
	}
	return f
}

func (f *fleet) add() {
	s := startServe(f.t, nil, append([]string{"--addr", "127.0.0.1:0"}, f.args...)...)
	f.mu.Lock()
	f.replicas = append(f.replicas, s)
	f.alive = append(f.alive, true)
	f.mu.Unlock()
}

// pick returns a live replica at random.
func (f *fleet) pick() *serveProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var live []*serveProc
	for i, s := range f.replicas {
		if f.alive[i] {
			live = append(live, s)
		}
	}
	return live[rand.IntN(len(live))]
}

func (f *fleet) kill(i int) {
	f.mu.Lock()
	f.alive[i] = false
	s := f.replicas[i]
	f.mu.Unlock()
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stopAll sends SIGTERM to every replica at once and waits for them.
func (f *fleet) stopAll() {
	var wg sync.WaitGroup
	for i, s := range f.replicas {
		if f.alive[i] {
			f.alive[i] = false
			wg.Go(func() {
				if code := s.stop(); code != 0 {
					f.t.Errorf("replica %d exited %d", i, code)
				}
			})
		}
	}
	wg.Wait()
}

// call sends a request to a live replica, moving to another one when a
// replica cannot be reached (it may just have been killed).
func (f *fleet) call(method, path, body string) (int, []byte) {
	return f.callKey(method, path, body, "")
}

// callKey is call with an Idempotency-Key, so a join retried on another
// replica gets its session back.
func (f *fleet) callKey(method, path, body, key string) (int, []byte) {
	for attempt := 0; ; attempt++ {
		s := f.pick()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := f.http.Do(req)
		if err != nil {
			if attempt > 50 {
				f.t.Errorf("%s %s: %v", method, path, err)
				return 0, nil
			}
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 50 {
			continue
		}
		return resp.StatusCode, b
	}
}

type fullSession struct {
	SessionID   string     `json:"sessionId"`
	Status      string     `json:"status"`
	Ticket      int64      `json:"ticket"`
	Admission   int64      `json:"admission"`
	Position    *int64     `json:"position"`
	StartsAt    *time.Time `json:"startsAt"`
	ActivatedAt *time.Time `json:"activatedAt"`
}

func (f *fleet) join(event, user string) fullSession {
	code, b := f.callKey("POST", "/api/waiting-room/sessions", `{"eventId":"`+event+`","userId":"`+user+`"}`, "key-"+user)
	if code != http.StatusAccepted {
		f.t.Fatalf("join %s: %d %s", user, code, b)
	}
	var s fullSession
	json.Unmarshal(b, &s)
	return s
}

func (f *fleet) status(id string) fullSession {
	code, b := f.call("GET", "/api/waiting-room/sessions/"+id, "")
	var s fullSession
	if code == http.StatusOK {
		json.Unmarshal(b, &s)
	}
	return s
}

// held reads a replica's held-messages gauge.
func held(s *serveProc) int {
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	n, _, _ := loadgen.SumMetric(resp.Body, "wrctl_granter_held_messages")
	return int(n)
}

func TestReplicasShareOneRoomAndSurviveAKill(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	queueURL := createQueue(t, uniqueQueue("e2e-replicas"))["queueUrl"].(string)
	const capacity, users = 4, 120
	prefix := "fleet"
	f := newFleet(t, 3, "--queue", "sqs", "--queue-url", queueURL, "--sqs-endpoint", emu.URL,
		"--store", "redis", "--redis-addr", rs.Addr, "--redis-prefix", prefix,
		"--capacity", strconv.Itoa(capacity), "--visibility-timeout", "3s", "--heartbeat-ttl", "5s", "--waiting-ttl", "30s")

	// The test's own view of the shared store, for the audit.
	policies := room.StaticPolicies{Default: room.Policy{Capacity: capacity, HeartbeatTTL: 5 * time.Second, WaitingTTL: 30 * time.Second, MaxActive: 15 * time.Minute}}
	audit, err := redisstore.New(context.Background(), redisstore.Config{Addrs: []string{rs.Addr}, Prefix: prefix}, policies)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	maxSeen := watchActive(audit, "DROP")

	ids := joinWhileFull(t, f, capacity, users)
	u := &fleetUsers{}
	done := u.run(t, f, ids)
	killed := killOneHolding(t, f, &u.admitted, users/3)
	<-done
	seen := maxSeen()

	st, err := audit.Stats(context.Background(), "DROP")
	if err != nil {
		t.Fatal(err)
	}
	// No loss, nobody twice: every join admitted exactly once, then left.
	if st.Joined != users || st.Admitted != users || st.Left != users || st.Active != 0 || st.Waiting != 0 {
		t.Fatalf("stats after the run = %+v; want %d joined, admitted once each and left", st, users)
	}
	if u.maxInside.Load() > capacity || seen > capacity {
		t.Fatalf("capacity %d exceeded: %d users saw themselves inside at once, %d active seen in the store", capacity, u.maxInside.Load(), seen)
	}
	inversions, pairs := admissionInversions(t, audit, ids)
	t.Logf("%d users, %d joining at once on 3 replicas while full (replica %d killed with messages in flight), capacity %d: "+
		"max %d inside seen by the users, %d active seen in the store; %d inversions in %d pairs",
		users, users-capacity, killed, capacity, u.maxInside.Load(), seen, inversions, pairs)
	if inversions != 0 {
		t.Fatalf("%d admission-order inversions against ticket order", inversions)
	}
}

// watchActive reads the event's active count from the store every 2 ms
// until the function it returns is called, which returns the most seen.
func watchActive(audit *redisstore.Store, event string) func() int64 {
	var maxSeen atomic.Int64
	stop, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if st, err := audit.Stats(context.Background(), event); err == nil && st.Active > maxSeen.Load() {
				maxSeen.Store(st.Active)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-watched
		return maxSeen.Load()
	}
}

// joinWhileFull fills the event with its first users, then joins the rest
// all at once, each on a random replica, while it is full: tickets are
// taken in Redis and the messages reach SQS in whatever order the
// replicas' sends finish.
func joinWhileFull(t *testing.T, f *fleet, capacity, users int) []string {
	ids := make([]string, users)
	for i := range capacity {
		ids[i] = f.join("DROP", fmt.Sprintf("user-%03d", i)).SessionID
	}
	for i := range capacity {
		await.Until(t, 30*time.Second, fmt.Sprintf("user %d admitted into an empty event", i), func() bool { return f.status(ids[i]).Status == "ACTIVE" })
	}
	start := make(chan struct{})
	var joins sync.WaitGroup
	for i := capacity; i < users; i++ {
		joins.Go(func() {
			<-start
			ids[i] = f.join("DROP", fmt.Sprintf("user-%03d", i)).SessionID
		})
	}
	close(start)
	joins.Wait()
	return ids
}

// fleetUsers count the users admitted and, observed from outside the
// store, how many were inside at once: a user counts itself in from seeing
// ACTIVE until just before it sends its leave, so the count never exceeds
// what the store really had inside.
type fleetUsers struct{ admitted, inside, maxInside atomic.Int64 }

func (u *fleetUsers) enter() {
	n := u.inside.Add(1)
	for m := u.maxInside.Load(); n > m && !u.maxInside.CompareAndSwap(m, n); m = u.maxInside.Load() {
	}
}

// run has every user poll until admitted, stay a moment and leave; the
// channel closes when all are done.
func (u *fleetUsers) run(t *testing.T, f *fleet, ids []string) <-chan struct{} {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				switch s := f.status(id); s.Status {
				case "ACTIVE":
					u.admitted.Add(1)
					u.enter()
					f.call("POST", "/api/waiting-room/sessions/"+id+":heartbeat", "")
					time.Sleep(time.Duration(20+rand.IntN(40)) * time.Millisecond) // the user's time inside
					u.inside.Add(-1)
					if code, b := f.call("POST", "/api/waiting-room/sessions/"+id+":leave", ""); code != http.StatusNoContent {
						t.Errorf("leave %s: %d %s", id, code, b)
					}
					return
				case "LEFT", "EXPIRED":
					t.Errorf("session %s ended %s while waiting", id, s.Status)
					return
				}
				time.Sleep(20 * time.Millisecond) // the user's poll interval
			}
			t.Errorf("session %s never admitted", id)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// killOneHolding kills -9 a replica that holds messages in flight once
// after admissions have been made, and returns its index.
func killOneHolding(t *testing.T, f *fleet, admitted *atomic.Int64, after int64) int {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if admitted.Load() >= after {
			for i, s := range f.replicas {
				if held(s) > 0 {
					f.kill(i)
					return i
				}
			}
		}
		time.Sleep(5 * time.Millisecond) // polling the replicas' gauges
	}
	t.Fatal("no replica was seen holding messages to kill")
	return -1
}

// admissionInversions compares the store's admission numbers with the
// tickets: pairs admitted in the other order than they joined.
func admissionInversions(t *testing.T, audit *redisstore.Store, ids []string) (inversions, pairs int) {
	type adm struct{ ticket, order int64 }
	var order []adm
	for _, id := range ids {
		s, err := audit.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, adm{s.Seq, s.Admission})
	}
	slices.SortFunc(order, func(a, b adm) int { return cmp.Compare(a.order, b.order) })
	for i := range order {
		if order[i].order != int64(i+1) {
			t.Fatalf("admission numbers %v are not 1..%d", order, len(ids))
		}
		for j := i + 1; j < len(order); j++ {
			pairs++
			if order[j].ticket < order[i].ticket {
				inversions++
			}
		}
	}
	return inversions, pairs
}

func TestReplicasRestartKeepsEverySessionAndPosition(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	queueURL := createQueue(t, uniqueQueue("e2e-restart"))["queueUrl"].(string)
	args := []string{"--queue", "sqs", "--queue-url", queueURL, "--sqs-endpoint", emu.URL,
		"--store", "redis", "--redis-addr", rs.Addr, "--capacity", "2", "--waiting-ttl", "60s"}
	f := newFleet(t, 2, args...)
	var ids []string
	for i := range 8 {
		ids = append(ids, f.join("E1", fmt.Sprint(i)).SessionID)
	}
	eventually := func(what string, cond func() bool) { t.Helper(); await.Until(t, 20*time.Second, what, cond) }
	eventually("two admitted", func() bool { return f.status(ids[1]).Status == "ACTIVE" })
	before := map[string]fullSession{}
	for _, id := range ids {
		before[id] = f.status(id)
	}

	f.stopAll()
	g := newFleet(t, 2, args...)
	for i, id := range ids {
		got := g.status(id)
		want := before[id]
		if got.Status != want.Status || fmt.Sprint(deref(got.Position)) != fmt.Sprint(deref(want.Position)) {
			t.Fatalf("user %d after restart = %s at %v, before %s at %v", i, got.Status, deref(got.Position), want.Status, deref(want.Position))
		}
	}
	// The line moves on under the new replicas, in order.
	for i, id := range ids {
		eventually(fmt.Sprintf("user %d admitted", i), func() bool { return g.status(id).Status == "ACTIVE" })
		if code, _ := g.call("POST", "/api/waiting-room/sessions/"+id+":leave", ""); code != http.StatusNoContent {
			t.Fatalf("leave: %d", code)
		}
		// With capacity 2, users i+1 and i+2 may now be inside; i+3 not yet.
		if j := i + 3; j < len(ids) {
			if s := g.status(ids[j]); s.Status != "WAITING" {
				t.Fatalf("user %d is %s before its turn", j, s.Status)
			}
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestHeldMessageOutlivesKilledReplicasWithoutDeadLettering is the
// dead-letter scenario from outside: a queue whose redrive policy moves a
// message after 2 receives, the replica holding the waiting user's message
// killed three times (a kill during a long poll spends a receive nobody
// sees, so the message does reach the dead-letter queue). The user must
// still be admitted when the slot frees, and no wake-up is left in the
// dead-letter queue.
func TestHeldMessageOutlivesKilledReplicasWithoutDeadLettering(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	r := wrctl(t, nil, "queue", "create", "--name", uniqueQueue("e2e-redrive"), "--max-receive-count", "2", "--sqs-endpoint", emu.URL, "--output", "json")
	if r.code != 0 {
		t.Fatalf("queue create: exit %d: %s", r.code, r.stderr)
	}
	var out struct {
		QueueURL string `json:"queueUrl"`
		DLQURL   string `json:"dlqUrl"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.DLQURL == "" {
		t.Fatalf("queue create printed %q: %v", r.stdout, err)
	}
	f := newFleet(t, 1, "--queue", "sqs", "--queue-url", out.QueueURL, "--sqs-endpoint", emu.URL,
		"--store", "redis", "--redis-addr", rs.Addr, "--capacity", "1", "--visibility-timeout", "2s",
		"--heartbeat-ttl", "60s", "--waiting-ttl", "60s")
	eventually := func(what string, cond func() bool) { t.Helper(); await.Until(t, 45*time.Second, what, cond) }
	a := f.join("REDRIVE", "a")
	eventually("a admitted", func() bool { return f.status(a.SessionID).Status == "ACTIVE" })
	b := f.join("REDRIVE", "b")
	for round := range 3 {
		live := len(f.replicas) - 1
		eventually(fmt.Sprintf("round %d: b's message held", round), func() bool { return held(f.replicas[live]) > 0 })
		f.kill(live)
		f.add()
		if s := f.status(b.SessionID); s.Status != "WAITING" {
			t.Fatalf("round %d: b is %s", round, s.Status)
		}
	}
	if code, body := f.call("POST", "/api/waiting-room/sessions/"+a.SessionID+":leave", ""); code != http.StatusNoContent {
		t.Fatalf("leave: %d %s", code, body)
	}
	eventually("b admitted once a left", func() bool { return f.status(b.SessionID).Status == "ACTIVE" })
	attrs, err := emu.Client().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       &out.DLQURL,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range attrs.Attributes {
		if v != "0" {
			t.Fatalf("dead-letter queue %s = %s, want 0", k, v)
		}
	}
	t.Logf("holder killed 3 times at max receive count 2: b admitted once a left, dead-letter queue empty")
}

// TestReplicasShareOneRateLimit: newUsersPerMinute is one token bucket in
// Redis, so three replicas admitting the same event together never pass
// it: in any stretch of time, the admissions (by the server's own
// activation times, one clock) are at most a second's burst plus the rate.
func TestReplicasShareOneRateLimit(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	queueURL := createQueue(t, uniqueQueue("e2e-rate"))["queueUrl"].(string)
	const users, perMinute = 30, 120
	f := newFleet(t, 3, "--queue", "sqs", "--queue-url", queueURL, "--sqs-endpoint", emu.URL,
		"--store", "redis", "--redis-addr", rs.Addr, "--redis-prefix", "rate",
		"--capacity", "1000", "--new-users-per-minute", strconv.Itoa(perMinute), "--waiting-ttl", "60s")
	ids := make([]string, users)
	var joins sync.WaitGroup
	for i := range users {
		joins.Go(func() { ids[i] = f.join("RATE", fmt.Sprintf("user-%02d", i)).SessionID })
	}
	joins.Wait()
	activated := make([]time.Time, users)
	await.Until(t, 90*time.Second, "everyone admitted at 2 a second", func() bool {
		done := true
		for i, id := range ids {
			if activated[i].IsZero() {
				if s := f.status(id); s.Status == "ACTIVE" && s.ActivatedAt != nil {
					activated[i] = *s.ActivatedAt
				} else {
					done = false
				}
			}
		}
		return done
	})
	slices.SortFunc(activated, func(a, b time.Time) int { return a.Compare(b) })
	burst, rate := 2.0, float64(perMinute)/60
	for i := range activated {
		for j := i; j < len(activated); j++ {
			span := activated[j].Sub(activated[i]).Seconds()
			if n := float64(j - i + 1); n > burst+rate*span+1e-3 {
				t.Fatalf("%v admissions within %.3fs: over the shared limit of %d a minute", n, span, perMinute)
			}
		}
	}
	span := activated[users-1].Sub(activated[0]).Seconds()
	t.Logf("3 replicas, newUsersPerMinute %d: %d admissions in %.2fs, %.2f a second (the setting: %.2f)",
		perMinute, users, span, float64(users-1)/span, rate)
}
