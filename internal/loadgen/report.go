package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// ReportVersion is the version of the JSON report.
const ReportVersion = 2

// Report is what a run found. Its JSON form merges exactly with the reports
// of the other shards of the run (Merge).
type Report struct {
	Version   int       `json:"version"`
	RunID     string    `json:"runId"`
	Shards    []string  `json:"shards"`
	Scenario  Scenario  `json:"scenario"`
	StartedAt time.Time `json:"startedAt"`
	// Elapsed is the run's wall time (the longest shard's, once merged).
	Elapsed Millis `json:"elapsedMs"`
	// Interrupted is a run stopped early (Ctrl-C): its figures are partial.
	Interrupted bool  `json:"interrupted"`
	Users       Users `json:"users"`
	// JoinRate is the achieved rate of accepted joins per second, over the
	// arrival window: from the start to the last accepted join.
	JoinRate float64 `json:"joinRate"`
	// LastJoinAt is when the last join was accepted.
	LastJoinAt time.Time           `json:"lastJoinAt"`
	Endpoints  map[string]Endpoint `json:"endpoints"`
	// Overall is the users' requests of every endpoint together (not the
	// audit's stats reads).
	Overall Endpoint `json:"overall"`
	// TimeToAdmission runs from a user's scheduled join to first seeing ACTIVE.
	TimeToAdmission Latency `json:"timeToAdmission"`
	// ArrivalLag is how late arrivals started against their schedule.
	ArrivalLag Latency          `json:"arrivalLag"`
	Events     map[string]Event `json:"events"`
	Audit      Audit            `json:"audit"`
	Memory     Memory           `json:"memory"`
	// SQS is what the run cost in SQS requests, when the replicas' metrics
	// could be read before and after it.
	SQS *SQSUsage `json:"sqs,omitempty"`
	// Thresholds are the pass/fail checks of the run, as Check left them.
	Thresholds []ThresholdResult `json:"thresholds"`
	// Timeline is the run over time.
	Timeline *Timeline `json:"timeline,omitempty"`
	// Heard is how soon users heard of their admission, what it cost them
	// in requests, and how full the room was kept.
	Heard Heard `json:"heard"`
	// Admissions hold every admission per event, for exact merges.
	Admissions map[string][]Admission `json:"admissions"`
}

// Scenario records what was asked for.
type Scenario struct {
	Users        int     `json:"users"`
	Rate         float64 `json:"rate,omitempty"`
	Stages       string  `json:"stages,omitempty"`
	Events       int     `json:"events"`
	Hold         string  `json:"hold"`
	Abandon      float64 `json:"abandon"`
	PollInterval string  `json:"pollInterval,omitempty"`
	// StatusWait is how long waiting users asked each status request to
	// be held for a change; empty: plain polls.
	StatusWait string `json:"statusWait,omitempty"`
	Duration   string `json:"duration,omitempty"`
	// StartsAt is the start the run gave its events (--starts-in).
	StartsAt string `json:"startsAt,omitempty"`
}

// Users counts what became of the users.
type Users struct {
	// Scheduled arrivals in this run (or shard); Joined got a 202.
	Scheduled int64 `json:"scheduled"`
	Joined    int64 `json:"joined"`
	Admitted  int64 `json:"admitted"`
	Left      int64 `json:"left"`
	// Abandoned stopped polling while waiting, on purpose (--abandon).
	Abandoned int64 `json:"abandoned"`
	// ExpiredWaiting / ExpiredActive were ended by the server's TTLs.
	ExpiredWaiting int64 `json:"expiredWaiting"`
	ExpiredActive  int64 `json:"expiredActive"`
	// Failed met an error they could not ride out (a refused join).
	Failed int64 `json:"failed"`
	// Incomplete were still waiting or inside when the run was cut short;
	// LeftAtStop counts the sessions the run then left, so none lingers.
	Incomplete int64 `json:"incomplete"`
	LeftAtStop int64 `json:"leftAtStop"`
	// LateArrivals started more than the late threshold after schedule;
	// DroppedArrivals never started before the duration cap.
	LateArrivals    int64 `json:"lateArrivals"`
	DroppedArrivals int64 `json:"droppedArrivals"`
}

