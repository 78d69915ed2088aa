// Package memqueue is the embedded admission queue: one process, no set-up,
// with the FIFO semantics of an SQS FIFO queue that the granter relies on:
// order within a message group, the group locked while any of its messages is
// in flight, visibility timeouts, deduplication and a receive limit after
// which a message is set aside as dead.
package memqueue

import (
	"container/heap"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
)

// DedupWindow is how long a deduplication id drops resends, as in SQS.
const DedupWindow = 5 * time.Minute

// Config tunes the queue.
type Config struct {
	// MaxReceiveCount sets a message aside as dead once it has been received
	// this many times without being deleted; 0 means never. Default 0.
	MaxReceiveCount int
}

// Queue is the in-memory FIFO queue.
type Queue struct {
	cfg Config

	mu       sync.Mutex
	groups   map[string]*group
	ready    []*group // groups with visible messages and none in flight, oldest first
	handles  map[string]*message
	inflight inflightHeap
	dedup    map[string]time.Time
	dedupLog []dedupEntry
	dead     []*deadMsg
	nextID   uint64
	changed  chan struct{} // closed and replaced whenever a receive might succeed
}

type group struct {
	id       string
	msgs     []*message // in send order; the in-flight ones are among the first
	inflight int
	inReady  bool
}

type message struct {
	g         *group
	id        string
	body      string
	handle    string
	visibleAt time.Time
	received  int
	inflight  bool
}

// deadMsg is a message set aside, hidden until a time while taken.
type deadMsg struct {
	msg    queue.Message
	hidden time.Time
}

type dedupEntry struct {
	id string
	at time.Time
}

var _ queue.Queue = (*Queue)(nil)

// New returns an empty queue.
func New(cfg Config) *Queue {
	return &Queue{
		cfg:     cfg,
		groups:  make(map[string]*group),
		handles: make(map[string]*message),
		dedup:   make(map[string]time.Time),
		changed: make(chan struct{}),
	}
}

// FIFO implements queue.Queue.
func (q *Queue) FIFO() bool { return true }

// Ping implements queue.Queue.
func (q *Queue) Ping(context.Context) error { return nil }

// Send implements queue.Queue.
func (q *Queue) Send(_ context.Context, msgs []queue.Outgoing) ([]error, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	q.pruneDedup(now)
	for _, m := range msgs {
		if m.DedupID != "" {
			if _, dup := q.dedup[m.DedupID]; dup {
				continue // accepted, but dropped as SQS does
			}
			q.dedup[m.DedupID] = now
			q.dedupLog = append(q.dedupLog, dedupEntry{m.DedupID, now})
		}
		g, ok := q.groups[m.GroupID]
		if !ok {
			g = &group{id: m.GroupID}
			q.groups[m.GroupID] = g
		}
		q.nextID++
		g.msgs = append(g.msgs, &message{g: g, body: m.Body.Encode(), id: "m" + strconv.FormatUint(q.nextID, 36)})
		q.markReady(g)
	}
	q.signal()
	return make([]error, len(msgs)), nil
}

// Receive implements queue.Queue.
func (q *Queue) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]queue.Message, error) {
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		now := time.Now()
		q.releaseExpired(now)
		got := q.take(max, now, visibility)
		changed := q.changed
		next := deadline
		if len(q.inflight) > 0 && q.inflight[0].visibleAt.Before(next) {
			next = q.inflight[0].visibleAt
		}
		q.mu.Unlock()
		if len(got) > 0 || !now.Before(deadline) {
			return got, nil
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// take hands out up to max visible messages from ready groups, each group's
// messages in order.
func (q *Queue) take(max int, now time.Time, visibility time.Duration) []queue.Message {
	var out []queue.Message
	for len(out) < max && len(q.ready) > 0 {
		g := q.ready[0]
		q.ready = q.ready[1:]
		g.inReady = false
		for i := 0; i < len(g.msgs) && len(out) < max; {
			m := g.msgs[i]
			if q.cfg.MaxReceiveCount > 0 && m.received >= q.cfg.MaxReceiveCount {
				q.bury(m)
				q.unlink(m)
				continue
			}
			i++
			m.received++
			m.inflight = true
			m.visibleAt = now.Add(visibility)
			q.nextID++
			m.handle = strconv.FormatUint(q.nextID, 36)
			q.handles[m.handle] = m
			heap.Push(&q.inflight, inflightEntry{m: m, handle: m.handle, visibleAt: m.visibleAt})
			g.inflight++
			out = append(out, q.message(m))
		}
		switch {
		case len(g.msgs) == 0:
			delete(q.groups, g.id)
		case g.inflight == 0:
			q.markReady(g)
		}
	}
	return out
}

func (q *Queue) message(m *message) queue.Message {
	b, err := queue.DecodeBody(m.body)
	return queue.Message{ID: m.id, Handle: m.handle, Body: b, Err: err, Raw: m.body, GroupID: m.g.id, ReceiveCount: m.received}
}

// MaxReceiveCount implements queue.Queue.
func (q *Queue) MaxReceiveCount(context.Context) (int, error) { return q.cfg.MaxReceiveCount, nil }

// DeadLetter implements queue.Queue: the messages join Dead at once.
func (q *Queue) DeadLetter(_ context.Context, msgs []queue.Message) error {
	q.settle(msgs, q.bury)
	return nil
}

// settle removes the received messages still in flight under these
// handles, calling before on each first; stale handles are ignored.
func (q *Queue) settle(msgs []queue.Message, before func(*message)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range msgs {
		m, ok := q.handles[r.Handle]
		if !ok || !m.inflight {
			continue
		}
		if before != nil {
			before(m)
		}
		q.remove(m)
	}
	q.signal()
}

// SendRaw puts a body on the queue as it is, for tests of bodies that
// cannot be decoded.
func (q *Queue) SendRaw(groupID, body string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	g, ok := q.groups[groupID]
	if !ok {
		g = &group{id: groupID}
		q.groups[groupID] = g
	}
	q.nextID++
	g.msgs = append(g.msgs, &message{g: g, body: body, id: "m" + strconv.FormatUint(q.nextID, 36)})
	q.markReady(g)
	q.signal()
}

// Dead returns the messages set aside after MaxReceiveCount receives.
func (q *Queue) Dead() []queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]queue.Message, len(q.dead))
	for i, d := range q.dead {
		out[i] = d.msg
	}
	return out
}

