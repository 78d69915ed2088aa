// Package granter admits waiting sessions: it receives the admission queue,
// asks the store to admit the lowest ticket of each message's event, and
// deletes a message only once the store has recorded its outcome.
//
// A message is the durable wake-up of its event, not a pass for the one
// session it names: the store admits in ticket order whatever order the
// messages arrive in (joins taken on several replicas reach the queue in
// the order their sends finished), and every WAITING session keeps one
// message on the queue until someone is admitted with it.
//
// When an event is at capacity the granter holds that event's messages: it
// keeps them (and, on a FIFO queue, thereby the whole message group) in
// flight, extends their visibility, and admits as soon as a slot frees: on
// the store's freed notification (leave or expiry) or at the moment the
// earliest ACTIVE session of the event would expire. If the granter dies,
// the held messages reappear after their visibility timeout; one that has
// been received as often as the queue's redrive policy allows is sent
// again as a fresh copy before the old one would go to the dead-letter
// queue, so a waiting session never loses its message.
package granter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wrctl/wrctl/internal/config"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/room"
)

// Config tunes a Granter.
type Config struct {
	// Groups is how many message groups an event's wake-ups spread over,
	// for the messages the granter sends again. 0: queue.GroupsPerEvent.
	Groups queue.Groups
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
	// RedriveEvery is how often the granter looks in the dead-letter queue
	// for wake-ups that landed there (a replica killed during its long poll
	// spends a receive it never saw) and sends back those whose event still
	// has someone waiting. Default 10s.
	RedriveEvery time.Duration
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
	if c.RedriveEvery <= 0 {
		c.RedriveEvery = 10 * time.Second
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 10000
	}
	if c.MaxHeldPerEvent <= 0 {
		c.MaxHeldPerEvent = queue.MaxBatch
	}
}

// Store is what the granter needs of the session store.
type Store interface {
	Grant(ctx context.Context, eventID, id string) (room.GrantResult, error)
	Sweep(ctx context.Context) (int, error)
	Stats(ctx context.Context, eventID string) (room.EventStats, error)
	Freed() <-chan string
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
	st  Store
	log *slog.Logger
	// Now is the clock; time.Now unless a test sets it.
	Now func() time.Time
	// Observe, if set, is called with every decision that ends a message.
	Observe func(Decision)
	// Count, if set, hears of messages handled apart from decisions:
	// "dead_lettered" (undecodable), "recycled" (sent again before the
	// redrive policy would move them to the dead-letter queue) and
	// "redriven" (brought back from the dead-letter queue).
	Count func(what string, n int)
	// LoopLag, if set, hears how late each periodic tick was handled.
	LoopLag func(time.Duration)

	held    map[string][]*heldMsg // per event, in queue order
	nHeld   int
	heldPub atomic.Int64 // nHeld, for other goroutines
	retryAt map[string]time.Time
	// wakeAt is, per event with held messages, when the next message it
	// postpones is due back: postponed wake-ups return spaced at the
	// event's admission rate (see postpone).
	wakeAt map[string]time.Time
	// maxReceive is the queue's redrive limit, 0 if none or unknown.
	maxReceive int
}

type heldMsg struct {
	msg      queue.Message
	extended time.Time
}

// New returns a granter on q and st.
func New(cfg Config, q queue.Queue, st Store, log *slog.Logger) *Granter {
	cfg.defaults()
	return &Granter{cfg: cfg, q: q, st: st, log: log, Now: time.Now}
}

// Run admits until ctx is cancelled, then makes its held messages visible
// again so another replica can take them at once.
func (g *Granter) Run(ctx context.Context) error {
	g.held = make(map[string][]*heldMsg)
	g.retryAt = make(map[string]time.Time)
	g.wakeAt = make(map[string]time.Time)
	g.readRedrive(ctx)
	// Sweeps and redrives run apart: they never delay an admission.
	var background sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer func() { stopBackground(); background.Wait() }()
	background.Go(func() { g.background(bgCtx) })
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

// background sweeps overdue sessions every tick and redrives the
// dead-letter queue every RedriveEvery, until ctx ends.
func (g *Granter) background(ctx context.Context) {
	tick := time.NewTicker(g.cfg.Tick)
	defer tick.Stop()
	redrive := time.NewTicker(g.cfg.RedriveEvery)
	defer redrive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := g.st.Sweep(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("sweep expired sessions", "err", err)
			}
		case <-redrive.C:
			g.redrive(ctx)
		}
	}
}