// Endpoint is one API call's figures.
type Endpoint struct {
	Count int64 `json:"count"`
	// RPS is requests per second over the run.
	RPS float64 `json:"rps"`
	// Status counts the HTTP status codes answered.
	Status map[string]int64 `json:"status"`
	// Errors counts the failed requests by message (at most 20 messages;
	// the rest under "(other errors)"). Answers the protocol expects, such
	// as 409 to the heartbeat of an expired session, are no errors.
	Errors  map[string]int64 `json:"errors"`
	Latency Latency          `json:"latency"`
}

// Latency summarises an HDR histogram of microseconds, which it carries
// encoded so that reports merge exactly.
type Latency struct {
	Count     int64  `json:"count"`
	Min       Millis `json:"minMs"`
	P50       Millis `json:"p50Ms"`
	P90       Millis `json:"p90Ms"`
	P95       Millis `json:"p95Ms"`
	P99       Millis `json:"p99Ms"`
	P999      Millis `json:"p999Ms"`
	Max       Millis `json:"maxMs"`
	Mean      Millis `json:"meanMs"`
	Histogram string `json:"histogram"`
}

// Millis is a duration written as fractional milliseconds.
type Millis float64

// Duration converts back.
func (m Millis) Duration() time.Duration {
	return time.Duration(float64(m) * float64(time.Millisecond))
}

// Where an event's audited capacity comes from.
const (
	CapacityFromOperator = "operator" // --capacity
	CapacityFromServer   = "server"   // the stats endpoint
)

// Event is one event's audit.
type Event struct {
	// Log is the event's audit log, verified at the end of a run with a start.
	Log *LogAudit `json:"log,omitempty"`
	// Capacity is the capacity audited against: the operator's when given
	// (CapacitySource "operator"), else the server's ("server"); 0 and ""
	// when neither is known, and the capacity is unverified.
	Capacity       int    `json:"capacity"`
	CapacitySource string `json:"capacitySource"`
	// ServerCapacity is what the server's stats reported (0: no report).
	ServerCapacity int `json:"serverCapacity"`
	// CapacityMismatch is a server reporting another capacity than the
	// operator's.
	CapacityMismatch bool `json:"capacityMismatch"`
	// NewUsersPerMinute is the server's cap on admissions per minute (0:
	// none); MaxPerMinute the most admissions in any 60 seconds and
	// PerMinute the average over the admissions' span, both by the server's
	// activation times.
	NewUsersPerMinute int     `json:"newUsersPerMinute"`
	MaxPerMinute      int64   `json:"maxPerMinute"`
	PerMinute         float64 `json:"perMinute"`
	// ServerPeakActive is the store's own high-water mark of ACTIVE
	// sessions; ServerMaxActiveSeen the most the stats endpoint reported.
	// Both come from the code that enforces capacity, so only ClientMaxActive
	// observes it independently.
	ServerPeakActive    int64 `json:"serverPeakActive"`
	ServerMaxActiveSeen int64 `json:"serverMaxActiveSeen"`
	// ClientMaxActive is the most users that saw themselves inside at once.
	ClientMaxActive int64 `json:"clientMaxActive"`
	Admitted        int64 `json:"admitted"`
	// Inversions counts the pairs admitted out of join order, among the
	// users who joined after the start (the pre-queue's order is drawn at
	// random on purpose: Start audits it).
	Inversions        int64   `json:"inversions"`
	InversionFraction float64 `json:"inversionFraction"`
	CapacityViolation bool    `json:"capacityViolation"`
	// Start audits the event's start when users joined its pre-queue.
	Start *StartAudit `json:"start,omitempty"`
	// ShuffleRecord is the server's record of the start (tickets in the
	// drawn order), read with --admin-token.
	ShuffleRecord []int64 `json:"shuffleRecord,omitempty"`

	serverActive, serverWaiting int64 // the last stats read, for the timeline
}

