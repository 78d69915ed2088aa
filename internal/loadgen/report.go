package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// ReportVersion is the version of the JSON report.
const ReportVersion = 1

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
	Users   Users  `json:"users"`
	// JoinRate is the achieved rate of accepted joins per second, over the
	// arrival window: from the start to the last accepted join.
	JoinRate float64 `json:"joinRate"`
	// LastJoinAt is when the last join was accepted.
	LastJoinAt time.Time           `json:"lastJoinAt"`
	Endpoints  map[string]Endpoint `json:"endpoints"`
	// TimeToAdmission runs from a user's scheduled join to first seeing ACTIVE.
	TimeToAdmission Latency `json:"timeToAdmission"`
	// ArrivalLag is how late arrivals started against their schedule.
	ArrivalLag Latency          `json:"arrivalLag"`
	Events     map[string]Event `json:"events"`
	Audit      Audit            `json:"audit"`
	Memory     Memory           `json:"memory"`
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
	Duration     string  `json:"duration,omitempty"`
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
	// Incomplete were still waiting or inside when the run was cut short.
	Incomplete int64 `json:"incomplete"`
	// LateArrivals started more than the late threshold after schedule;
	// DroppedArrivals never started before the duration cap.
	LateArrivals    int64 `json:"lateArrivals"`
	DroppedArrivals int64 `json:"droppedArrivals"`
}

// Endpoint is one API call's figures.
type Endpoint struct {
	Count   int64            `json:"count"`
	Errors  map[string]int64 `json:"errors"`
	Latency Latency          `json:"latency"`
}

