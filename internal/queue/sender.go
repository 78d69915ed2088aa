package queue

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"
)

// ErrSenderClosed is returned for messages handed to a closed Sender.
var ErrSenderClosed = errors.New("queue sender closed")

// SenderConfig tunes a Sender.
type SenderConfig struct {
	// Lanes is how many batches may be in flight at once; messages of one
	// group always share a lane, so their order is kept. Default 8.
	Lanes int
	// Timeout bounds one send request, retries included. Default 10s.
	Timeout time.Duration
}

// Sender batches messages into requests of up to MaxBatch, keeping the
// order of each message group: SQS bills and throttles per request, and a
// FIFO queue keeps the order messages of one group were sent in.
type Sender struct {
	q     Queue
	cfg   SenderConfig
	lanes []*lane
	wg    sync.WaitGroup
	once  sync.Once
}

type lane struct {
	mu      sync.Mutex
	pending []*Ticket
	closed  bool
	wake    chan struct{}
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

// NewSender starts a sender on q; Close stops it.
func NewSender(q Queue, cfg SenderConfig) *Sender {
	if cfg.Lanes <= 0 {
		cfg.Lanes = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	s := &Sender{q: q, cfg: cfg}
	for range cfg.Lanes {
		l := &lane{wake: make(chan struct{}, 1)}
		s.lanes = append(s.lanes, l)
		s.wg.Go(func() { s.flush(l) })
	}
	return s
}

// Enqueue runs prepare while holding the lane of group, and queues the
// message it returns (if send is true) behind every message prepared before
// it in that lane. Doing the store write inside prepare makes the join
// sequence and the queue order agree. The returned ticket is nil when
// nothing was queued.
func (s *Sender) Enqueue(group string, prepare func() (out Outgoing, send bool, err error)) (*Ticket, error) {
	h := fnv.New32a()
	h.Write([]byte(group))
	l := s.lanes[h.Sum32()%uint32(len(s.lanes))]
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrSenderClosed
	}
	out, send, err := prepare()
	if err != nil || !send {
		return nil, err
	}
	t := &Ticket{out: out, done: make(chan struct{})}
	l.pending = append(l.pending, t)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return t, nil
}

// flush sends a lane's messages, one batch at a time, until Close.
func (s *Sender) flush(l *lane) {
	for {
		l.mu.Lock()
		if len(l.pending) == 0 {
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return
			}
			<-l.wake
			continue
		}
		n := min(len(l.pending), MaxBatch)
		batch := l.pending[:n:n]
		l.pending = l.pending[n:]
		l.mu.Unlock()
		s.send(batch)
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

// Close sends what is queued, then stops. Safe to call twice.
func (s *Sender) Close() {
	s.once.Do(func() {
		for _, l := range s.lanes {
			l.mu.Lock()
			l.closed = true
			l.mu.Unlock()
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
		s.wg.Wait()
	})
}