// Audit sums the events' audits.
type Audit struct {
	// CapacityViolations counts events where the server's or the clients'
	// view ever exceeded capacity.
	CapacityViolations int   `json:"capacityViolations"`
	Inversions         int64 `json:"inversions"`
	// InversionFraction is inversions over the pairs of admitted users
	// compared (per event, summed).
	InversionFraction float64 `json:"inversionFraction"`
	// ServerStatsAvailable is false when the server had no stats endpoint:
	// then only the client-side count audits capacity.
	ServerStatsAvailable bool `json:"serverStatsAvailable"`
	// CapacityUnverified counts events whose capacity nobody gave: no
	// --capacity and no server stats.
	CapacityUnverified int `json:"capacityUnverified"`
	// Pairs is how many pairs of admitted users the inversion audit compared.
	Pairs int64 `json:"pairs"`
	// PreQueued counts the admitted users who joined a pre-queue;
	// Overtaken those who joined after a start yet were admitted before a
	// pre-queued user of their event; MaxRankCorrelation the largest
	// |rank correlation| between a pre-queue's join and admission orders.
	PreQueued          int64   `json:"preQueued"`
	Overtaken          int64   `json:"overtaken"`
	MaxRankCorrelation float64 `json:"maxRankCorrelation"`
	// LogsRead counts the events whose public audit log was read and
	// verified (runs with a start); LogViolations the rules those logs show
	// broken, a broken log counting one.
	LogsRead      int   `json:"logsRead"`
	LogViolations int64 `json:"logViolations"`
}

// LogAudit is what the event's public audit log proved (docs/audit.md).
type LogAudit struct {
	Entries    int64    `json:"entries"`
	Signed     bool     `json:"signed"`
	Violations []string `json:"violations"`
	// Error says why the log could not be read, or that it is broken.
	Error string `json:"error,omitempty"`
}

// SQSUsage is the SQS requests the replicas made during the run (sends,
// receives, deletes, visibility changes: every call, from their
// wrctl_sqs_requests_total), per admitted user and priced.
type SQSUsage struct {
	Requests    float64 `json:"requests"`
	PerAdmitted float64 `json:"perAdmitted"`
	// DollarsPerMillionAdmitted prices them at SQS FIFO's $0.50 per
	// million requests (before the free tier).
	DollarsPerMillionAdmitted float64 `json:"dollarsPerMillionAdmitted"`
	// Replicas is how many /metrics were read.
	Replicas int `json:"replicas"`
}

// priceSQS fills in the SQS requests per admitted user and their price.
func (r *Report) priceSQS() {
	if r.SQS == nil {
		return
	}
	r.SQS.PerAdmitted, r.SQS.DollarsPerMillionAdmitted = 0, 0
	if r.Users.Admitted > 0 {
		r.SQS.PerAdmitted = r.SQS.Requests / float64(r.Users.Admitted)
		r.SQS.DollarsPerMillionAdmitted = r.SQS.PerAdmitted * FIFOPricePerMillion
	}
}

// FIFOPricePerMillion is SQS FIFO's price per million requests, in dollars.
const FIFOPricePerMillion = 0.50

// Memory reports the generator's own footprint.
type Memory struct {
	BytesPerUser  int64 `json:"bytesPerUser"`
	PeakHeapBytes int64 `json:"peakHeapBytes"`
}

// Histogram bounds: 1µs to 1h, 3 significant figures.
const (
	histMin = 1
	histMax = int64(time.Hour / time.Microsecond)
	histSig = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMin, histMax, histSig) }

func record(h *hdr.Histogram, d time.Duration) {
	us := max(d.Microseconds(), histMin)
	h.RecordValue(min(us, histMax))
}

func summarize(h *hdr.Histogram) Latency {
	enc, _ := h.Encode(hdr.V2CompressedEncodingCookieBase)
	ms := func(us int64) Millis { return Millis(float64(us) / 1000) }
	if h.TotalCount() == 0 {
		return Latency{Histogram: string(enc)}
	}
	return Latency{
		Count:     h.TotalCount(),
		Min:       ms(h.Min()),
		P50:       ms(h.ValueAtQuantile(50)),
		P90:       ms(h.ValueAtQuantile(90)),
		P95:       ms(h.ValueAtQuantile(95)),
		P99:       ms(h.ValueAtQuantile(99)),
		P999:      ms(h.ValueAtQuantile(99.9)),
		Max:       ms(h.Max()),
		Mean:      Millis(h.Mean() / 1000),
		Histogram: string(enc),
	}
}

