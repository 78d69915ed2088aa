package memstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/memstore"
)

var benchPolicies = room.StaticPolicies{Default: room.Policy{Capacity: 100, HeartbeatTTL: time.Minute, WaitingTTL: time.Hour, MaxActive: time.Hour}}

// BenchmarkJoin measures creating WAITING sessions in one event's line.
func BenchmarkJoin(b *testing.B) {
	st := memstore.New(memstore.Config{}, benchPolicies)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkStatusPoll measures a status poll (with its exact position) in a
// line of 100,000 waiting sessions: the hot path during an on-sale.
func BenchmarkStatusPoll(b *testing.B) {
	st := memstore.New(memstore.Config{}, benchPolicies)
	ctx := context.Background()
	const line = 100_000
	ids := make([]string, line)
	for i := range ids {
		s, _, _ := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: strconv.Itoa(i)})
		ids[i] = s.ID
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s, err := st.Touch(ctx, ids[(i*7919)%line])
		if err != nil || s.Position < 1 {
			b.Fatal(s, err)
		}
		i++
	}
}

// BenchmarkGrantAndLeave measures one admission and one leave.
func BenchmarkGrantAndLeave(b *testing.B) {
	st := memstore.New(memstore.Config{}, benchPolicies)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s, _, _ := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: strconv.Itoa(i)})
		if r, err := st.Grant(ctx, "E1", s.ID); err != nil || r.Outcome != room.Admitted {
			b.Fatal(r.Outcome, err)
		}
		if _, err := st.Leave(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
		select {
		case <-st.Freed():
		default:
		}
		i++
	}
}
