package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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
	roomtest.Run(t, func(t *testing.T, p room.Policies) room.Store {
		return open(t, redisstore.Config{Addrs: []string{srv.Addr}}, p)
	})
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	roomtest.Run(t, func(t *testing.T, p room.Policies) room.Store {
		return open(t, redisstore.Config{Addrs: c.Addrs()}, p)
	})
}

func TestClusterSpreadsEventsOverShards(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	st := open(t, redisstore.Config{Addrs: c.Addrs(), Prefix: "spread"}, room.StaticPolicies{Default: roomtest.Policy})
	ctx := context.Background()
	for i := range 30 {
		if _, _, err := st.Join(ctx, fmt.Sprintf("event-%d", i), "u", time.Now()); err != nil {
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
	ctx, now := context.Background(), time.Now()
	s, _, err := a.Join(ctx, "E1", "U1", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.MarkEnqueued(ctx, "E1", s.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Grant(ctx, "E1", s.ID, now); err != nil || r.Outcome != room.Admitted {
		t.Fatalf("grant on the other replica = %v, %v", r.Outcome, err)
	}
	if _, err := a.Leave(ctx, s.ID, now); err != nil {
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
	st := open(t, redisstore.Config{Addrs: []string{srv.Addr}, Prefix: "ttl", Retention: time.Minute}, room.StaticPolicies{Default: roomtest.Policy})
	s, _, err := st.Join(context.Background(), "E1", "U1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"ttl:{E1}:s:" + s.ID, "ttl:{E1}:u:U1", "ttl:sid:" + s.ID} {
		ttl := pttl(t, srv.Addr, key)
		if ttl <= 0 {
			t.Fatalf("%s has no TTL (%v)", key, ttl)
		}
	}
}