func (l Latency) histogram() (*hdr.Histogram, error) {
	if l.Histogram == "" {
		return newHist(), nil
	}
	return hdr.Decode([]byte(l.Histogram))
}

// finish computes the audits from the admissions and event figures, and the
// rates and overall figures from the endpoints.
func (r *Report) finish(end int64) {
	r.Audit.CapacityViolations, r.Audit.CapacityUnverified, r.Audit.Inversions, r.Audit.InversionFraction, r.Audit.Pairs = 0, 0, 0, 0, 0
	r.Audit.PreQueued, r.Audit.Overtaken, r.Audit.MaxRankCorrelation = 0, 0, 0
	r.Audit.LogsRead, r.Audit.LogViolations = 0, 0
	for id, ev := range r.Events {
		if l := ev.Log; l != nil {
			r.Audit.LogsRead++
			r.Audit.LogViolations += int64(len(l.Violations))
			if l.Error != "" {
				r.Audit.LogViolations++
			}
		}
		adms := r.Admissions[id]
		ev.Admitted = int64(len(adms))
		ev.ClientMaxActive = MaxConcurrent(adms, end)
		var p int64
		// FIFO holds among those who joined after the start.
		ev.Inversions, p = Inversions(slices.DeleteFunc(slices.Clone(adms), func(a Admission) bool { return a.PreQueued }))
		ev.Start = AuditStart(adms, ev.ShuffleRecord)
		if s := ev.Start; s != nil {
			r.Audit.PreQueued += s.PreQueued
			r.Audit.Overtaken += s.Overtaken
			if s.RankCorrelation != nil {
				r.Audit.MaxRankCorrelation = max(r.Audit.MaxRankCorrelation, math.Abs(*s.RankCorrelation))
			}
		}
		r.Audit.Pairs += p
		ev.InversionFraction = 0
		if p > 0 {
			ev.InversionFraction = float64(ev.Inversions) / float64(p)
		}
		if ev.CapacitySource != CapacityFromOperator {
			ev.Capacity, ev.CapacitySource = ev.ServerCapacity, ""
			if ev.Capacity > 0 {
				ev.CapacitySource = CapacityFromServer
			}
		}
		ev.MaxPerMinute, ev.PerMinute = PerMinute(adms)
		ev.CapacityMismatch = ev.CapacitySource == CapacityFromOperator && ev.ServerCapacity > 0 && ev.ServerCapacity != ev.Capacity
		ev.CapacityViolation = ev.Capacity > 0 && (ev.ServerPeakActive > int64(ev.Capacity) ||
			ev.ServerMaxActiveSeen > int64(ev.Capacity) || ev.ClientMaxActive > int64(ev.Capacity))
		if ev.CapacityViolation {
			r.Audit.CapacityViolations++
		}
		if ev.Capacity == 0 {
			r.Audit.CapacityUnverified++
		}
		r.Audit.Inversions += ev.Inversions
		r.Events[id] = ev
	}
	if r.Audit.Pairs > 0 {
		r.Audit.InversionFraction = float64(r.Audit.Inversions) / float64(r.Audit.Pairs)
	}
	r.JoinRate = 0
	if s := r.LastJoinAt.Sub(r.StartedAt).Seconds(); s > 0 {
		r.JoinRate = float64(r.Users.Joined) / s
	}
	r.priceSQS()
	secs := r.Elapsed.Duration().Seconds()
	overall := Endpoint{Status: map[string]int64{}, Errors: map[string]int64{}}
	h := newHist()
	for name, ep := range r.Endpoints {
		if secs > 0 {
			ep.RPS = float64(ep.Count) / secs
		}
		r.Endpoints[name] = ep
		if name == EndpointStats {
			continue
		}
		overall.Count += ep.Count
		for k, v := range ep.Status {
			overall.Status[k] += v
		}
		for k, v := range ep.Errors {
			addError(overall.Errors, k, v)
		}
		if eh, err := ep.Latency.histogram(); err == nil && name != EndpointWait { // a hold is no latency
			h.Merge(eh)
		}
	}
	if secs > 0 {
		overall.RPS = float64(overall.Count) / secs
	}
	overall.Latency = summarize(h)
	r.Overall = overall
	r.Heard = r.heard()
}

