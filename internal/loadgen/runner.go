package loadgen

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
)

// The endpoints a run measures.
const (
	EndpointJoin      = "join"
	EndpointStatus    = "status"
	EndpointHeartbeat = "heartbeat"
	EndpointLeave     = "leave"
	EndpointStats     = "stats"
)

var endpoints = []string{EndpointJoin, EndpointStatus, EndpointHeartbeat, EndpointLeave, EndpointStats}

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
	failed    bool
	ended     uint8 // 0, or how it ended: see the end* constants
	joinAt    int64 // scheduled join, Unix ns
	hold      time.Duration
	holdUntil int64
	due       int64 // the scheduled time of the action being run, Unix ns
	session   string
	ticket    int64
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
}

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
	inflight atomic.Int64

	histMu sync.Mutex
	hists  map[string]*hdr.Histogram
	errs   map[string]map[string]int64
	counts map[string]int64
	ttA    *hdr.Histogram
	lag    *hdr.Histogram

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
		cfg:    cfg,
		c:      c,
		sched:  NewSchedule(cfg.Rate, cfg.Stages),
		wake:   make(chan struct{}, 1),
		hists:  map[string]*hdr.Histogram{},
		errs:   map[string]map[string]int64{},
		counts: map[string]int64{},
		ttA:    newHist(),
		lag:    newHist(),
		events: make([]Event, cfg.Events),
	}
	for _, e := range endpoints {
		r.hists[e] = newHist()
		r.errs[e] = map[string]int64{}
	}
	r.statsOK.Store(true)
	return r, nil
}

// Progress returns a snapshot; safe to call while Run runs.
func (r *Runner) Progress() Progress {
	p := Progress{
		Scheduled: r.scheduled.Load(), Joined: r.joined.Load(), Waiting: r.waiting.Load(),
		Active: r.active.Load(), Done: r.done.Load(), Errors: r.errors.Load(),
	}
	if !r.start.IsZero() {
		p.Elapsed = time.Since(r.start)
		if last := r.lastJoin.Load(); last > 0 {
			if s := time.Unix(0, last).Sub(r.start).Seconds(); s > 0 {
				p.JoinRate = float64(p.Joined) / s
			}
		}
	}
	return p
}

// Run runs the scenario until every user is done, the duration cap passes or
// ctx is cancelled, and returns the report.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
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
	r.readStats(ctx) // the final figures
	return r.report(), nil
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

// act performs one user's due action and queues the next.
func (r *Runner) act(ctx context.Context, idx int32) {
	u := &r.users[idx]
	scheduled := u.due
	switch u.state {
	case statePending:
		r.join(ctx, idx, u, scheduled)
	case stateWaiting:
		r.poll(ctx, idx, u, scheduled)
	case stateActive:
		if time.Now().UnixNano() >= u.holdUntil {
			r.leave(ctx, u, scheduled)
		} else {
			r.heartbeat(ctx, idx, u, scheduled)
		}
	}
}

func (r *Runner) join(ctx context.Context, idx int32, u *user, scheduled int64) {
	started := time.Now()
	lag := started.Sub(time.Unix(0, scheduled))
	r.histMu.Lock()
	record(r.lag, lag)
	r.histMu.Unlock()
	if lag > r.cfg.LateAfter {
		r.late.Add(1)
	}
	s, retry, err := r.c.JoinRetry(ctx, r.cfg.EventID(int(u.event)), r.cfg.UserID(int(u.k)))
	if r.measure(ctx, EndpointJoin, scheduled, err) {
		return
	}
	if err != nil {
		r.finish(u, endFailed)
		return
	}
	r.joined.Add(1)
	r.lastJoin.Store(time.Now().UnixNano())
	u.session, u.ticket = s.SessionID, s.Ticket
	u.state = stateWaiting
	r.waiting.Add(1)
	if s.Status == api.StatusActive {
		r.admitted(idx, u, s)
		return
	}
	if u.abandon {
		r.waiting.Add(-1)
		r.finish(u, endAbandoned)
		return
	}
	r.next(idx, time.Now().Add(r.pollDelay(retry)).UnixNano())
}

