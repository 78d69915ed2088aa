// Package granter admits waiting sessions: it receives the admission queue,
// asks the store to admit each session at the head of its event's line, and
// deletes a message only once the store has recorded its outcome.
//
// When an event is at capacity the granter holds that event's head: it keeps
// the message (and, on a FIFO queue, thereby the whole message group) in
// flight, extends its visibility, and admits it as soon as a slot frees: on
// the store's freed notification (leave or expiry) or at the moment the
// earliest ACTIVE session of the event would expire. If the granter dies, the
// held messages reappear in order after their visibility timeout.
package granter

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/room"
)

// Config tunes a Granter.
type Config struct {
	// Visibility is how long a received message stays hidden; held messages
	// are extended before it runs out. A crashed granter's messages reappear
	// after it. Default 30s.
	Visibility time.Duration
	// Wait is the long-poll wait of one receive; shutdown waits for the
	// poll under way, so it bounds the drain too. Default 5s.
	Wait time.Duration
	// Tick is the safety-net interval at which overdue sessions are swept and
	// held heads retried even without a notification. Default 1s.
	Tick time.Duration
	// MaxHeld stops receiving while this many messages are held. Default 10000.
	MaxHeld int
	// MaxHeldPerEvent caps the messages held for one full event; the rest
	// are made visible again after a third of Visibility. Only a standard
	// queue ever hands over more: a FIFO queue locks the event's group
	// behind its head. Default 10.
	MaxHeldPerEvent int
}

func (c *Config) defaults() {
	if c.Visibility <= 0 {
		c.Visibility = 30 * time.Second
	}
	if c.Wait <= 0 {
		c.Wait = 5 * time.Second
	}
	if c.Tick <= 0 {
		c.Tick = time.Second
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 10000
	}
	if c.MaxHeldPerEvent <= 0 {
		c.MaxHeldPerEvent = queue.MaxBatch
	}
}

// Decision is one admission decision, reported to an observer.
type Decision struct {
	Outcome room.GrantOutcome
	Session room.Session
}

// Granter is the admission loop.
type Granter struct {
	cfg Config
	q   queue.Queue
	st  room.Store
	log *slog.Logger
	// Now is the clock; time.Now unless a test sets it.
	Now func() time.Time
	// Observe, if set, is called with every decision that ends a message.
	Observe func(Decision)
	// LoopLag, if set, hears how late each periodic tick was handled.
	LoopLag func(time.Duration)

	held    map[string][]*heldMsg // per event, in queue order
	nHeld   int
	heldPub atomic.Int64 // nHeld, for other goroutines
	retryAt map[string]time.Time
}

type heldMsg struct {
	msg      queue.Message
	extended time.Time
}

// New returns a granter on q and st.
func New(cfg Config, q queue.Queue, st room.Store, log *slog.Logger) *Granter {
	cfg.defaults()
	return &Granter{cfg: cfg, q: q, st: st, log: log, Now: time.Now}
}

// Run admits until ctx is cancelled, then makes its held messages visible
// again so another replica can take them at once.
func (g *Granter) Run(ctx context.Context) error {
	g.held = make(map[string][]*heldMsg)
	g.retryAt = make(map[string]time.Time)
	batches := make(chan []queue.Message)
	credit := make(chan struct{}, 1)
	credit <- struct{}{}
	stopping := make(chan struct{})
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		g.receive(ctx, stopping, credit, batches)
	}()

	tick := time.NewTicker(g.cfg.Tick)
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	freed := g.st.Freed()
	// Work in hand finishes even when ctx is cancelled: a decision is
	// recorded and its message deleted, or neither.
	work := context.WithoutCancel(ctx)
	for {
		select {
		case <-ctx.Done():
			// Let a long poll under way finish rather than abandon it: the
			// queue would still hand it messages (ours, once released) and
			// hide them for a whole visibility timeout.
			close(stopping)
			<-recvDone
			g.release()
			return nil
		case msgs := <-batches:
			g.accept(work, msgs)
		case ev, ok := <-freed:
			if !ok {
				freed = nil // store closed; the tick still drives retries
				continue
			}
			g.process(work, ev)
		case <-timer.C:
			now := g.Now()
			for ev, at := range g.retryAt {
				if !at.After(now) {
					g.process(work, ev)
				}
			}
		case due := <-tick.C:
			if g.LoopLag != nil {
				g.LoopLag(time.Since(due))
			}
			if _, err := g.st.Sweep(work, g.Now()); err != nil {
				g.log.Warn("sweep expired sessions", "err", err)
			}
			for ev := range g.held {
				g.process(work, ev)
			}
			g.extend(work)
		}
		if g.nHeld < g.cfg.MaxHeld {
			select {
			case credit <- struct{}{}:
			default:
			}
		}
		g.resetTimer(timer)
		g.heldPub.Store(int64(g.nHeld))
	}
}

// Held returns how many messages the granter holds for full events.
func (g *Granter) Held() int { return int(g.heldPub.Load()) }

// receive long-polls the queue, one batch per credit, until stopping.
// Its requests are not cancelled with ctx: see Run.
func (g *Granter) receive(ctx context.Context, stopping <-chan struct{}, credit <-chan struct{}, out chan<- []queue.Message) {
	rctx := context.WithoutCancel(ctx)
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-stopping:
			return
		case <-credit:
		}
		pctx, cancel := context.WithTimeout(rctx, g.cfg.Wait+15*time.Second)
		msgs, err := g.q.Receive(pctx, queue.MaxBatch, g.cfg.Wait, g.cfg.Visibility)
		cancel()
		if err != nil {
			g.log.Warn("receive from queue", "err", err, "retry_in", backoff)
			select {
			case <-stopping:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			msgs = nil // hands the credit back through the main loop
		} else {
			backoff = 100 * time.Millisecond
		}
		select {
		case out <- msgs:
		case <-stopping:
			g.releaseMsgs(msgs)
			return
		}
	}
}

