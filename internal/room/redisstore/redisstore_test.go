package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wrctl/wrctl/internal/redistest"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
	"github.com/wrctl/wrctl/internal/room/roomtest"
)

var prefixes atomic.Int64

// open returns a store on addrs with a key prefix of its own.
func open(t *testing.T, cfg redisstore.Config, p room.Policies) *redisstore.Store {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("t%d", prefixes.Add(1))
	}
	st, err := redisstore.New(context.Background(), cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformanceSingleNode(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	roomtest.Run(t, func(t *testing.T, p room.Policies, clock room.Clock) room.Store {
		return open(t, redisstore.Config{Addrs: []string{srv.Addr}, Clock: clock}, p)
	})
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	roomtest.Run(t, func(t *testing.T, p room.Policies, clock room.Clock) room.Store {
		return open(t, redisstore.Config{Addrs: c.Addrs(), Clock: clock}, p)
	})
}

func TestClusterSpreadsEventsOverShards(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	st := open(t, redisstore.Config{Addrs: c.Addrs(), Prefix: "spread"}, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	for i := range 30 {
		if _, _, err := st.Join(ctx, room.JoinRequest{EventID: fmt.Sprintf("event-%d", i), UserID: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	nodes := 0
	for _, n := range c.Nodes {
		if keysOn(t, n.Addr) > 0 {
			nodes++
		}
	}
	if nodes != 3 {
		t.Fatalf("30 events live on %d of 3 shards", nodes)
	}
}

func TestFreedReachesAnotherReplica(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	cfg := redisstore.Config{Addrs: []string{srv.Addr}, Prefix: "shared"}
	a := open(t, cfg, room.StaticPolicies{Default: roomtest.Policy})
	b := open(t, cfg, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	s, _, err := a.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.MarkEnqueued(ctx, "E1", s.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Grant(ctx, "E1", s.ID); err != nil || r.Outcome != room.Admitted {
		t.Fatalf("grant on the other replica = %v, %v", r.Outcome, err)
	}
	if _, err := a.Leave(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-b.Freed():
		if ev != "E1" {
			t.Fatalf("freed %q", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other replica heard of no freed slot")
	}
}

func TestSessionRecordsCarryTTLs(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	st := open(t, redisstore.Config{Addrs: []string{srv.Addr}, Prefix: "ttl", Retention: room.Retention{Ended: time.Minute}}, room.StaticPolicies{Default: roomtest.Policy})
	s, _, err := st.Join(context.Background(), room.JoinRequest{EventID: "E1", UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"ttl:{E1}:s:" + s.ID, "ttl:sid:" + s.ID} {
		ttl := pttl(t, srv.Addr, key)
		if ttl <= 0 {
			t.Fatalf("%s has no TTL (%v)", key, ttl)
		}
	}
	// The user's live session is a field of the event's users hash, gone
	// when the session ends.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	if got := c.HGet(context.Background(), "ttl:{E1}:us", "U1").Val(); got != s.ID {
		t.Fatalf("users hash names %q for U1, want %q", got, s.ID)
	}
	if _, err := st.Leave(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	if n := c.HLen(context.Background(), "ttl:{E1}:us").Val(); n != 0 {
		t.Fatalf("the users hash holds %d fields after the only session left", n)
	}
}

// TestOneClockIsTheServers checks that, without a test clock, deadlines
// come from the Redis server's TIME: two replicas agree whatever their own
// clocks say, because neither is asked.
func TestOneClockIsTheServers(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	st := open(t, redisstore.Config{Addrs: []string{srv.Addr}}, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	before, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := c.Time(ctx).Result()
	if s.CreatedAt.Before(before.Truncate(time.Millisecond)) || s.CreatedAt.After(after) {
		t.Fatalf("createdAt %v is not the server's time (between %v and %v)", s.CreatedAt, before, after)
	}
}

// TestRetriedJoinScriptKeepsTheSession loses the reply of the join script
// once: go-redis runs it again, and the user must still own a reachable
// session (the index is not deleted under it).
func TestRetriedJoinScriptKeepsTheSession(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	px := newReplyDropper(t, srv.Addr)
	st := open(t, redisstore.Config{Addrs: []string{px.addr}}, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	// Load the script first, so the reply lost is the one of a script
	// that ran, not a NOSCRIPT answer.
	if _, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "warm-up"}); err != nil {
		t.Fatal(err)
	}
	px.dropNextReplyTo("EVALSHA")
	s, created, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "U1", Key: "k"})
	if err != nil || !created {
		t.Fatalf("join through a lost reply = created %v, %v", created, err)
	}
	if px.dropped.Load() != 1 {
		t.Fatalf("the proxy dropped %d replies, want 1 (the test did not lose the script's reply)", px.dropped.Load())
	}
	if g, err := st.Get(ctx, s.ID); err != nil || g.Status != room.StatusWaiting {
		t.Fatalf("the joined session after a retried script: %+v, %v", g, err)
	}
	if st, _ := st.Stats(ctx, "E1"); st.Joined != 2 || st.Waiting != 2 {
		t.Fatalf("stats = %+v, want two sessions", st)
	}
}

// TestSweepVisitsOnlyLiveEvents floods one-off events whose sessions all
// end, and checks the sweep forgets them and then reads nothing.
func TestSweepVisitsOnlyLiveEvents(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	clk := roomtest.NewClock(roomtest.T0)
	st := open(t, redisstore.Config{Addrs: []string{srv.Addr}, Clock: clk.Now}, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	for i := range 2000 {
		if _, _, err := st.Join(ctx, room.JoinRequest{EventID: fmt.Sprint("once-", i), UserID: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		clk.Advance(room.Retention{}.WithDefaults().Event + roomtest.Policy.WaitingTTL)
		for {
			n, err := st.Sweep(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		if _, err := st.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := st.Events(ctx)
	if err != nil || len(evs) != 0 {
		t.Fatalf("%d events kept after every one-off event went idle, %v", len(evs), err)
	}
	// The events' own keys are gone; what is left (ended sessions and their
	// indexes) carries a TTL of its own; the one key that stays is the
	// store's format.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	for _, pattern := range []string{"*:meta", "*:wait", "*:act", "*:wdl", "*:us"} {
		if keys, err := c.Keys(ctx, pattern).Result(); err != nil || len(keys) != 0 {
			t.Fatalf("%d %s keys left of forgotten events (%v)", len(keys), pattern, err)
		}
	}
	keys, _ := c.Keys(ctx, "*").Result()
	for _, k := range keys {
		if ttl, _ := c.PTTL(ctx, k).Result(); ttl < 0 && !strings.HasSuffix(k, ":format") {
			t.Fatalf("key %s has no TTL (%v): it would stay for ever", k, ttl)
		}
	}
}

// TestAStatusPollIsOneRoundTrip counts the commands Redis processes for
// polls of a known session: the session's event is cached, so each poll
// is the event's script alone.
func TestAStatusPollIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	st := open(t, redisstore.Config{Addrs: []string{srv.Addr}}, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Touch(ctx, s.ID); err != nil { // the first poll reads the index
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	// calls reads how often Redis ran each command (commandstats; the
	// commands a script runs inside are counted too, under their names).
	calls := func() map[string]int64 {
		info, err := rc.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, line := range strings.Split(info, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(strings.Split(rest, ",")[0], 10, 64)
			out[strings.TrimPrefix(name, "cmdstat_")] = n
		}
		return out
	}
	before := calls()
	const polls = 20
	for range polls {
		if _, err := st.Touch(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	after := calls()
	scripts := after["evalsha"] + after["eval"] - before["evalsha"] - before["eval"]
	if scripts != polls || after["getex"] != before["getex"] {
		t.Fatalf("%d polls: %d scripts, getex %d → %d: want one script each and no index lookup", polls, scripts, before["getex"], after["getex"])
	}
	if _, err := st.Leave(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
}

// TestJoinAfterScriptFlush: a join is one pipelined round trip with the
// script by its hash; a Redis that lost its scripts (a restart, a
// failover, SCRIPT FLUSH) gets it loaded again.
func TestJoinAfterScriptFlush(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	st := open(t, redisstore.Config{Addrs: []string{srv.Addr}}, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	for i := range 3 {
		if err := rc.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		s, created, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: fmt.Sprint("U", i)})
		if err != nil || !created {
			t.Fatalf("join %d after SCRIPT FLUSH: %v (created %v)", i, err, created)
		}
		got, err := st.Get(ctx, s.ID)
		if err != nil || got.ID != s.ID || got.Position != int64(i+1) {
			t.Fatalf("the session of join %d: %+v, %v", i, got, err)
		}
	}
}

// TestReplicasRaceToTheStartAndShuffleOnce: three replicas on one Redis
// reach an event's start at once, each from a status poll, a grant and the
// stats; the pre-queue is shuffled exactly once, and every replica sees the
// same order.
func TestReplicasRaceToTheStartAndShuffleOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	clk := roomtest.NewClock(roomtest.T0)
	starts := roomtest.T0.Add(30 * time.Second) // within the waiting TTL
	pol := room.StaticPolicies{Default: roomtest.Policy, Capacity: map[string]int{"E1": 1000},
		Events: map[string]room.Settings{"E1": {StartsAt: starts}}}
	cfg := redisstore.Config{Addrs: []string{srv.Addr}, Prefix: "race", Clock: clk.Now}
	replicas := []*redisstore.Store{open(t, cfg, pol), open(t, cfg, pol), open(t, cfg, pol)}
	ctx := context.Background()
	const n = 200
	ids := make([]string, n)
	for i := range n {
		st := replicas[i%3]
		s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: fmt.Sprint("u", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.MarkEnqueued(ctx, "E1", s.ID); err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
	}
	clk.Set(starts)
	start := make(chan struct{})
	errs := make(chan error, 3*n)
	var wg sync.WaitGroup
	for i, st := range replicas {
		wg.Go(func() {
			<-start
			for j := i; j < n; j += 3 {
				var err error
				switch j % 3 {
				case 0:
					_, err = st.Touch(ctx, ids[j])
				case 1:
					_, err = st.Stats(ctx, "E1")
				default:
					_, err = st.Grant(ctx, "E1", ids[j])
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	at, err := rdb.HGet(ctx, "race:{E1}:meta", "shuf_at").Result()
	if err != nil {
		t.Fatal(err)
	}
	sh, ok, err := replicas[0].Shuffle(ctx, "E1")
	if err != nil || !ok || len(sh.Order) != n || strconv.FormatInt(sh.At.UnixMilli(), 10) != at {
		t.Fatalf("shuffle record: %d tickets at %v (%v %v)", len(sh.Order), sh.At, ok, err)
	}
	seen := map[int64]bool{}
	for _, ticket := range sh.Order {
		if seen[ticket] || ticket < 1 || ticket > n {
			t.Fatalf("ticket %d twice or out of range: not a permutation", ticket)
		}
		seen[ticket] = true
	}
	for _, st := range replicas[1:] {
		if other, _, _ := st.Shuffle(ctx, "E1"); !slices.Equal(other.Order, sh.Order) {
			t.Fatal("replicas disagree on the order")
		}
	}
	// Admission (the grants above) followed the recorded order.
	for i, ticket := range sh.Order {
		s, err := replicas[0].Get(ctx, ids[ticket-1])
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == room.StatusActive && s.Admission != int64(i+1) {
			t.Fatalf("ticket %d admitted %d-th, but placed %d-th", ticket, s.Admission, i+1)
		}
		if s.Status == room.StatusWaiting && s.Position == 0 {
			t.Fatalf("ticket %d has no position after the start", ticket)
		}
	}
}

// TestAnotherFormatIsRefused: keys left by a wrctl of another layout
// (format 1 had no format key but an event list; a later one says its
// number) stop the store from starting, with a message that says what to
// do, and change nothing; an empty prefix is claimed for this format.
func TestAnotherFormatIsRefused(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	c.ZAdd(ctx, "old:due", redis.Z{Score: 0, Member: "E1"})
	c.Set(ctx, "next:format", "3", 0)
	for prefix, want := range map[string]string{"old": "format 1", "next": "says format 3"} {
		_, err := redisstore.New(ctx, redisstore.Config{Addrs: []string{srv.Addr}, Prefix: prefix}, room.StaticPolicies{Default: roomtest.Policy})
		if !errors.Is(err, redisstore.ErrFormat) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "store.redis.prefix") {
			t.Fatalf("prefix %s: %v, want ErrFormat saying %q and naming store.redis.prefix", prefix, err, want)
		}
	}
	if c.Exists(ctx, "old:format").Val() != 0 || c.Get(ctx, "next:format").Val() != "3" {
		t.Fatal("a refused start changed the format key")
	}
	open(t, redisstore.Config{Addrs: []string{srv.Addr}, Prefix: "new"}, room.StaticPolicies{Default: roomtest.Policy})
	if got := c.Get(ctx, "new:format").Val(); got != redisstore.Format {
		t.Fatalf("new:format = %q, want %q", got, redisstore.Format)
	}
}

// TestClosingAnswersEveryWaitingCall closes the store while many joins and
// confirmations wait for the shared pipeline: each returns (its result or
// an error) and none hangs.
func TestClosingAnswersEveryWaitingCall(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	st, err := redisstore.New(context.Background(), redisstore.Config{Addrs: []string{srv.Addr}, Prefix: "close"}, room.StaticPolicies{Default: roomtest.Policy})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	started := make(chan struct{}, 200)
	for i := range 200 {
		wg.Go(func() {
			started <- struct{}{}
			s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: fmt.Sprintf("u%d", i)})
			if err == nil {
				st.MarkEnqueued(ctx, "E1", s.ID)
			}
		})
	}
	for range 100 {
		<-started
	}
	st.Close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("calls waiting for the shared pipeline still hang 30s after Close")
	}
}
