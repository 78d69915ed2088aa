package memqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
	"github.com/wrctl/wrctl/internal/queue/queuetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Queue { return memqueue.New(memqueue.Config{}) })
}

func TestMaxReceiveCountSetsMessageAside(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := memqueue.New(memqueue.Config{MaxReceiveCount: 2})
	b := queue.Body{V: queue.BodyVersion, SessionID: "s1", EventID: "E1", Seq: 1}
	if _, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(b)}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		got, err := q.Receive(ctx, 1, time.Second, 0)
		if err != nil || len(got) != 1 || got[0].ReceiveCount != i {
			t.Fatalf("receive %d = %+v, %v", i, got, err)
		}
	}
	got, err := q.Receive(ctx, 1, 0, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("third receive = %+v, %v; want nothing", got, err)
	}
	if dead := q.Dead(); len(dead) != 1 || dead[0].Body != b {
		t.Fatalf("dead = %+v", dead)
	}
	if q.Len() != 0 {
		t.Fatalf("len = %d", q.Len())
	}
}

func TestDeadLetterConformance(t *testing.T) {
	queuetest.RunDeadLetter(t, func(t *testing.T, maxReceive int) queue.Queue {
		return memqueue.New(memqueue.Config{MaxReceiveCount: maxReceive})
	})
}
