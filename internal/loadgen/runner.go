package loadgen

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/client"
)

// The endpoints a run measures.
const (
	EndpointJoin   = "join"
	EndpointStatus = "status"
	// EndpointWait is a status request held by the server for a change:
	// its latency is mostly the hold.
	EndpointWait      = "wait"
	EndpointHeartbeat = "heartbeat"
	EndpointLeave     = "leave"
	EndpointStats     = "stats"
)

var endpoints = []string{EndpointJoin, EndpointStatus, EndpointWait, EndpointHeartbeat, EndpointLeave, EndpointStats}

type state uint8

const (
	statePending state = iota
	stateWaiting
	stateActive
	stateDone
)

// user is one simulated user: a few words, so that a process holds 100k+.
type user struct {
	k         int32 // global index
	event     int32
	state     state
	abandon   bool
	joinSent  bool  // a join went out: the server may hold a session of this user
	ended     uint8 // 0, or how it ended: see the end* constants
	joinAt    int64 // scheduled join, Unix ns
	hold      time.Duration
	holdUntil int64
	due       int64 // the scheduled time of the action being run, Unix ns
	session   string
	ticket    int64
	pre       bool  // joined into the event's pre-queue (before its start)
	joinedAt  int64 // when its join was answered WAITING, Unix µs
	admission int64 // the server's order of admission in the event
	activated int64 // server clock, Unix µs
	seen      int64 // Unix µs
	left      int64 // Unix µs
}

const (
	endLeft = iota + 1
	endAbandoned
	endExpiredWaiting
	endExpiredActive
	endFailed
)

// Progress is a live snapshot of a run.
type Progress struct {
	Scheduled, Joined, Waiting, Active, Done, Errors int64
	Elapsed                                          time.Duration
	// JoinRate is accepted joins per second so far, over the arrival window.
	JoinRate float64
	// ArrivalsLeft is the time until the last arrival is due.
	ArrivalsLeft time.Duration
	// Interrupted is set once Interrupt was called: the run is leaving its
	// sessions and will end short.
	Interrupted bool
}

// ErrUnreachable is a server that cannot be reached, or is not ready,
// when the run starts: nothing was scheduled.
var ErrUnreachable = errors.New("the server is not reachable or not ready")

// Runner runs one scenario (or one shard of it).
type Runner struct {
	cfg   Config
	c     *client.Client
	sched Schedule

	users []user
	mu    sync.Mutex
	queue actionHeap
	wake  chan struct{}

	start    time.Time
	lastDue  time.Duration // when the last arrival is due
	inflight atomic.Int64

	interrupt     chan struct{}
	interruptOnce sync.Once
	interrupted   atomic.Bool
	leftAtStop    atomic.Int64

	histMu  sync.Mutex
	hists   map[string]*hdr.Histogram
	ivHists map[string]*hdr.Histogram // since the last timeline sample
	errs    map[string]map[string]int64
	status  map[string]map[string]int64
	counts  map[string]int64
	ttA     *hdr.Histogram
	lag     *hdr.Histogram

	tlMu     sync.Mutex
	timeline Timeline
	admits   atomic.Int64
	inside   []atomic.Int64 // users inside per event, as they see it
	holds    chan struct{}  // free places for held status requests

	scheduled, joined, waiting, active, done, errors atomic.Int64
	lastJoin                                         atomic.Int64 // Unix ns
	late, dropped                                    atomic.Int64

	evMu      sync.Mutex
	events    []Event
	statsOK   atomic.Bool
	peakHeap  atomic.Int64
	bytesUser int64
}

// New returns a runner of cfg against the server c talks to.
func New(cfg Config, c *client.Client) (*Runner, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{
		cfg:       cfg,
		c:         c,
		sched:     NewSchedule(cfg.Rate, cfg.Stages),
		wake:      make(chan struct{}, 1),
		interrupt: make(chan struct{}),
		hists:     map[string]*hdr.Histogram{},
		ivHists:   map[string]*hdr.Histogram{},
		errs:      map[string]map[string]int64{},
		status:    map[string]map[string]int64{},
		counts:    map[string]int64{},
		ttA:       newHist(),
		lag:       newHist(),
		events:    make([]Event, cfg.Events),
		inside:    make([]atomic.Int64, cfg.Events),
		holds:     make(chan struct{}, max(cfg.MaxHeld, 1)),
	}
	for _, e := range endpoints {
		r.hists[e], r.ivHists[e] = newHist(), newHist()
		r.errs[e], r.status[e] = map[string]int64{}, map[string]int64{}
	}
	for i := range r.events {
		r.events[i].Capacity = cfg.capacityOf(i)
		if r.events[i].Capacity > 0 {
			r.events[i].CapacitySource = CapacityFromOperator
		}
	}
	r.statsOK.Store(true)
	return r, nil
}

