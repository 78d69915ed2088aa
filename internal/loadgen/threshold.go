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

// Check evaluates the threshold; actual is the metric's value (ms for
// latencies).
func (t Threshold) Check(r *Report) (actual float64, ok bool) {
	actual = Metrics(r)[t.Metric]
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
	return actual, ok
}

type kind int

const (
	kindNumber kind = iota
	kindLatency
)

var quantiles = []string{"p50", "p90", "p99", "p99.9", "p999", "max", "mean"}

var latencyPrefixes = []string{EndpointJoin, EndpointStatus, EndpointHeartbeat, EndpointLeave, "admission", "arrival_lag"}

var numberMetrics = []string{
	"errors", "error_rate", "requests", "capacity_violations", "inversions", "inversion_fraction",
	"join_rate", "joined", "admitted", "failed_users", "late_arrivals", "dropped_arrivals",
	"expired_waiting", "expired_active", "incomplete",
}

func metricKind(name string) (kind, bool) {
	if slices.Contains(numberMetrics, name) {
		return kindNumber, true
	}
	for _, p := range latencyPrefixes {
		if q, ok := strings.CutPrefix(name, p+"_"); ok && slices.Contains(quantiles, q) {
			return kindLatency, true
		}
	}
	return 0, false
}

// MetricNames lists what thresholds can test.
func MetricNames() []string {
	names := slices.Clone(numberMetrics)
	for _, p := range latencyPrefixes {
		names = append(names, p+"_p50|p90|p99|p99.9|max|mean")
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
	add := func(prefix string, l Latency) {
		m[prefix+"_p50"] = float64(l.P50)
		m[prefix+"_p90"] = float64(l.P90)
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

// Breached checks thresholds against the report and describes each one
// breached with the value measured.
func (r *Report) Breached(thresholds []Threshold) []string {
	var out []string
	for _, t := range thresholds {
		if actual, ok := t.Check(r); !ok {
			out = append(out, fmt.Sprintf("%s (was %s)", t.Raw, formatMetric(t.Metric, actual)))
		}
	}
	return out
}

// formatMetric shows a latency metric as a duration, others as numbers.
func formatMetric(name string, v float64) string {
	for _, q := range []string{"_p50", "_p90", "_p99", "_p99.9", "_p999", "_max", "_mean"} {
		if strings.HasSuffix(name, q) {
			return (time.Duration(v * float64(time.Millisecond))).Round(time.Microsecond).String()
		}
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}