// redrive sends back the wake-ups found in the dead-letter queue whose
// event still has someone waiting, and drops the spent ones: every WAITING
// session keeps a live message even when the queue's redrive policy moved
// one. Messages that cannot be decoded stay there for the operator.
func (g *Granter) redrive(ctx context.Context) {
	for range 10 { // at most 100 messages a round
		msgs, err := g.q.ReceiveDead(ctx, queue.MaxBatch, 3*g.cfg.RedriveEvery)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("read the dead-letter queue", "err", err)
			}
			return
		}
		waiting := map[string]bool{}
		var back []queue.Outgoing
		var done []queue.Message
		for _, m := range msgs {
			if m.Err != nil {
				continue
			}
			ev := m.Body.EventID
			w, ok := waiting[ev]
			if !ok {
				st, err := g.st.Stats(ctx, ev)
				if err != nil {
					g.log.Warn("redrive: read the event", "event", ev, "err", err)
					return
				}
				w, waiting[ev] = st.Waiting > 0, st.Waiting > 0
			}
			if w {
				out := g.cfg.Groups.Outgoing(m.Body)
				out.DedupID = m.Body.SessionID + "-" + randomSuffix()
				back = append(back, out)
			}
			done = append(done, m)
		}
		if len(back) > 0 {
			if err := sendAll(ctx, g.q, back); err != nil {
				g.log.Warn("redrive: send wake-ups back", "err", err, "count", len(back))
				return // they stay in the dead-letter queue and are tried again
			}
			g.log.Warn("wake-ups brought back from the dead-letter queue", "count", len(back))
			if g.Count != nil {
				g.Count("redriven", len(back))
			}
		}
		if len(done) > 0 {
			if err := g.q.DeleteDead(ctx, done); err != nil {
				g.log.Warn("redrive: delete from the dead-letter queue", "err", err, "count", len(done))
			}
		}
		if len(msgs) < queue.MaxBatch {
			return
		}
	}
}

// sendAll sends messages and reports the first failure, of the request or
// of one message.
func sendAll(ctx context.Context, q queue.Queue, msgs []queue.Outgoing) error {
	failed, err := q.Send(ctx, msgs)
	for _, f := range failed {
		if err == nil {
			err = f
		}
	}
	return err
}

