package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
)

// countingQueue records the size of every send request.
type countingQueue struct {
	queue.Queue
	mu      sync.Mutex
	batches []int
	fail    error
}

func (c *countingQueue) Send(ctx context.Context, msgs []queue.Outgoing) ([]error, error) {
	c.mu.Lock()
	c.batches = append(c.batches, len(msgs))
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return c.Queue.Send(ctx, msgs)
}

// slowQueue makes every send take a while, as a real SQS round trip does.
type slowQueue struct {
	*countingQueue
	delay time.Duration
}

func (q *slowQueue) Send(ctx context.Context, msgs []queue.Outgoing) ([]error, error) {
	<-time.After(q.delay)
	return q.countingQueue.Send(ctx, msgs)
}

func TestSenderFillsBatchesUnderLoadAndDeliversEveryMessage(t *testing.T) {
	t.Parallel()
	mq := memqueue.New(memqueue.Config{})
	cq := &countingQueue{Queue: mq}
	s := queue.NewSender(&slowQueue{countingQueue: cq, delay: 5 * time.Millisecond}, queue.SenderConfig{Lanes: 4})
	defer s.Close()
	const n = 600
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := queue.Body{V: queue.BodyVersion, SessionID: fmt.Sprintf("s-%d", i), EventID: "E1", Seq: int64(i + 1)}
			ticket, err := s.Enqueue(queue.OutgoingFor(b))
			if err != nil {
				t.Error(err)
				return
			}
			if err := ticket.Wait(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for len(seen) < n {
		got, err := mq.Receive(context.Background(), queue.MaxBatch, time.Second, time.Minute)
		if err != nil || len(got) == 0 {
			t.Fatalf("receive after %d: %v", len(seen), err)
		}
		for _, m := range got {
			if seen[m.Body.SessionID] {
				t.Fatalf("%s received twice", m.Body.SessionID)
			}
			seen[m.Body.SessionID] = true
		}
		mq.Delete(context.Background(), got)
	}
	cq.mu.Lock()
	defer cq.mu.Unlock()
	var total int
	for _, b := range cq.batches {
		if b < 1 || b > queue.MaxBatch {
			t.Fatalf("batch of %d", b)
		}
		total += b
	}
	// 600 at once against 5ms sends: all but a few requests carry 10.
	if total != n || len(cq.batches) > n/queue.MaxBatch+8 {
		t.Fatalf("%d messages in %d requests %v: batches not filled", total, len(cq.batches), cq.batches)
	}
}

func TestALoneMessageGoesAtOnce(t *testing.T) {
	t.Parallel()
	cq := &countingQueue{Queue: memqueue.New(memqueue.Config{})}
	s := queue.NewSender(cq, queue.SenderConfig{})
	defer s.Close()
	ticket, err := s.Enqueue(queue.OutgoingFor(queue.Body{V: 1, SessionID: "s", EventID: "E1", Seq: 1}))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing else comes: the batch of one must not wait for company.
	sent := make(chan error, 1)
	go func() { sent <- ticket.Wait() }()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone message waited for a full batch")
	}
}

func TestSenderReportsFailuresAndRefusesAfterClose(t *testing.T) {
	t.Parallel()
	boom := errors.New("queue down")
	s := queue.NewSender(&countingQueue{Queue: memqueue.New(memqueue.Config{}), fail: boom}, queue.SenderConfig{})
	ticket, err := s.Enqueue(queue.OutgoingFor(queue.Body{V: 1, SessionID: "s", EventID: "E1"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ticket.Wait(); !errors.Is(err, boom) {
		t.Fatalf("wait = %v, want %v", err, boom)
	}
	s.Close()
	s.Close()
	if _, err := s.Enqueue(queue.OutgoingFor(queue.Body{V: 1, SessionID: "t", EventID: "E1"})); !errors.Is(err, queue.ErrSenderClosed) {
		t.Fatalf("enqueue after close = %v", err)
	}
}

func TestBodyRoundTripAndVersion(t *testing.T) {
	t.Parallel()
	b := queue.Body{V: queue.BodyVersion, SessionID: "abc", EventID: "E1", Seq: 7}
	got, err := queue.DecodeBody(b.Encode())
	if err != nil || got != b {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	for _, bad := range []string{`{"v":2,"sessionId":"a","eventId":"b"}`, `{"v":1}`, `not json`} {
		if _, err := queue.DecodeBody(bad); err == nil {
			t.Fatalf("%s decoded", bad)
		}
	}
}