func (r *Runner) poll(ctx context.Context, idx int32, u *user, scheduled int64) {
	s, retry, err := r.c.Status(ctx, u.session)
	if r.measure(ctx, EndpointStatus, scheduled, err) {
		return
	}
	if err != nil {
		var ae *client.APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
			r.waiting.Add(-1)
			r.finish(u, endFailed)
			return
		}
		r.next(idx, time.Now().Add(max(retry, time.Second)).UnixNano())
		return
	}
	switch {
	case s.Status == api.StatusActive:
		r.admitted(idx, u, s)
	case s.Ended():
		r.waiting.Add(-1)
		r.finish(u, endExpiredWaiting)
	default:
		r.next(idx, time.Now().Add(r.pollDelay(retry)).UnixNano())
	}
}

// pollDelay is --poll-interval, or else the server's Retry-After.
func (r *Runner) pollDelay(retry time.Duration) time.Duration {
	if r.cfg.PollInterval > 0 {
		return r.cfg.PollInterval
	}
	if retry > 0 {
		return retry
	}
	return 2 * time.Second
}

// admitted records a user's first sight of ACTIVE and plans its stay.
func (r *Runner) admitted(idx int32, u *user, s api.Session) {
	now := time.Now()
	r.waiting.Add(-1)
	r.active.Add(1)
	u.state = stateActive
	u.seen = now.UnixMicro()
	if s.ActivatedAt != nil {
		u.activated = s.ActivatedAt.UnixMicro()
	}
	r.histMu.Lock()
	record(r.ttA, now.Sub(time.Unix(0, u.joinAt)))
	r.histMu.Unlock()
	u.holdUntil = now.Add(u.hold).UnixNano()
	r.next(idx, min(u.holdUntil, now.Add(r.cfg.HeartbeatInterval).UnixNano()))
}

func (r *Runner) heartbeat(ctx context.Context, idx int32, u *user, scheduled int64) {
	err := r.c.Heartbeat(ctx, u.session)
	if r.measure(ctx, EndpointHeartbeat, scheduled, err) {
		return
	}
	var ae *client.APIError
	if errors.As(err, &ae) && (ae.StatusCode == http.StatusConflict || ae.StatusCode == http.StatusNotFound) {
		u.left = time.Now().UnixMicro()
		r.active.Add(-1)
		r.finish(u, endExpiredActive)
		return
	}
	now := time.Now()
	r.next(idx, min(u.holdUntil, now.Add(r.cfg.HeartbeatInterval).UnixNano()))
}

func (r *Runner) leave(ctx context.Context, u *user, scheduled int64) {
	// Out of the client-side count before the request: the server may admit
	// the next user the moment it answers.
	u.left = time.Now().UnixMicro()
	r.active.Add(-1)
	err := r.c.Leave(ctx, u.session)
	r.measure(ctx, EndpointLeave, scheduled, err)
	r.finish(u, endLeft)
}

func (r *Runner) finish(u *user, how uint8) {
	u.state = stateDone
	u.ended = how
	r.done.Add(1)
}

// measure records a request's latency from its scheduled time and its
// error, if any. It reports true when the run was cut short under it.
func (r *Runner) measure(ctx context.Context, endpoint string, scheduled int64, err error) bool {
	if err != nil && ctx.Err() != nil {
		return true
	}
	d := time.Since(time.Unix(0, scheduled))
	r.histMu.Lock()
	defer r.histMu.Unlock()
	r.counts[endpoint]++
	record(r.hists[endpoint], d)
	if err != nil {
		r.errs[endpoint][errorKind(err)]++
		r.errors.Add(1)
	}
	return false
}