// Progress returns a snapshot; safe to call while Run runs.
func (r *Runner) Progress() Progress {
	p := Progress{
		Scheduled: r.scheduled.Load(), Joined: r.joined.Load(), Waiting: r.waiting.Load(),
		Active: r.active.Load(), Done: r.done.Load(), Errors: r.errors.Load(),
		Interrupted: r.interrupted.Load(),
	}
	// start and lastDue are set before Scheduled, which publishes them.
	if p.Scheduled > 0 {
		p.Elapsed = time.Since(r.start)
		p.ArrivalsLeft = max(r.lastDue-p.Elapsed, 0)
		if last := r.lastJoin.Load(); last > 0 {
			if s := time.Unix(0, last).Sub(r.start).Seconds(); s > 0 {
				p.JoinRate = float64(p.Joined) / s
			}
		}
	}
	return p
}

// Interrupt ends the run early: no more arrivals, the requests in flight
// are abandoned, every session the run holds is left, and the report is
// marked interrupted. Safe to call more than once and from any goroutine.
func (r *Runner) Interrupt() {
	r.interruptOnce.Do(func() {
		r.interrupted.Store(true)
		close(r.interrupt)
	})
}

// Run checks the server is ready, then runs the scenario until every user
// is done, the duration cap passes or Interrupt is called; then it leaves
// every session still open, so no load lingers, and returns the report.
// Cancelling ctx stops at once, leaving nothing.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := r.c.Ready(pctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if r.cfg.StartsIn > 0 {
		r.cfg.StartsAt = time.Now().Add(r.cfg.StartsIn)
	}
	if !r.cfg.StartsAt.IsZero() {
		if err := r.schedule(ctx); err != nil {
			return nil, err
		}
	}
	sqsBefore, sqsOK := r.scrapeSQS(ctx)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r.start = time.Now().Add(50 * time.Millisecond) // a moment to set up
	r.plan()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if n := int64(len(r.users)); n > 0 {
		r.bytesUser = max(int64(after.HeapAlloc)-int64(before.HeapAlloc), 0) / n
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.cfg.Duration > 0 {
		var c2 context.CancelFunc
		runCtx, c2 = context.WithDeadline(runCtx, r.start.Add(r.cfg.Duration))
		defer c2()
	}

	go func(done <-chan struct{}) {
		select {
		case <-r.interrupt:
			cancel()
		case <-done:
		}
	}(runCtx.Done())
	work := make(chan int32)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for idx := range work {
				r.act(runCtx, idx)
				r.inflight.Add(-1)
				r.signal()
			}
		})
	}
	statsDone := make(chan struct{})
	statsCtx, stopStats := context.WithCancel(ctx)
	go func() { defer close(statsDone); r.watchStats(statsCtx) }()

	r.dispatch(runCtx, work)
	close(work)
	wg.Wait()
	stopStats()
	<-statsDone
	r.readStats(ctx) // the final figures, before the run's own leaves
	r.sample()
	r.leaveOpen(ctx)
	r.readShuffles(ctx)
	if !r.cfg.StartsAt.IsZero() {
		r.verifyLogs(ctx)
	}
	rep := r.report()
	if after, ok := r.scrapeSQS(ctx); ok && sqsOK {
		rep.SQS = &SQSUsage{Requests: after - sqsBefore, Replicas: len(r.cfg.MetricsURLs)}
		rep.priceSQS()
	}
	return rep, nil
}

// scrapeSQS sums the SQS requests the replicas have made so far, from
// their /metrics; ok is false when any cannot be read.
func (r *Runner) scrapeSQS(ctx context.Context) (sum float64, ok bool) {
	if len(r.cfg.MetricsURLs) == 0 {
		return 0, false
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, u := range r.cfg.MetricsURLs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, false
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, false
		}
		n, found, err := SumMetric(resp.Body, SQSRequests)
		resp.Body.Close()
		if err != nil || !found || resp.StatusCode != http.StatusOK {
			return 0, false
		}
		sum += n
	}
	return sum, true
}

// leaveOpen leaves the sessions of the users the run cut short, and of
// joins abandoned in flight (found again by their Idempotency-Key).
func (r *Runner) leaveOpen(ctx context.Context) {
	work := make(chan int32)
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, 64) {
		wg.Go(func() {
			for idx := range work {
				u := &r.users[idx]
				if u.session == "" {
					id := r.cfg.UserID(int(u.k))
					s, _, err := r.c.JoinRetryAfter(ctx, r.cfg.EventID(int(u.event)), id, id)
					if err != nil {
						continue
					}
					u.session = s.SessionID
				}
				if u.state == stateActive && u.left == 0 {
					u.left = time.Now().UnixMicro()
				}
				var ae *client.APIError
				if err := r.c.Leave(ctx, u.session); err == nil || errors.As(err, &ae) && ae.StatusCode < 500 {
					r.leftAtStop.Add(1)
				}
			}
		})
	}
	for i := range r.users {
		u := &r.users[i]
		if u.ended == 0 && (u.state == stateWaiting || u.state == stateActive || u.joinSent) && ctx.Err() == nil {
			work <- int32(i)
		}
	}
	close(work)
	wg.Wait()
}

