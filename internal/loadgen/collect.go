package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/wrctl/wrctl/internal/client"
)

// watchStats reads every event's stats from the server while the run runs,
// and samples the timeline.
func (r *Runner) watchStats(ctx context.Context) {
	t := time.NewTicker(r.cfg.StatsInterval)
	defer t.Stop()
	nextSample := time.Now()
	for {
		r.readStats(ctx)
		if now := time.Now(); !now.Before(nextSample) {
			r.sample()
			nextSample = now.Add(r.cfg.SampleInterval)
		}
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
		r.measureStats(start, err)
		if err != nil {
			continue
		}
		r.evMu.Lock()
		e := &r.events[i]
		e.ServerCapacity = st.Capacity
		e.NewUsersPerMinute = st.NewUsersPerMinute
		e.serverActive, e.serverWaiting = st.Active, st.Waiting
		e.ServerMaxActiveSeen = max(e.ServerMaxActiveSeen, st.Active)
		e.ServerPeakActive = max(e.ServerPeakActive, st.PeakActive)
		r.evMu.Unlock()
	}
}

// measureStats records a stats read, which is the audit's and not a
// user's: no error of its counts against the run.
func (r *Runner) measureStats(start time.Time, err error) {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	r.counts[EndpointStats]++
	record(r.hists[EndpointStats], time.Since(start))
	var ae *client.APIError
	switch {
	case err == nil:
		r.status[EndpointStats]["200"]++
	case errors.As(err, &ae):
		r.status[EndpointStats][strconv.Itoa(ae.StatusCode)]++
		addError(r.errs[EndpointStats], err.Error(), 1)
	default:
		addError(r.errs[EndpointStats], errorMessage(err), 1)
	}
}

// report builds the run's report.
func (r *Runner) report() *Report {
	end := time.Now()
	rep := &Report{
		Version:     ReportVersion,
		RunID:       r.cfg.RunID,
		Shards:      []string{fmt.Sprintf("%d/%d", r.cfg.Shard, r.cfg.Shards)},
		Scenario:    r.scenario(),
		StartedAt:   r.start.UTC(),
		Elapsed:     Millis(float64(end.Sub(r.start)) / float64(time.Millisecond)),
		Interrupted: r.interrupted.Load(),
		Endpoints:   map[string]Endpoint{},
		Events:      map[string]Event{},
		Admissions:  map[string][]Admission{},
		Memory:      Memory{BytesPerUser: r.bytesUser, PeakHeapBytes: r.peakHeap.Load()},
	}
	if last := r.lastJoin.Load(); last > 0 {
		rep.LastJoinAt = time.Unix(0, last).UTC()
	}
	rep.Audit.ServerStatsAvailable = r.statsOK.Load()
	r.histMu.Lock()
	for _, e := range endpoints {
		rep.Endpoints[e] = Endpoint{Count: r.counts[e], Status: r.status[e], Errors: r.errs[e], Latency: summarize(r.hists[e])}
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
	u.LeftAtStop = r.leftAtStop.Load()
	r.tlMu.Lock()
	tl := r.timeline
	tl.Samples = slices.Clone(tl.Samples)
	rep.Timeline = &tl
	r.tlMu.Unlock()
	for i := range r.users {
		us := &r.users[i]
		if us.seen != 0 {
			id := r.cfg.EventID(int(us.event))
			rep.Admissions[id] = append(rep.Admissions[id], Admission{Ticket: us.ticket, Order: us.admission, ActivatedAt: us.activated,
				SeenAt: us.seen, LeftAt: us.left, PreQueued: us.pre, JoinedAt: us.joinedAt})
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
	if r.cfg.StatusWait > 0 && r.cfg.PollInterval <= 0 {
		s.StatusWait = r.cfg.StatusWait.String()
	}
	if r.cfg.PollInterval > 0 {
		s.PollInterval = r.cfg.PollInterval.String()
	}
	if r.cfg.Duration > 0 {
		s.Duration = r.cfg.Duration.String()
	}
	if !r.cfg.StartsAt.IsZero() {
		s.StartsAt = r.cfg.StartsAt.UTC().Format(time.RFC3339Nano)
	}
	return s
}