// accept queues received messages behind what is held for their event and
// tries to admit them.
func (g *Granter) accept(ctx context.Context, msgs []queue.Message) {
	now := g.Now()
	touched := map[string]bool{}
	var order []string
	for _, m := range msgs {
		if m.Err != nil {
			// Left in flight: it reappears and, after the queue's max receive
			// count, moves to the dead-letter queue.
			g.log.Error("undecodable message left for the dead-letter queue", "err", m.Err, "receive_count", m.ReceiveCount)
			continue
		}
		ev := m.Body.EventID
		g.held[ev] = append(g.held[ev], &heldMsg{msg: m, extended: now})
		g.nHeld++
		if !touched[ev] {
			touched[ev] = true
			order = append(order, ev)
		}
	}
	for _, ev := range order {
		// Messages of one event taken together are admitted by ticket: joins
		// that reached the queue a moment out of order (taken on different
		// replicas) are put back in line.
		slices.SortStableFunc(g.held[ev], func(a, b *heldMsg) int { return cmp.Compare(a.msg.Body.Seq, b.msg.Body.Seq) })
		g.process(ctx, ev)
	}
}

// process admits the held messages of one event in order until it is full.
func (g *Granter) process(ctx context.Context, ev string) {
	list := g.held[ev]
	var done []queue.Message
	i := 0
	for ; i < len(list); i++ {
		m := list[i].msg
		r, err := g.st.Grant(ctx, ev, m.Body.SessionID, g.Now())
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("grant", "event", ev, "err", err)
			}
			break
		}
		if r.Outcome == room.Full {
			if r.RetryAt.After(g.Now()) {
				g.retryAt[ev] = r.RetryAt
			} else {
				delete(g.retryAt, ev) // no known deadline: the tick retries
			}
			break
		}
		g.log.Debug("admission decision", "event", ev, "outcome", r.Outcome.String(), "seq", m.Body.Seq)
		if g.Observe != nil {
			g.Observe(Decision{Outcome: r.Outcome, Session: r.Session})
		}
		done = append(done, m)
	}
	g.nHeld -= len(done)
	rest := list[i:]
	if len(rest) > g.cfg.MaxHeldPerEvent {
		g.postpone(ctx, rest[g.cfg.MaxHeldPerEvent:])
		rest = rest[:g.cfg.MaxHeldPerEvent]
	}
	if len(rest) == 0 {
		delete(g.held, ev)
		delete(g.retryAt, ev)
	} else {
		g.held[ev] = rest
	}
	if len(done) > 0 {
		// The store has recorded every outcome: only now may the messages go.
		// A failed delete only means a redelivery, which Grant answers
		// AlreadyActive or Skipped.
		if err := g.q.Delete(ctx, done); err != nil && ctx.Err() == nil {
			g.log.Warn("delete decided messages", "err", err, "count", len(done))
		}
	}
}

// postpone hands messages of a full event back to the queue for a while.
func (g *Granter) postpone(ctx context.Context, hs []*heldMsg) {
	msgs := make([]queue.Message, len(hs))
	for i, h := range hs {
		msgs[i] = h.msg
	}
	g.nHeld -= len(hs)
	if err := g.q.ChangeVisibility(ctx, msgs, max(g.cfg.Visibility/3, time.Second)); err != nil && ctx.Err() == nil {
		g.log.Warn("postpone messages of a full event", "err", err, "count", len(msgs))
	}
}

// extend renews the visibility of held messages before it runs out.
func (g *Granter) extend(ctx context.Context) {
	now := g.Now()
	var due []*heldMsg
	for _, list := range g.held {
		for _, h := range list {
			if now.Sub(h.extended) >= g.cfg.Visibility/3 {
				due = append(due, h)
			}
		}
	}
	if len(due) == 0 {
		return
	}
	msgs := make([]queue.Message, len(due))
	for i, h := range due {
		msgs[i] = h.msg
	}
	if err := g.q.ChangeVisibility(ctx, msgs, g.cfg.Visibility); err != nil {
		if ctx.Err() == nil {
			g.log.Warn("extend visibility of held messages", "err", err, "count", len(msgs))
		}
		return
	}
	for _, h := range due {
		h.extended = now
	}
}

// release makes every held message visible again.
func (g *Granter) release() {
	var msgs []queue.Message
	for _, list := range g.held {
		for _, h := range list {
			msgs = append(msgs, h.msg)
		}
	}
	g.held = map[string][]*heldMsg{}
	g.nHeld = 0
	g.heldPub.Store(0)
	g.releaseMsgs(msgs)
}

func (g *Granter) releaseMsgs(msgs []queue.Message) {
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.q.ChangeVisibility(ctx, msgs, 0); err != nil && !errors.Is(err, context.Canceled) {
		g.log.Warn("release held messages", "err", err, "count", len(msgs))
		return
	}
	g.log.Info("released held messages", "count", len(msgs))
}

// resetTimer arms the timer for the earliest moment a full event frees.
func (g *Granter) resetTimer(t *time.Timer) {
	var next time.Time
	for _, at := range g.retryAt {
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(next.Sub(g.Now()), 0)
	}
	t.Reset(d)
}