// Merge combines the reports of the shards of one run: counts add,
// histograms merge, audits are recomputed from every admission.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, errors.New("no reports to merge")
	}
	m := &merger{out: &Report{
		Version:    ReportVersion,
		RunID:      reports[0].RunID,
		Scenario:   reports[0].Scenario,
		StartedAt:  reports[0].StartedAt,
		Endpoints:  map[string]Endpoint{},
		Events:     map[string]Event{},
		Admissions: map[string][]Admission{},
		Audit:      Audit{ServerStatsAvailable: true},
	}, hists: map[string]*hdr.Histogram{}}
	for _, r := range reports {
		if err := m.add(r); err != nil {
			return nil, err
		}
	}
	return m.result(), nil
}

// merger adds shard reports up into one.
type merger struct {
	out       *Report
	hists     map[string]*hdr.Histogram
	end       time.Time
	timelines []*Timeline
}

// add takes in one shard's report.
func (m *merger) add(r *Report) error {
	out := m.out
	if r.Version != ReportVersion {
		return fmt.Errorf("report version %d, want %d", r.Version, ReportVersion)
	}
	if r.RunID != out.RunID {
		return fmt.Errorf("reports of different runs: %s and %s", out.RunID, r.RunID)
	}
	out.Shards = append(out.Shards, r.Shards...)
	if r.StartedAt.Before(out.StartedAt) {
		out.StartedAt = r.StartedAt
	}
	if e := r.StartedAt.Add(r.Elapsed.Duration()); e.After(m.end) {
		m.end = e
	}
	if r.LastJoinAt.After(out.LastJoinAt) {
		out.LastJoinAt = r.LastJoinAt
	}
	out.Users.add(r.Users)
	out.Interrupted = out.Interrupted || r.Interrupted
	if r.SQS != nil {
		if out.SQS == nil {
			out.SQS = &SQSUsage{}
		}
		// Shards of one run read the same replicas: the highest count is
		// the run's, not their sum.
		out.SQS.Requests = max(out.SQS.Requests, r.SQS.Requests)
		out.SQS.Replicas = max(out.SQS.Replicas, r.SQS.Replicas)
	}
	m.timelines = append(m.timelines, r.Timeline)
	if err := m.addEndpoints(r); err != nil {
		return err
	}
	m.addEvents(r)
	out.Audit.ServerStatsAvailable = out.Audit.ServerStatsAvailable && r.Audit.ServerStatsAvailable
	out.Memory.BytesPerUser = max(out.Memory.BytesPerUser, r.Memory.BytesPerUser)
	out.Memory.PeakHeapBytes = max(out.Memory.PeakHeapBytes, r.Memory.PeakHeapBytes)
	return nil
}

// add counts another shard's users in.
func (u *Users) add(o Users) {
	u.Scheduled += o.Scheduled
	u.Joined += o.Joined
	u.Admitted += o.Admitted
	u.Left += o.Left
	u.Abandoned += o.Abandoned
	u.ExpiredWaiting += o.ExpiredWaiting
	u.ExpiredActive += o.ExpiredActive
	u.Failed += o.Failed
	u.Incomplete += o.Incomplete
	u.LeftAtStop += o.LeftAtStop
	u.LateArrivals += o.LateArrivals
	u.DroppedArrivals += o.DroppedArrivals
}

// latency merges a shard's histogram into the one kept under key.
func (m *merger) latency(key string, l Latency) error {
	h, err := l.histogram()
	if err != nil {
		return fmt.Errorf("decode %s histogram: %w", key, err)
	}
	if m.hists[key] == nil {
		m.hists[key] = newHist()
	}
	m.hists[key].Merge(h)
	return nil
}

// addEndpoints adds a shard's counts and latencies.
func (m *merger) addEndpoints(r *Report) error {
	for name, ep := range r.Endpoints {
		o := m.out.Endpoints[name]
		o.Count += ep.Count
		if o.Errors == nil {
			o.Errors, o.Status = map[string]int64{}, map[string]int64{}
		}
		for k, v := range ep.Errors {
			addError(o.Errors, k, v)
		}
		for k, v := range ep.Status {
			o.Status[k] += v
		}
		m.out.Endpoints[name] = o
		if err := m.latency("endpoint:"+name, ep.Latency); err != nil {
			return err
		}
	}
	if err := m.latency("admission", r.TimeToAdmission); err != nil {
		return err
	}
	return m.latency("lag", r.ArrivalLag)
}

