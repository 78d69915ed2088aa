// Package telemetry holds wrctl serve's Prometheus metrics: the registry,
// decorators that measure the store and the queue, and a collector that
// reads per-event figures from the store at scrape time. Labels are bounded:
// routes, actions, outcomes, reasons and event ids (at most MaxEvents), never
// session or user ids.
package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wrctl/wrctl/internal/room"
)

// Metrics are one replica's metrics.
type Metrics struct {
	reg *prometheus.Registry

	joins           *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	joinToAdmission prometheus.Histogram
	granterMessages *prometheus.CounterVec
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	sqsRequests     *prometheus.CounterVec
	sqsDuration     *prometheus.HistogramVec
	storeRequests   *prometheus.CounterVec
	storeDuration   *prometheus.HistogramVec
	granterLag      prometheus.Histogram
	held            prometheus.Gauge
}

// Join results counted by wrctl_joins_total.
const (
	JoinCreated      = "created"
	JoinExisting     = "existing"
	JoinRateLimited  = "rate_limited"
	JoinLineFull     = "line_full"
	JoinUnknownEvent = "unknown_event"
	JoinQueueFailed  = "queue_failed"
	JoinStoreFailed  = "store_failed"
	JoinAlreadyIn    = "already_joined"
	JoinNotOpen      = "not_open"
	JoinEnded        = "event_ended"
	JoinRejected     = "rejected"
)

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New registers every metric on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrctl_joins_total", Help: "Join requests answered by this replica, by result.",
		}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrctl_granter_decisions_total", Help: "Admission decisions that ended a queue message on this replica, by outcome (admitted, skipped: nobody waiting).",
		}, []string{"outcome"}),
		joinToAdmission: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "wrctl_join_to_admission_seconds", Help: "Time from join to admission of the sessions this replica admitted.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 14), // 10ms .. ~15h
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrctl_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wrctl_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: latencyBuckets,
		}, []string{"route"}),
		sqsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrctl_sqs_requests_total", Help: "Queue calls by action and outcome (ok, error, canceled).",
		}, []string{"action", "outcome"}),
		sqsDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wrctl_sqs_request_duration_seconds", Help: "Queue call latency by action (receive includes its long poll).",
			Buckets: append(latencyBuckets, 20, 30),
		}, []string{"action"}),
		storeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrctl_store_requests_total", Help: "Store calls by operation and outcome (ok, error).",
		}, []string{"op", "outcome"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wrctl_store_request_duration_seconds", Help: "Store call latency by operation.", Buckets: latencyBuckets,
		}, []string{"op"}),
		granterMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrctl_granter_messages_total",
			Help: "Queue messages the granter handled apart from decisions: dead_lettered (undecodable, moved at once), recycled (sent again before the redrive limit), redriven (brought back from the dead-letter queue).",
		}, []string{"action"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wrctl_status_requests_held", Help: "Status requests this replica holds for a change (?wait=).",
		}),
		granterLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "wrctl_granter_loop_lag_seconds", Help: "How late the granter's loop handled its periodic tick: a busy or stuck granter shows here.",
			Buckets: latencyBuckets,
		}),
	}
	// Every labelled series of a known value exists from the start, so
	// rates work from the first scrape.
	for _, r := range []string{JoinCreated, JoinExisting, JoinRateLimited, JoinLineFull, JoinUnknownEvent, JoinQueueFailed, JoinStoreFailed, JoinAlreadyIn, JoinNotOpen, JoinEnded, JoinRejected} {
		m.joins.WithLabelValues(r)
	}
	for _, o := range []room.GrantOutcome{room.Admitted, room.Skipped} {
		m.decisions.WithLabelValues(o.String())
	}
	for _, a := range []string{"dead_lettered", "recycled", "redriven"} {
		m.granterMessages.WithLabelValues(a)
	}
	m.reg.MustRegister(m.granterMessages, m.joins, m.decisions, m.joinToAdmission, m.httpRequests, m.httpDuration,
		m.sqsRequests, m.sqsDuration, m.storeRequests, m.storeDuration, m.granterLag, m.held,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds a collector of the caller's.
func (m *Metrics) Register(c prometheus.Collector) { m.reg.MustRegister(c) }

// Join counts one join result.
func (m *Metrics) Join(result string) { m.joins.WithLabelValues(result).Inc() }

// Decision counts a granter decision; an admission also records its wait.
func (m *Metrics) Decision(o room.GrantOutcome, s room.Session) {
	m.decisions.WithLabelValues(o.String()).Inc()
	if o == room.Admitted && !s.CreatedAt.IsZero() {
		m.joinToAdmission.Observe(s.ActivatedAt.Sub(s.CreatedAt).Seconds())
	}
}

// AdmittedAtJoin records the admission of a join that found an empty
// room: no wait, and no granter decision.
func (m *Metrics) AdmittedAtJoin() { m.joinToAdmission.Observe(0) }

// Held counts status requests held (+1) and answered (-1).
func (m *Metrics) Held(d float64) { m.held.Add(d) }

// GranterMessages counts messages a granter handled apart from decisions
// (dead_lettered, recycled).
func (m *Metrics) GranterMessages(what string, n int) {
	m.granterMessages.WithLabelValues(what).Add(float64(n))
}

// HTTP records one request.
func (m *Metrics) HTTP(route string, code int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// GranterLag records how late the granter handled a tick.
func (m *Metrics) GranterLag(d time.Duration) { m.granterLag.Observe(max(d, 0).Seconds()) }

// HeldMessages exports how many messages a granter holds for full events.
func (m *Metrics) HeldMessages(held func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wrctl_granter_held_messages", Help: "Queue messages held in flight by this replica's granter while their event is full.",
	}, func() float64 { return float64(held()) }))
}
