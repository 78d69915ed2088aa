package queue

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrSenderClosed is returned for messages handed to a closed Sender.
var ErrSenderClosed = errors.New("queue sender closed")

// SenderConfig tunes a Sender.
type SenderConfig struct {
	// Lanes is how many batches may be in flight at once. Default 8.
	Lanes int
	// Timeout bounds one send request, retries included. Default 10s.
	Timeout time.Duration
}

// Sender batches messages into requests of up to MaxBatch: SQS bills and
// throttles per request. A batch goes at once when no other is in flight
// (a lone join waits for nobody); while batches are in flight, the next
// one goes when it is full or when one comes back, so under load requests
// carry full batches, up to Lanes at a time. Messages are wake-ups (the
// store, not the queue, orders admission), so no order is kept.
type Sender struct {
	q        Queue
	cfg      SenderConfig
	mu       sync.Mutex
	pending  []*Ticket
	inflight int
	closed   bool
	wg       sync.WaitGroup
}

// Ticket is one message handed to a Sender.
type Ticket struct {
	out  Outgoing
	err  error
	done chan struct{}
}

// Wait blocks until the message is sent or failed.
func (t *Ticket) Wait() error {
	<-t.done
	return t.err
}

// NewSender returns a sender on q; Close sends what is pending and stops.
func NewSender(q Queue, cfg SenderConfig) *Sender {
	if cfg.Lanes <= 0 {
		cfg.Lanes = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Sender{q: q, cfg: cfg}
}

// Enqueue queues out for the next batch; Wait on the ticket for the result.
func (s *Sender) Enqueue(out Outgoing) (*Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSenderClosed
	}
	t := &Ticket{out: out, done: make(chan struct{})}
	s.pending = append(s.pending, t)
	s.startLocked()
	return t, nil
}

// startLocked starts the batches that may go now.
func (s *Sender) startLocked() {
	for len(s.pending) > 0 && s.inflight < s.cfg.Lanes && (s.inflight == 0 || len(s.pending) >= MaxBatch || s.closed) {
		n := min(len(s.pending), MaxBatch)
		batch := s.pending[:n:n]
		s.pending = s.pending[n:]
		s.inflight++
		s.wg.Go(func() {
			s.send(batch)
			s.mu.Lock()
			s.inflight--
			s.startLocked()
			s.mu.Unlock()
		})
	}
}

func (s *Sender) send(batch []*Ticket) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	outs := make([]Outgoing, len(batch))
	for i, t := range batch {
		outs[i] = t.out
	}
	failed, err := s.q.Send(ctx, outs)
	for i, t := range batch {
		switch {
		case err != nil:
			t.err = err
		case i < len(failed):
			t.err = failed[i]
		}
		close(t.done)
	}
}

// Close sends what is pending, then stops. Safe to call twice.
func (s *Sender) Close() {
	s.mu.Lock()
	s.closed = true
	s.startLocked()
	s.mu.Unlock()
	s.wg.Wait()
}
