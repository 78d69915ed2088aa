package sqsqueue_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/queuetest"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/sqstest"
)

var emu *sqstest.Emulator

func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, &emu)) }

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Queue {
		return sqsqueue.New(emu.Client(), emu.NewQueue(t, true, nil))
	})
}

var redriveSeq atomic.Int64

func TestDeadLetterConformance(t *testing.T) {
	t.Parallel()
	queuetest.RunDeadLetter(t, func(t *testing.T, maxReceive int) queue.Queue {
		c, err := sqsqueue.Create(context.Background(), emu.Client(), sqsqueue.CreateOptions{
			Name: fmt.Sprintf("redrive-%d-%d.fifo", os.Getpid(), redriveSeq.Add(1)), FIFO: true,
			MaxReceiveCount: maxReceive, VisibilityTimeout: 30 * time.Second, Retention: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		return sqsqueue.New(emu.Client(), c.URL)
	})
}

func TestEndpointOfAQueueURL(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"http://sqs.us-east-1.localhost:4566/000000000000/q.fifo", "http://127.0.0.1:4566"},
		{"http://127.0.0.1:9324/000000000000/q", "http://127.0.0.1:9324"},
		{"https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo", ""},
		{"", ""},
	} {
		got, ok := sqsqueue.EndpointOf(c.url)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("EndpointOf(%q) = %q, %v; want %q", c.url, got, ok, c.want)
		}
	}
}

// TestPastedEmulatorURLStaysLocal: a client given only an emulator's queue
// URL, with no endpoint anywhere, talks to the emulator, not to AWS.
func TestPastedEmulatorURLStaysLocal(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SQS", "")
	url := emu.NewQueue(t, true, nil)
	client, err := sqsqueue.NewClient(context.Background(), sqsqueue.ClientConfig{QueueURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqsqueue.New(client, url).Ping(context.Background()); err != nil {
		t.Fatalf("ping the pasted emulator URL: %v", err)
	}
}

func TestDepthsIncludeTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := sqsqueue.Create(ctx, emu.Client(), sqsqueue.CreateOptions{
		Name: fmt.Sprintf("depths-%d-%d.fifo", os.Getpid(), redriveSeq.Add(1)), FIFO: true,
		MaxReceiveCount: 5, VisibilityTimeout: 30 * time.Second, Retention: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	q := sqsqueue.New(emu.Client(), c.URL)
	if _, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(queue.Body{V: queue.BodyVersion, SessionID: "s", EventID: "e", Seq: 1})}); err != nil {
		t.Fatal(err)
	}
	d, err := q.Depths(ctx)
	if err != nil || d.Queue.Visible != 1 || d.DLQ == nil || d.DLQ.Visible != 0 {
		t.Fatalf("depths = %+v (DLQ %v), %v", d, d.DLQ, err)
	}
	plain := sqsqueue.New(emu.Client(), emu.NewQueue(t, true, nil))
	if d, err := plain.Depths(ctx); err != nil || d.DLQ != nil {
		t.Fatalf("depths of a queue without redrive = %+v, %v", d, err)
	}
}