// bury sets a message aside as dead.
func (q *Queue) bury(m *message) {
	q.nextID++
	d := q.message(m)
	d.Handle = "dead-" + strconv.FormatUint(q.nextID, 36)
	q.dead = append(q.dead, &deadMsg{msg: d})
}

// ReceiveDead implements queue.Queue.
func (q *Queue) ReceiveDead(_ context.Context, max int, visibility time.Duration) ([]queue.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	var out []queue.Message
	for _, d := range q.dead {
		if len(out) == max {
			break
		}
		if now.Before(d.hidden) {
			continue
		}
		d.hidden = now.Add(visibility)
		out = append(out, d.msg)
	}
	return out, nil
}

// DeleteDead implements queue.Queue.
func (q *Queue) DeleteDead(_ context.Context, msgs []queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	gone := map[string]bool{}
	for _, m := range msgs {
		gone[m.Handle] = true
	}
	q.dead = slices.DeleteFunc(q.dead, func(d *deadMsg) bool { return gone[d.msg.Handle] })
	return nil
}

// Delete implements queue.Queue. Stale handles are ignored.
func (q *Queue) Delete(_ context.Context, msgs []queue.Message) error {
	q.settle(msgs, nil)
	return nil
}

// remove deletes a message and unlocks its group when nothing of it is left
// in flight.
func (q *Queue) remove(m *message) {
	g := m.g
	q.unlink(m)
	switch {
	case len(g.msgs) == 0 && !g.inReady:
		delete(q.groups, g.id)
	case g.inflight == 0:
		q.markReady(g)
	}
}

// unlink takes a message out of its group.
func (q *Queue) unlink(m *message) {
	g := m.g
	delete(q.handles, m.handle)
	if m.inflight {
		m.inflight = false
		g.inflight--
	}
	if len(g.msgs) > 0 && g.msgs[0] == m {
		g.msgs[0] = nil
		g.msgs = g.msgs[1:] // the usual case: the head, in O(1)
		return
	}
	for i, x := range g.msgs {
		if x == m {
			g.msgs = append(g.msgs[:i], g.msgs[i+1:]...)
			return
		}
	}
}

// ChangeVisibility implements queue.Queue.
func (q *Queue) ChangeVisibility(_ context.Context, msgs []queue.Message, visibility time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for _, r := range msgs {
		m, ok := q.handles[r.Handle]
		if !ok || !m.inflight {
			continue
		}
		m.visibleAt = now.Add(visibility)
		heap.Push(&q.inflight, inflightEntry{m: m, handle: m.handle, visibleAt: m.visibleAt})
	}
	q.releaseExpired(now)
	q.signal()
	return nil
}

// releaseExpired makes messages whose visibility timeout passed visible again.
func (q *Queue) releaseExpired(now time.Time) {
	for len(q.inflight) > 0 && !q.inflight[0].visibleAt.After(now) {
		e := heap.Pop(&q.inflight).(inflightEntry)
		m := e.m
		if !m.inflight || m.handle != e.handle || !m.visibleAt.Equal(e.visibleAt) {
			continue // stale entry
		}
		m.inflight = false
		delete(q.handles, m.handle)
		m.g.inflight--
		if m.g.inflight == 0 {
			q.markReady(m.g)
		}
	}
}

func (q *Queue) markReady(g *group) {
	if g.inReady || g.inflight > 0 || len(g.msgs) == 0 {
		return
	}
	g.inReady = true
	q.ready = append(q.ready, g)
}

func (q *Queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *Queue) pruneDedup(now time.Time) {
	i := 0
	for ; i < len(q.dedupLog) && now.Sub(q.dedupLog[i].at) >= DedupWindow; i++ {
		delete(q.dedup, q.dedupLog[i].id)
	}
	q.dedupLog = q.dedupLog[i:]
}

// Len returns the number of messages not yet deleted, in flight or not.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, g := range q.groups {
		n += len(g.msgs)
	}
	return n
}

type inflightEntry struct {
	m         *message
	handle    string
	visibleAt time.Time
}

type inflightHeap []inflightEntry

func (h inflightHeap) Len() int           { return len(h) }
func (h inflightHeap) Less(i, j int) bool { return h[i].visibleAt.Before(h[j].visibleAt) }
func (h inflightHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *inflightHeap) Push(x any)        { *h = append(*h, x.(inflightEntry)) }
func (h *inflightHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