// readRedrive learns the queue's redrive limit; without it the granter
// cannot save held messages from the dead-letter queue, and says so.
func (g *Granter) readRedrive(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := g.q.MaxReceiveCount(rctx)
	switch {
	case err != nil:
		g.log.Warn("read the queue's redrive policy; held messages will not be saved from the dead-letter queue", "err", err)
	case n == 1:
		g.log.Warn("the queue's redrive policy moves a message to the dead-letter queue after 1 receive: every held message must be sent again; use a maxReceiveCount of 2 or more")
	}
	g.maxReceive = n
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
// tries to admit with them.
func (g *Granter) accept(ctx context.Context, msgs []queue.Message) {
	now := g.Now()
	touched := map[string]bool{}
	var order []string
	var bad []queue.Message
	for _, m := range msgs {
		if m.Err != nil {
			bad = append(bad, m)
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
	if len(bad) > 0 {
		// Left in flight it would come back until its receive count ran
		// out, holding its message group all that time.
		for _, m := range bad {
			g.log.Error("undecodable message moved to the dead-letter queue", "err", m.Err, "message_id", m.ID, "group", m.GroupID)
		}
		if err := g.q.DeadLetter(ctx, bad); err != nil {
			g.log.Warn("dead-letter undecodable messages", "err", err, "count", len(bad))
		} else if g.Count != nil {
			g.Count("dead_lettered", len(bad))
		}
	}
	for _, ev := range order {
		// Recycled first, so that a message about to be postponed is saved
		// from the dead-letter queue too.
		g.recycle(ctx, ev)
		g.process(ctx, ev)
	}
}

// recycle sends a fresh copy of each held message of ev that has been
// received as often as the redrive policy allows, then deletes the old
// one: if this replica died holding it, the queue would move it to the
// dead-letter queue and leave a waiting session without a message. A
// crash between the two leaves one message too many, which only wakes the
// event once more.
func (g *Granter) recycle(ctx context.Context, ev string) {
	if g.maxReceive <= 0 {
		return
	}
	// One receive of margin where the limit allows it: a replica killed
	// during its long poll spends a receive nobody sees.
	limit := max(g.maxReceive-1, 2)
	list := g.held[ev]
	var old []queue.Message
	var fresh []queue.Outgoing
	keep := make([]*heldMsg, 0, len(list)) // list stays as it is if the send fails
	for _, h := range list {
		if h.msg.ReceiveCount < limit {
			keep = append(keep, h)
			continue
		}
		old = append(old, h.msg)
		out := g.cfg.Groups.Outgoing(h.msg.Body)
		out.DedupID = h.msg.Body.SessionID + "-" + randomSuffix()
		fresh = append(fresh, out)
	}
	if len(old) == 0 {
		return
	}
	if err := sendAll(ctx, g.q, fresh); err != nil {
		g.log.Warn("send fresh copies of held messages", "err", err, "count", len(fresh))
		return // keep holding the old ones; try again at the next receive
	}
	if err := g.q.Delete(ctx, old); err != nil {
		g.log.Warn("delete recycled messages", "err", err, "count", len(old))
	}
	g.nHeld -= len(old)
	if len(keep) == 0 {
		delete(g.held, ev)
		delete(g.retryAt, ev)
		delete(g.wakeAt, ev)
	} else {
		g.held[ev] = keep
	}
	g.log.Info("held messages sent again before the redrive limit", "event", ev, "count", len(old))
	if g.Count != nil {
		g.Count("recycled", len(old))
	}
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// process admits the held messages of one event in order until it is full.
func (g *Granter) process(ctx context.Context, ev string) {
	list := g.held[ev]
	var done []queue.Message
	var rate float64 // the event's admission rate, when Full says it
	i := 0
	for ; i < len(list); i++ {
		m := list[i].msg
		r, err := g.st.Grant(ctx, ev, m.Body.SessionID)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("grant", "event", ev, "err", err)
			}
			break
		}
		if r.Outcome == room.Full || r.Outcome == room.Blocked {
			// Full: a slot frees on the store's notification or at RetryAt.
			// Blocked: the lowest ticket's send is finishing on some
			// replica, whose MarkEnqueued notifies; RetryAt ends its grace.
			if at := r.RetryAt; at.After(g.Now()) {
				g.retryAt[ev] = at
			} else {
				delete(g.retryAt, ev) // no known deadline: the tick retries
			}
			rate = r.Session.AdmissionRate
			break
		}
		g.log.Debug("admission decision", "event", ev, "outcome", r.Outcome.String(), "ticket", r.Session.Seq)
		if g.Observe != nil {
			g.Observe(Decision{Outcome: r.Outcome, Session: r.Session})
		}
		done = append(done, m)
	}
	g.nHeld -= len(done)
	rest := list[i:]
	if len(rest) > g.cfg.MaxHeldPerEvent {
		g.postpone(ctx, rest[g.cfg.MaxHeldPerEvent:], g.retryAt[ev], rate)
		rest = rest[:g.cfg.MaxHeldPerEvent]
	}
	if len(rest) == 0 {
		delete(g.held, ev)
		delete(g.retryAt, ev)
		delete(g.wakeAt, ev)
	} else {
		g.held[ev] = rest
	}
	if len(done) > 0 {
		// The store has recorded every outcome: only now may the messages go.
		// A failed delete only means a redelivery: one wake-up too many.
		if err := g.q.Delete(ctx, done); err != nil && ctx.Err() == nil {
			g.log.Warn("delete decided messages", "err", err, "count", len(done))
		}
	}
}

// postpone hands messages of a full event back to the queue for a while.
// They come back spaced at the event's admission rate (ten a second while
// it is unknown), one after another from a second from now, so that the
// line never waits for its wake-ups while slots free, and no sooner than
// it uses them: past a third of the visibility timeout, or the moment the
// event may admit again when that is known (a rate cap's next token, the
// start), the rest come back then, as before.
func (g *Granter) postpone(ctx context.Context, hs []*heldMsg, retryAt time.Time, rate float64) {
	g.nHeld -= len(hs)
	now := g.Now()
	longest := g.cfg.Visibility / 3
	if !retryAt.IsZero() {
		longest = min(longest, retryAt.Sub(now))
	}
	longest = max(longest, time.Second)
	if rate <= 0 {
		rate = float64(g.cfg.MaxHeldPerEvent)
	}
	ev := hs[0].msg.Body.EventID
	next := now.Add(time.Second)
	if at := g.wakeAt[ev]; at.After(next) {
		next = at
	}
	byDelay := map[time.Duration][]queue.Message{}
	var delays []time.Duration
	for _, h := range hs {
		d := min(next.Sub(now), longest).Truncate(time.Second)
		if _, ok := byDelay[d]; !ok {
			delays = append(delays, d)
		}
		byDelay[d] = append(byDelay[d], h.msg)
		if next = next.Add(time.Duration(float64(time.Second) / rate)); next.After(now.Add(longest)) {
			next = now.Add(longest)
		}
	}
	g.wakeAt[ev] = next
	for _, d := range delays {
		if err := g.q.ChangeVisibility(ctx, byDelay[d], d); err != nil && ctx.Err() == nil {
			g.log.Warn("postpone messages of a full event", "err", err, "count", len(byDelay[d]))
		}
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
	clear(g.wakeAt)
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

// Validate reports every setting of c that cannot work, by its
// configuration key, as config.FieldErrors.
func (c Config) Validate() error {
	var ck config.Check
	if c.Groups < 1 || c.Groups > queue.MaxGroupsPerEvent {
		ck.Bad("queue.groupsPerEvent", "must be 1..%d, got %d", queue.MaxGroupsPerEvent, c.Groups)
	}
	ck.Between("queue.visibilityTimeout", c.Visibility, 2*time.Second, 12*time.Hour)
	return ck.Err()
}