func errorKind(err error) string {
	var ae *client.APIError
	var ne *client.NetworkError
	switch {
	case errors.As(err, &ae):
		return "http_" + strconv.Itoa(ae.StatusCode)
	case errors.As(err, &ne):
		return "network"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}

// watchStats reads every event's stats from the server while the run runs.
func (r *Runner) watchStats(ctx context.Context) {
	t := time.NewTicker(r.cfg.StatsInterval)
	defer t.Stop()
	for {
		r.readStats(ctx)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if h := int64(ms.HeapAlloc); h > r.peakHeap.Load() {
			r.peakHeap.Store(h)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) readStats(ctx context.Context) {
	if !r.statsOK.Load() {
		return
	}
	for i := range r.events {
		start := time.Now()
		st, err := r.c.EventStats(ctx, r.cfg.EventID(i))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ae *client.APIError
			if errors.As(err, &ae) && (ae.StatusCode == http.StatusNotFound || ae.StatusCode == http.StatusMethodNotAllowed) {
				r.statsOK.Store(false) // a server without the stats endpoint
				return
			}
		}
		r.histMu.Lock()
		r.counts[EndpointStats]++
		record(r.hists[EndpointStats], time.Since(start))
		if err != nil {
			r.errs[EndpointStats][errorKind(err)]++
		}
		r.histMu.Unlock()
		if err != nil {
			continue
		}
		r.evMu.Lock()
		e := &r.events[i]
		e.Capacity = st.Capacity
		e.ServerMaxActiveSeen = max(e.ServerMaxActiveSeen, st.Active)
		e.ServerPeakActive = max(e.ServerPeakActive, st.PeakActive)
		r.evMu.Unlock()
	}
}

// report builds the run's report.
func (r *Runner) report() *Report {
	end := time.Now()
	rep := &Report{
		Version:    ReportVersion,
		RunID:      r.cfg.RunID,
		Shards:     []string{fmt.Sprintf("%d/%d", r.cfg.Shard, r.cfg.Shards)},
		Scenario:   r.scenario(),
		StartedAt:  r.start.UTC(),
		Elapsed:    Millis(float64(end.Sub(r.start)) / float64(time.Millisecond)),
		Endpoints:  map[string]Endpoint{},
		Events:     map[string]Event{},
		Admissions: map[string][]Admission{},
		Memory:     Memory{BytesPerUser: r.bytesUser, PeakHeapBytes: r.peakHeap.Load()},
	}
	if last := r.lastJoin.Load(); last > 0 {
		rep.LastJoinAt = time.Unix(0, last).UTC()
	}
	rep.Audit.ServerStatsAvailable = r.statsOK.Load()
	r.histMu.Lock()
	for _, e := range endpoints {
		rep.Endpoints[e] = Endpoint{Count: r.counts[e], Errors: r.errs[e], Latency: summarize(r.hists[e])}
	}
	rep.TimeToAdmission = summarize(r.ttA)
	rep.ArrivalLag = summarize(r.lag)
	r.histMu.Unlock()
	r.evMu.Lock()
	for i, ev := range r.events {
		rep.Events[r.cfg.EventID(i)] = ev
	}
	r.evMu.Unlock()
	u := &rep.Users
	u.Scheduled = r.scheduled.Load()
	u.Joined = r.joined.Load()
	u.LateArrivals = r.late.Load()
	u.DroppedArrivals = r.dropped.Load()
	for i := range r.users {
		us := &r.users[i]
		if us.seen != 0 {
			id := r.cfg.EventID(int(us.event))
			rep.Admissions[id] = append(rep.Admissions[id], Admission{Ticket: us.ticket, ActivatedAt: us.activated, SeenAt: us.seen, LeftAt: us.left})
			u.Admitted++
		}
		switch us.ended {
		case endLeft:
			u.Left++
		case endAbandoned:
			u.Abandoned++
		case endExpiredWaiting:
			u.ExpiredWaiting++
		case endExpiredActive:
			u.ExpiredActive++
		case endFailed:
			u.Failed++
		default:
			if us.state != statePending {
				u.Incomplete++
			}
		}
	}
	rep.finish(end.UnixMicro())
	return rep
}

func (r *Runner) scenario() Scenario {
	s := Scenario{Users: r.cfg.Users, Rate: r.cfg.Rate, Events: r.cfg.Events, Hold: r.cfg.Hold.String(), Abandon: r.cfg.Abandon}
	for i, st := range r.cfg.Stages {
		if i > 0 {
			s.Stages += ","
		}
		s.Stages += st.Duration.String() + ":" + strconv.FormatFloat(st.Rate, 'f', -1, 64)
	}
	if r.cfg.PollInterval > 0 {
		s.PollInterval = r.cfg.PollInterval.String()
	}
	if r.cfg.Duration > 0 {
		s.Duration = r.cfg.Duration.String()
	}
	return s
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