// Latency summarises an HDR histogram of microseconds, which it carries
// encoded so that reports merge exactly.
type Latency struct {
	Count     int64  `json:"count"`
	P50       Millis `json:"p50Ms"`
	P90       Millis `json:"p90Ms"`
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

// Event is one event's audit.
type Event struct {
	Capacity int `json:"capacity"`
	// ServerPeakActive is the store's own high-water mark of ACTIVE
	// sessions; ServerMaxActiveSeen the most the stats endpoint reported.
	// Both come from the code that enforces capacity, so only ClientMaxActive
	// observes it independently.
	ServerPeakActive    int64 `json:"serverPeakActive"`
	ServerMaxActiveSeen int64 `json:"serverMaxActiveSeen"`
	// ClientMaxActive is the most users that saw themselves inside at once.
	ClientMaxActive   int64   `json:"clientMaxActive"`
	Admitted          int64   `json:"admitted"`
	Inversions        int64   `json:"inversions"`
	InversionFraction float64 `json:"inversionFraction"`
	CapacityViolation bool    `json:"capacityViolation"`
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
}

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
	return Latency{
		Count:     h.TotalCount(),
		P50:       ms(h.ValueAtQuantile(50)),
		P90:       ms(h.ValueAtQuantile(90)),
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

// finish computes the audits from the admissions and event figures.
func (r *Report) finish(end int64) {
	r.Audit.CapacityViolations, r.Audit.Inversions, r.Audit.InversionFraction = 0, 0, 0
	var pairs int64
	for id, ev := range r.Events {
		adms := r.Admissions[id]
		ev.Admitted = int64(len(adms))
		ev.ClientMaxActive = MaxConcurrent(adms, end)
		var p int64
		ev.Inversions, p = Inversions(adms)
		pairs += p
		ev.InversionFraction = 0
		if p > 0 {
			ev.InversionFraction = float64(ev.Inversions) / float64(p)
		}
		ev.CapacityViolation = ev.Capacity > 0 && (ev.ServerPeakActive > int64(ev.Capacity) ||
			ev.ServerMaxActiveSeen > int64(ev.Capacity) || ev.ClientMaxActive > int64(ev.Capacity))
		if ev.CapacityViolation {
			r.Audit.CapacityViolations++
		}
		r.Audit.Inversions += ev.Inversions
		r.Events[id] = ev
	}
	if pairs > 0 {
		r.Audit.InversionFraction = float64(r.Audit.Inversions) / float64(pairs)
	}
	r.JoinRate = 0
	if s := r.LastJoinAt.Sub(r.StartedAt).Seconds(); s > 0 {
		r.JoinRate = float64(r.Users.Joined) / s
	}
}

// Merge combines the reports of the shards of one run: counts add,
// histograms merge, audits are recomputed from every admission.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, errors.New("no reports to merge")
	}
	out := &Report{
		Version:    ReportVersion,
		RunID:      reports[0].RunID,
		Scenario:   reports[0].Scenario,
		StartedAt:  reports[0].StartedAt,
		Endpoints:  map[string]Endpoint{},
		Events:     map[string]Event{},
		Admissions: map[string][]Admission{},
	}
	hists := map[string]*hdr.Histogram{}
	merge := func(key string, l Latency) error {
		h, err := l.histogram()
		if err != nil {
			return fmt.Errorf("decode %s histogram: %w", key, err)
		}
		if hists[key] == nil {
			hists[key] = newHist()
		}
		hists[key].Merge(h)
		return nil
	}
	var end time.Time
	out.Audit.ServerStatsAvailable = true
	for _, r := range reports {
		if r.Version != ReportVersion {
			return nil, fmt.Errorf("report version %d, want %d", r.Version, ReportVersion)
		}
		if r.RunID != out.RunID {
			return nil, fmt.Errorf("reports of different runs: %s and %s", out.RunID, r.RunID)
		}
		out.Shards = append(out.Shards, r.Shards...)
		if r.StartedAt.Before(out.StartedAt) {
			out.StartedAt = r.StartedAt
		}
		if e := r.StartedAt.Add(r.Elapsed.Duration()); e.After(end) {
			end = e
		}
		if r.LastJoinAt.After(out.LastJoinAt) {
			out.LastJoinAt = r.LastJoinAt
		}
		u := &out.Users
		u.Scheduled += r.Users.Scheduled
		u.Joined += r.Users.Joined
		u.Admitted += r.Users.Admitted
		u.Left += r.Users.Left
		u.Abandoned += r.Users.Abandoned
		u.ExpiredWaiting += r.Users.ExpiredWaiting
		u.ExpiredActive += r.Users.ExpiredActive
		u.Failed += r.Users.Failed
		u.Incomplete += r.Users.Incomplete
		u.LateArrivals += r.Users.LateArrivals
		u.DroppedArrivals += r.Users.DroppedArrivals
		for name, ep := range r.Endpoints {
			o := out.Endpoints[name]
			o.Count += ep.Count
			if o.Errors == nil {
				o.Errors = map[string]int64{}
			}
			for k, v := range ep.Errors {
				o.Errors[k] += v
			}
			out.Endpoints[name] = o
			if err := merge("endpoint:"+name, ep.Latency); err != nil {
				return nil, err
			}
		}
		if err := merge("admission", r.TimeToAdmission); err != nil {
			return nil, err
		}
		if err := merge("lag", r.ArrivalLag); err != nil {
			return nil, err
		}
		for id, ev := range r.Events {
			o := out.Events[id]
			o.Capacity = max(o.Capacity, ev.Capacity)
			o.ServerPeakActive = max(o.ServerPeakActive, ev.ServerPeakActive)
			o.ServerMaxActiveSeen = max(o.ServerMaxActiveSeen, ev.ServerMaxActiveSeen)
			out.Events[id] = o
		}
		for id, adms := range r.Admissions {
			out.Admissions[id] = append(out.Admissions[id], adms...)
		}
		out.Audit.ServerStatsAvailable = out.Audit.ServerStatsAvailable && r.Audit.ServerStatsAvailable
		out.Memory.BytesPerUser = max(out.Memory.BytesPerUser, r.Memory.BytesPerUser)
		out.Memory.PeakHeapBytes = max(out.Memory.PeakHeapBytes, r.Memory.PeakHeapBytes)
	}
	slices.Sort(out.Shards)
	out.Elapsed = Millis(float64(end.Sub(out.StartedAt)) / float64(time.Millisecond))
	for name, ep := range out.Endpoints {
		ep.Latency = summarize(hists["endpoint:"+name])
		out.Endpoints[name] = ep
	}
	out.TimeToAdmission = summarize(hists["admission"])
	out.ArrivalLag = summarize(hists["lag"])
	for _, id := range slices.Collect(maps.Keys(out.Admissions)) {
		slices.SortFunc(out.Admissions[id], func(a, b Admission) int { return cmpInt(a.Ticket, b.Ticket) })
	}
	out.finish(end.UnixMicro())
	return out, nil
}

// ErrorCount is the number of failed requests of every kind.
func (r *Report) ErrorCount() int64 {
	var n int64
	for _, ep := range r.Endpoints {
		for _, v := range ep.Errors {
			n += v
		}
	}
	return n
}

// RequestCount is the number of requests sent.
func (r *Report) RequestCount() int64 {
	var n int64
	for _, ep := range r.Endpoints {
		n += ep.Count
	}
	return n
}

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
