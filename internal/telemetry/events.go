package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wrctl/wrctl/internal/room"
)

// MaxEvents bounds the events exported per scrape, and so the label
// cardinality of the per-event metrics.
const MaxEvents = 200

// eventCollector reads per-event figures from the store at scrape time.
// They are store-wide, the same on every replica sharing the store: sum
// them over events, not over replicas.
type eventCollector struct {
	st      room.Store
	timeout time.Duration

	active, waiting, capacity, paused, peak *prometheus.Desc
	joined, admitted, left, expired         *prometheus.Desc
	preQueued, startsIn                     *prometheus.Desc
}

// WatchEvents exports every event's figures from the store.
func (m *Metrics) WatchEvents(st room.Store) {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"event"}, labels...), nil)
	}
	m.reg.MustRegister(&eventCollector{
		st:        st,
		timeout:   2 * time.Second,
		active:    d("wrctl_event_active", "ACTIVE sessions of the event (store-wide)."),
		waiting:   d("wrctl_event_waiting", "WAITING sessions of the event (store-wide)."),
		capacity:  d("wrctl_event_capacity", "The event's effective capacity."),
		paused:    d("wrctl_event_paused", "1 while the event's admission is paused."),
		peak:      d("wrctl_event_peak_active", "Most sessions ever ACTIVE at once in the event."),
		joined:    d("wrctl_event_joins_total", "Sessions created for the event (store-wide)."),
		admitted:  d("wrctl_event_admissions_total", "Admissions into the event (store-wide)."),
		left:      d("wrctl_event_leaves_total", "Sessions of the event that left (store-wide)."),
		expired:   d("wrctl_event_expiries_total", "Sessions of the event that expired, by reason (store-wide).", "reason"),
		preQueued: d("wrctl_event_prequeued", "WAITING sessions of the event in its pre-queue, before its start (part of wrctl_event_waiting)."),
		startsIn:  d("wrctl_event_starts_in_seconds", "Seconds until the event's start (its pre-queue's shuffle); 0 once started or without a start."),
	})
}

func (c *eventCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.active, c.waiting, c.capacity, c.paused, c.peak, c.joined, c.admitted, c.left, c.expired, c.preQueued, c.startsIn} {
		ch <- d
	}
}

func (c *eventCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ids, err := c.st.Events(ctx)
	if err != nil {
		return // the store's own metrics show the failure
	}
	for _, id := range ids[:min(len(ids), MaxEvents)] {
		st, err := c.st.Stats(ctx, id)
		if err != nil {
			return
		}
		g := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{id}, labels...)...)
		}
		n := func(d *prometheus.Desc, v int64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{id}, labels...)...)
		}
		paused := 0.0
		if st.Paused {
			paused = 1
		}
		g(c.active, float64(st.Active))
		g(c.waiting, float64(st.Waiting))
		g(c.capacity, float64(st.Capacity))
		g(c.paused, paused)
		g(c.peak, float64(st.PeakActive))
		g(c.preQueued, float64(st.PreQueued))
		startsIn := 0.0
		if !st.Policy.StartsAt.IsZero() && st.Now.Before(st.Policy.StartsAt) {
			startsIn = st.Policy.StartsAt.Sub(st.Now).Seconds()
		}
		g(c.startsIn, startsIn)
		n(c.joined, st.Joined)
		n(c.admitted, st.Admitted)
		n(c.left, st.Left)
		for _, r := range []room.EndReason{room.ReasonAbandoned, room.ReasonHeartbeat, room.ReasonMaxActive, room.ReasonEventEnded, room.ReasonRejected} {
			n(c.expired, st.ExpiredBy[r], string(r))
		}
	}
}
