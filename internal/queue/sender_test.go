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

func TestSenderKeepsGroupOrderAndBatches(t *testing.T) {
	t.Parallel()
	mq := memqueue.New(memqueue.Config{})
	cq := &countingQueue{Queue: mq}
	s := queue.NewSender(cq, queue.SenderConfig{Lanes: 2})
	defer s.Close()
	const perGroup = 200
	var wg sync.WaitGroup
	var seqMu sync.Mutex
	seq := map[string]int64{}
	for g := range 3 {
		group := fmt.Sprintf("E%d", g)
		for range perGroup {
			wg.Go(func() {
				ticket, err := s.Enqueue(group, func() (queue.Outgoing, bool, error) {
					// Runs under the lane lock: the sequence is taken in the
					// order the messages will be sent in.
					seqMu.Lock()
					seq[group]++
					n := seq[group]
					seqMu.Unlock()
					b := queue.Body{V: queue.BodyVersion, SessionID: fmt.Sprintf("%s-%d", group, n), EventID: group, Seq: n}
					return queue.Outgoing{Body: b, GroupID: group, DedupID: b.SessionID}, true, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if err := ticket.Wait(); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	next := map[string]int64{}
	for range 3 * perGroup {
		got, err := mq.Receive(context.Background(), queue.MaxBatch, time.Second, time.Minute)
		if err != nil || len(got) == 0 {
			t.Fatalf("receive: %v (%d)", err, len(got))
		}
		for _, m := range got {
			next[m.Body.EventID]++
			if m.Body.Seq != next[m.Body.EventID] {
				t.Fatalf("%s: received seq %d, want %d", m.Body.EventID, m.Body.Seq, next[m.Body.EventID])
			}
		}
		mq.Delete(context.Background(), got)
		if next["E0"]+next["E1"]+next["E2"] == 3*perGroup {
			break
		}
	}
	cq.mu.Lock()
	defer cq.mu.Unlock()
	for _, n := range cq.batches {
		if n < 1 || n > queue.MaxBatch {
			t.Fatalf("batch of %d", n)
		}
	}
	if len(cq.batches) >= 3*perGroup {
		t.Fatalf("%d requests for %d messages: no batching", len(cq.batches), 3*perGroup)
	}
}

func TestSenderReportsFailuresAndRefusesAfterClose(t *testing.T) {
	t.Parallel()
	boom := errors.New("queue down")
	s := queue.NewSender(&countingQueue{Queue: memqueue.New(memqueue.Config{}), fail: boom}, queue.SenderConfig{})
	ticket, err := s.Enqueue("E1", func() (queue.Outgoing, bool, error) {
		return queue.OutgoingFor(queue.Body{V: 1, SessionID: "s", EventID: "E1"}), true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ticket.Wait(); !errors.Is(err, boom) {
		t.Fatalf("wait = %v, want %v", err, boom)
	}
	ticket, err = s.Enqueue("E1", func() (queue.Outgoing, bool, error) { return queue.Outgoing{}, false, nil })
	if ticket != nil || err != nil {
		t.Fatalf("nothing to send: ticket %v err %v", ticket, err)
	}
	s.Close()
	s.Close()
	if _, err := s.Enqueue("E1", func() (queue.Outgoing, bool, error) { return queue.Outgoing{}, true, nil }); !errors.Is(err, queue.ErrSenderClosed) {
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
