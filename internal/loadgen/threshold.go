package loadgen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Threshold is a pass/fail condition on a report metric, e.g. join_p99<200ms.
type Threshold struct {
	Metric string
	Op     string
	// Value is in milliseconds for latency metrics.
	Value float64
	Raw   string
	// Default marks a check every run makes unless the operator's own
	// thresholds cover its metric.
	Default bool
}

// ThresholdResult is a threshold's verdict on a run.
type ThresholdResult struct {
	Threshold string `json:"threshold"`
	Metric    string `json:"metric"`
	// Observed is the metric's value (ms for latencies); null when it could
	// not be measured.
	Observed *float64 `json:"observed"`
	Pass     bool     `json:"pass"`
	// Reason says why the metric could not be measured: an operator's
	// threshold on it fails, a default check is skipped.
	Reason  string `json:"reason,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// String is the verdict for a person: "✓ errors<=0 (0)".
func (t ThresholdResult) String() string {
	mark, obs := "✓", ""
	switch {
	case t.Observed == nil && t.Default:
		mark, obs = "–", "not checked: "+t.Reason
	case t.Observed == nil:
		mark, obs = "✗", "not measured: "+t.Reason
	default:
		if !t.Pass {
			mark = "✗"
		}
		obs = "observed " + formatMetric(t.Metric, *t.Observed)
	}
	if t.Default {
		return fmt.Sprintf("%s %s (default)  %s", mark, t.Threshold, obs)
	}
	return fmt.Sprintf("%s %s  %s", mark, t.Threshold, obs)
}

// Gates are the thresholds a run is judged by: the operator's, and the
// default checks whose metrics they leave out. Failed requests fail a run
// beyond maxErrors (when maxErrorsSet, whatever the operator's thresholds
// say); capacity violations and admission-order inversions fail it always.
//
// With a pre-queue (startAudit), users who joined after the start
// admitted before a pre-queued one fail it too.
func Gates(user []Threshold, maxErrors int, maxErrorsSet, startAudit bool) []Threshold {
	covers := func(metrics ...string) bool {
		return slices.ContainsFunc(user, func(t Threshold) bool { return slices.Contains(metrics, t.Metric) })
	}
	out := slices.Clone(user)
	if maxErrorsSet || !covers("errors", "error_rate", "failed_users") {
		out = append(out, Threshold{Metric: "errors", Op: "<=", Value: float64(maxErrors), Raw: "errors<=" + strconv.Itoa(maxErrors), Default: !maxErrorsSet})
	}
	if !covers("capacity_violations") {
		out = append(out, Threshold{Metric: "capacity_violations", Op: "==", Raw: "capacity_violations==0", Default: true})
	}
	if !covers("inversions", "inversion_fraction") {
		out = append(out, Threshold{Metric: "inversions", Op: "==", Raw: "inversions==0", Default: true})
	}
	if startAudit && !covers("prequeue_overtaken") {
		out = append(out, Threshold{Metric: "prequeue_overtaken", Op: "==", Raw: "prequeue_overtaken==0", Default: true})
	}
	if startAudit && !covers("audit_log_violations") {
		out = append(out, Threshold{Metric: "audit_log_violations", Op: "==", Raw: "audit_log_violations==0", Default: true})
	}
	return out
}

// Check judges the run by the thresholds, keeps the verdicts in
// r.Thresholds and returns the failed ones.
func (r *Report) Check(thresholds []Threshold) (failed []ThresholdResult) {
	metrics := Metrics(r)
	r.Thresholds = nil
	for _, t := range thresholds {
		res := ThresholdResult{Threshold: t.Raw, Metric: t.Metric, Default: t.Default}
		if why := r.unmeasured(t.Metric); why != "" {
			res.Reason, res.Pass = why, t.Default
		} else {
			v := metrics[t.Metric]
			res.Observed, res.Pass = &v, t.holds(v)
		}
		r.Thresholds = append(r.Thresholds, res)
		if !res.Pass {
			failed = append(failed, res)
		}
	}
	return failed
}

// unmeasured says why a metric has no value in this run, or "".
func (r *Report) unmeasured(metric string) string {
	switch metric {
	case "capacity_violations":
		if r.Audit.CapacityUnverified > 0 {
			why := "server stats unavailable"
			if r.Audit.ServerStatsAvailable {
				why = "the server reported no capacity"
			}
			return fmt.Sprintf("capacity unverified for %d event(s): %s and no --capacity given", r.Audit.CapacityUnverified, why)
		}
		if r.Users.Admitted == 0 {
			return "nobody was admitted"
		}
	case "inversions":
		if r.Users.Admitted == 0 {
			return "nobody was admitted"
		}
	case "inversion_fraction":
		if r.Audit.Pairs == 0 {
			return "fewer than two users admitted in any event"
		}
	case "error_rate":
		if r.RequestCount() == 0 {
			return "no requests were made"
		}
	case "requests_per_admitted":
		if r.Users.Admitted == 0 {
			return "nobody was admitted"
		}
	case "audit_log_violations":
		if r.Audit.LogsRead == 0 {
			return "no event's audit log was read (a run with --starts-in reads them)"
		}
	case "prequeue_overtaken", "prequeue_rank_correlation":
		if r.Audit.PreQueued == 0 {
			return "nobody admitted had joined a pre-queue (--starts-in)"
		}
	case "sqs_requests_per_admitted":
		if r.SQS == nil {
			return "the replicas' /metrics could not be read (--metrics)"
		}
		if r.Users.Admitted == 0 {
			return "nobody was admitted"
		}
	}
	if p, ok := latencyOf(metric); ok && r.latency(p).Count == 0 {
		return "no " + p + " measured"
	}
	return ""
}

func (r *Report) latency(prefix string) Latency {
	switch prefix {
	case "admission":
		return r.TimeToAdmission
	case "arrival_lag":
		return r.ArrivalLag
	}
	return r.Endpoints[prefix].Latency
}

var ops = []string{"<=", ">=", "==", "!=", "<", ">"}

// ParseThreshold reads METRIC OP VALUE; VALUE is a duration (200ms) for a
// latency metric and a number otherwise.
func ParseThreshold(s string) (Threshold, error) {
	raw := strings.TrimSpace(s)
	for _, op := range ops {
		name, val, ok := strings.Cut(raw, op)
		if !ok {
			continue
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		kind, known := metricKind(name)
		if !known {
			return Threshold{}, fmt.Errorf("threshold %q: unknown metric %q (known: %s)", s, name, strings.Join(MetricNames(), ", "))
		}
		t := Threshold{Metric: name, Op: op, Raw: raw}
		if kind == kindLatency {
			d, err := time.ParseDuration(val)
			if err != nil {
				return Threshold{}, fmt.Errorf("threshold %q: %s takes a duration such as 200ms, got %q", s, name, val)
			}
			t.Value = float64(d) / float64(time.Millisecond)
		} else {
			v, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return Threshold{}, fmt.Errorf("threshold %q: %s takes a number, got %q", s, name, val)
			}
			t.Value = v
		}
		return t, nil
	}
	return Threshold{}, fmt.Errorf("threshold %q: want METRIC OP VALUE with OP one of %s, e.g. join_p99<200ms", s, strings.Join(ops, " "))
}

// holds says whether the threshold holds for the metric's value.
func (t Threshold) holds(actual float64) (ok bool) {
	switch t.Op {
	case "<":
		ok = actual < t.Value
	case "<=":
		ok = actual <= t.Value
	case ">":
		ok = actual > t.Value
	case ">=":
		ok = actual >= t.Value
	case "==":
		ok = actual == t.Value
	case "!=":
		ok = actual != t.Value
	}
	return ok
}

type kind int

const (
	kindNumber kind = iota
	kindLatency
)

var quantiles = []string{"min", "p50", "p90", "p95", "p99", "p99.9", "p999", "max", "mean"}

var latencyPrefixes = []string{EndpointJoin, EndpointStatus, EndpointHeartbeat, EndpointLeave, "admission", "arrival_lag"}

var numberMetrics = []string{
	"errors", "error_rate", "requests", "capacity_violations", "inversions", "inversion_fraction",
	"join_rate", "joined", "admitted", "failed_users", "late_arrivals", "dropped_arrivals",
	"expired_waiting", "expired_active", "incomplete", "requests_per_admitted", "sqs_requests_per_admitted",
	"prequeue_overtaken", "prequeue_rank_correlation", "audit_log_violations",
}

func metricKind(name string) (kind, bool) {
	if slices.Contains(numberMetrics, name) {
		return kindNumber, true
	}
	if _, ok := latencyOf(name); ok {
		return kindLatency, true
	}
	return 0, false
}

// latencyOf returns the latency a metric such as join_p95 reads (join),
// and whether it is a latency metric at all.
func latencyOf(name string) (prefix string, ok bool) {
	for _, p := range latencyPrefixes {
		if q, found := strings.CutPrefix(name, p+"_"); found && slices.Contains(quantiles, q) {
			return p, true
		}
	}
	return "", false
}

// MetricNames lists what thresholds can test.
func MetricNames() []string {
	names := slices.Clone(numberMetrics)
	for _, p := range latencyPrefixes {
		names = append(names, p+"_"+strings.Join(slices.DeleteFunc(slices.Clone(quantiles), func(q string) bool { return q == "p999" }), "|"))
	}
	return names
}

// Metrics returns every threshold metric of a report; latencies in ms.
func Metrics(r *Report) map[string]float64 {
	m := map[string]float64{
		"errors":              float64(r.ErrorCount()),
		"requests":            float64(r.RequestCount()),
		"capacity_violations": float64(r.Audit.CapacityViolations),
		"inversions":          float64(r.Audit.Inversions),
		"inversion_fraction":  r.Audit.InversionFraction,
		"join_rate":           r.JoinRate,
		"joined":              float64(r.Users.Joined),
		"admitted":            float64(r.Users.Admitted),
		"failed_users":        float64(r.Users.Failed),
		"late_arrivals":       float64(r.Users.LateArrivals),
		"dropped_arrivals":    float64(r.Users.DroppedArrivals),
		"expired_waiting":     float64(r.Users.ExpiredWaiting),
		"expired_active":      float64(r.Users.ExpiredActive),
		"incomplete":          float64(r.Users.Incomplete),
	}
	if n := r.RequestCount(); n > 0 {
		m["error_rate"] = float64(r.ErrorCount()) / float64(n)
	}
	if r.Users.Admitted > 0 {
		m["requests_per_admitted"] = float64(r.RequestCount()) / float64(r.Users.Admitted)
	}
	if r.SQS != nil {
		m["sqs_requests_per_admitted"] = r.SQS.PerAdmitted
	}
	if r.Audit.LogsRead > 0 {
		m["audit_log_violations"] = float64(r.Audit.LogViolations)
	}
	if r.Audit.PreQueued > 0 {
		m["prequeue_overtaken"] = float64(r.Audit.Overtaken)
		m["prequeue_rank_correlation"] = r.Audit.MaxRankCorrelation
	}
	add := func(prefix string, l Latency) {
		m[prefix+"_min"] = float64(l.Min)
		m[prefix+"_p50"] = float64(l.P50)
		m[prefix+"_p90"] = float64(l.P90)
		m[prefix+"_p95"] = float64(l.P95)
		m[prefix+"_p99"] = float64(l.P99)
		m[prefix+"_p99.9"] = float64(l.P999)
		m[prefix+"_p999"] = float64(l.P999)
		m[prefix+"_max"] = float64(l.Max)
		m[prefix+"_mean"] = float64(l.Mean)
	}
	for _, e := range []string{EndpointJoin, EndpointStatus, EndpointHeartbeat, EndpointLeave} {
		add(e, r.Endpoints[e].Latency)
	}
	add("admission", r.TimeToAdmission)
	add("arrival_lag", r.ArrivalLag)
	return m
}

// formatMetric shows a latency metric as a duration, others as numbers.
func formatMetric(name string, v float64) string {
	if _, ok := latencyOf(name); ok {
		return (time.Duration(v * float64(time.Millisecond))).Round(time.Microsecond).String()
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}