// addEvents adds a shard's view of each event and its admissions.
func (m *merger) addEvents(r *Report) {
	for id, ev := range r.Events {
		o := m.out.Events[id]
		if ev.CapacitySource == CapacityFromOperator {
			o.Capacity, o.CapacitySource = ev.Capacity, ev.CapacitySource
		}
		o.ServerCapacity = max(o.ServerCapacity, ev.ServerCapacity)
		o.NewUsersPerMinute = max(o.NewUsersPerMinute, ev.NewUsersPerMinute)
		o.ServerPeakActive = max(o.ServerPeakActive, ev.ServerPeakActive)
		o.ServerMaxActiveSeen = max(o.ServerMaxActiveSeen, ev.ServerMaxActiveSeen)
		if ev.Log != nil && o.Log == nil {
			o.Log = ev.Log // one log: every shard read the same
		}
		if len(ev.ShuffleRecord) > len(o.ShuffleRecord) {
			o.ShuffleRecord = ev.ShuffleRecord // one start: every shard read the same record
		}
		m.out.Events[id] = o
	}
	for id, adms := range r.Admissions {
		m.out.Admissions[id] = append(m.out.Admissions[id], adms...)
	}
}

// result summarises the merged histograms and recomputes the audits from
// every admission.
func (m *merger) result() *Report {
	out := m.out
	slices.Sort(out.Shards)
	out.Elapsed = Millis(float64(m.end.Sub(out.StartedAt)) / float64(time.Millisecond))
	for name, ep := range out.Endpoints {
		ep.Latency = summarize(m.hists["endpoint:"+name])
		out.Endpoints[name] = ep
	}
	out.TimeToAdmission = summarize(m.hists["admission"])
	out.ArrivalLag = summarize(m.hists["lag"])
	for _, id := range slices.Collect(maps.Keys(out.Admissions)) {
		slices.SortFunc(out.Admissions[id], func(a, b Admission) int { return cmpInt(a.Ticket, b.Ticket) })
	}
	out.Timeline = mergeTimelines(m.timelines)
	out.finish(m.end.UnixMicro())
	return out
}

// CheckShards reports a set of shard reports that is not one whole run: a
// shard given twice (its users would count double), or one missing (unless
// partial).
func CheckShards(reports []*Report, partial bool) error {
	var n int
	seen := map[int]bool{}
	for _, r := range reports {
		for _, sh := range r.Shards {
			i, m, err := ParseShard(sh)
			if err != nil {
				return fmt.Errorf("shard %w", err)
			}
			if n != 0 && m != n {
				return fmt.Errorf("shards of runs split %d and %d ways", n, m)
			}
			n = m
			if seen[i] {
				return fmt.Errorf("shard %d/%d given twice: its users would count double", i, n)
			}
			seen[i] = true
		}
	}
	var missing []string
	for i := range n {
		if !seen[i] {
			missing = append(missing, strconv.Itoa(i)+"/"+strconv.Itoa(n))
		}
	}
	if len(missing) > 0 && !partial {
		return fmt.Errorf("shard(s) %s missing: the run is incomplete (--partial merges what there is)", strings.Join(missing, ", "))
	}
	return nil
}

// ErrorCount is the number of the users' failed requests.
func (r *Report) ErrorCount() int64 { return sum(r.Overall.Errors) }

// RequestCount is the number of the users' requests.
func (r *Report) RequestCount() int64 { return r.Overall.Count }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func unmarshalInts(b []byte, into []int64) error {
	var v []int64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if len(v) != len(into) {
		return fmt.Errorf("want %d numbers, got %d", len(into), len(v))
	}
	copy(into, v)
	return nil
}

// WriteFile writes the report as indented JSON, for Merge and for later.
func (r *Report) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadReports reads reports WriteFile wrote.
func ReadReports(paths ...string) ([]*Report, error) {
	var reps []*Report
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: not a wrctl load JSON report: %w", p, err)
		}
		reps = append(reps, &r)
	}
	return reps, nil
}