// plan creates this shard's users and queues their arrivals.
func (r *Runner) plan() {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(r.cfg.Shard)))
	capacity := min(r.cfg.Users, r.sched.Capacity())
	r.users = make([]user, 0, capacity/r.cfg.Shards+1)
	for k := r.cfg.Shard; k < capacity; k += r.cfg.Shards {
		at, ok := r.sched.At(k)
		if !ok {
			break
		}
		u := user{
			k:       int32(k),
			event:   int32(k % r.cfg.Events),
			joinAt:  r.start.Add(at).UnixNano(),
			hold:    r.cfg.Hold.Sample(rng),
			abandon: rng.Float64() < r.cfg.Abandon,
		}
		r.users = append(r.users, u)
		r.queue = append(r.queue, action{at: u.joinAt, idx: int32(len(r.users) - 1)})
		r.lastDue = at
	}
	heap.Init(&r.queue)
	r.scheduled.Store(int64(len(r.users)))
}

// dispatch hands due actions to the workers until nothing is left to do.
// An action waits for a free worker without moving its scheduled time, so
// a slow server shows in the latency instead of slowing the schedule.
func (r *Runner) dispatch(ctx context.Context, work chan<- int32) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		if len(r.queue) == 0 && r.inflight.Load() == 0 {
			r.mu.Unlock()
			return
		}
		now := time.Now().UnixNano()
		if len(r.queue) > 0 && r.queue[0].at <= now {
			a := heap.Pop(&r.queue).(action)
			r.inflight.Add(1)
			r.mu.Unlock()
			r.users[a.idx].due = a.at
			select {
			case work <- a.idx:
			case <-ctx.Done():
				r.inflight.Add(-1)
				r.requeue(a)
				r.cutShort()
				return
			}
			continue
		}
		wait := time.Hour
		if len(r.queue) > 0 {
			wait = time.Duration(r.queue[0].at - now)
		}
		r.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			r.cutShort()
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

func (r *Runner) requeue(a action) {
	r.mu.Lock()
	heap.Push(&r.queue, a)
	r.mu.Unlock()
}

// cutShort accounts for the users the duration cap stopped.
func (r *Runner) cutShort() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.queue {
		if r.users[a.idx].state == statePending {
			r.dropped.Add(1)
		}
	}
	r.queue = r.queue[:0]
}

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next queues a user's next action at t (Unix ns).
func (r *Runner) next(idx int32, t int64) {
	r.mu.Lock()
	heap.Push(&r.queue, action{at: t, idx: idx})
	r.mu.Unlock()
	r.signal()
}

type action struct {
	at  int64
	idx int32
}

type actionHeap []action

func (h actionHeap) Len() int           { return len(h) }
func (h actionHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h actionHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *actionHeap) Push(x any)        { *h = append(*h, x.(action)) }
func (h *actionHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ErrSchedule is a start that could not be set on the server.
var ErrSchedule = errors.New("cannot set the events' start")

// schedule gives every event of the run the start StartsAt, keeping its
// other runtime settings: users who arrive before it join the pre-queue.
func (r *Runner) schedule(ctx context.Context) error {
	admin := r.c.Admin(r.cfg.AdminToken)
	starts := r.cfg.StartsAt.UTC()
	for i := range r.cfg.Events {
		id := r.cfg.EventID(i)
		ev, err := admin.Event(ctx, id)
		if err != nil && !client.IsNotFound(err) { // the run's fresh event: no settings yet
			return fmt.Errorf("%w: %s: %w", ErrSchedule, id, err)
		}
		s := ev.Settings
		s.StartsAt = starts
		if s.OpensAt.After(starts) {
			s.OpensAt = time.Time{}
		}
		if _, err := admin.PutEvent(ctx, id, s); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSchedule, id, err)
		}
	}
	return nil
}

// verifyLogs reads and verifies each event's public audit log, with the
// room's key set.
func (r *Runner) verifyLogs(ctx context.Context) {
	jwks, _ := r.c.JWKS(ctx)
	keys, _ := audit.KeysFromJWKS(jwks)
	for i := range r.events {
		l := &LogAudit{Violations: []string{}}
		r.events[i].Log = l
		body, err := r.c.Audit(ctx, r.cfg.EventID(i))
		if err != nil {
			l.Error = "read: " + err.Error()
			continue
		}
		rep, err := audit.Verify(body, audit.Options{Keys: keys})
		body.Close()
		if err != nil {
			l.Error = err.Error()
			continue
		}
		l.Entries, l.Signed, l.Violations = rep.Entries, rep.Signed, rep.Violations
	}
}

// readShuffles reads each event's record of its start, with the admin
// token, for the start audit; an event without one keeps none.
func (r *Runner) readShuffles(ctx context.Context) {
	if r.cfg.AdminToken == "" {
		return
	}
	admin := r.c.Admin(r.cfg.AdminToken)
	for i := range r.events {
		sh, err := admin.Shuffle(ctx, r.cfg.EventID(i))
		if err == nil {
			r.events[i].ShuffleRecord = sh.Order
		}
	}
}
