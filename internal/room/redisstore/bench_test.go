package redisstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/redistest"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
)

var benchPolicies = room.StaticPolicies{Default: room.Policy{Capacity: 1 << 30, HeartbeatTTL: time.Hour, WaitingTTL: time.Hour, MaxActive: time.Hour}}

func benchStore(b *testing.B) *redisstore.Store {
	srv := redistest.New(b)
	st, err := redisstore.New(context.Background(), redisstore.Config{Addrs: []string{srv.Addr}, Prefix: "bench"}, benchPolicies)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkRedisJoin measures a join (index write and the join script) on a
// local Redis, from parallel clients.
func BenchmarkRedisJoin(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "u" + strconv.FormatInt(n.Add(1), 10)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedisStatusPoll measures a status poll with its exact position
// in a line of 10,000 on a local Redis.
func BenchmarkRedisStatusPoll(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	ids := make([]string, 10000)
	for i := range ids {
		s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if s, err := st.Touch(ctx, ids[(i*7919)%len(ids)]); err != nil || s.Position < 1 {
				b.Fatal(s, err)
			}
			i++
		}
	})
}

// BenchmarkRedisGrantAndLeave measures one admission and one leave.
func BenchmarkRedisGrantAndLeave(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		s, _, err := st.Join(ctx, room.JoinRequest{EventID: "G1", UserID: strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		if r, err := st.Grant(ctx, "G1", s.ID); err != nil || r.Outcome != room.Admitted {
			b.Fatal(r.Outcome, err)
		}
		if _, err := st.Leave(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
