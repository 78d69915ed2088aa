package loadgen

import (
	"cmp"
	"slices"
	"time"
)

// Timeline is the run over time, one sample per step: what the HTML report
// draws. It stays bounded: past maxSamples, neighbouring samples are
// merged and the step doubles.
type Timeline struct {
	Step Millis `json:"stepMs"`
	// Events are the events sampled one by one: the first few of the run.
	Events  []string `json:"events"`
	Samples []Sample `json:"samples"`
}

// Sample is the state of the run at one moment. Counts since the start are
// cumulative (rates are their differences); the others are gauges.
type Sample struct {
	At       int64 `json:"at"` // Unix milliseconds
	Joined   int64 `json:"joined"`
	Admitted int64 `json:"admitted"`
	Errors   int64 `json:"errors"`
	// Waiting and Active are the users' own view.
	Waiting int64 `json:"waiting"`
	Active  int64 `json:"active"`
	// Per event of Timeline.Events: users inside as they see it, and the
	// server's active, waiting and capacity (0: not reported).
	Inside        []int64 `json:"inside"`
	ServerActive  []int64 `json:"serverActive"`
	ServerWaiting []int64 `json:"serverWaiting"`
	Capacity      []int   `json:"capacity"`
	// Latency per endpoint over the step: p50, p90, p99.
	Latency map[string][3]Millis `json:"latency"`
}

const (
	maxSamples        = 600
	maxTimelineEvents = 8
)

// sample appends the run's state now to the timeline.
func (r *Runner) sample() {
	s := Sample{
		At: time.Now().UnixMilli(), Joined: r.joined.Load(), Admitted: r.admits.Load(), Errors: r.errors.Load(),
		Waiting: r.waiting.Load(), Active: r.active.Load(), Latency: map[string][3]Millis{},
	}
	n := min(len(r.events), maxTimelineEvents)
	r.evMu.Lock()
	for i := range n {
		e := r.events[i]
		s.Inside = append(s.Inside, r.inside[i].Load())
		s.ServerActive = append(s.ServerActive, e.serverActive)
		s.ServerWaiting = append(s.ServerWaiting, e.serverWaiting)
		s.Capacity = append(s.Capacity, cmp.Or(e.Capacity, e.ServerCapacity))
	}
	r.evMu.Unlock()
	r.histMu.Lock()
	for _, name := range endpoints {
		h := r.ivHists[name]
		if h.TotalCount() > 0 {
			ms := func(q float64) Millis { return Millis(float64(h.ValueAtQuantile(q)) / 1000) }
			s.Latency[name] = [3]Millis{ms(50), ms(90), ms(99)}
		}
		h.Reset()
	}
	r.histMu.Unlock()

	r.tlMu.Lock()
	defer r.tlMu.Unlock()
	t := &r.timeline
	if t.Step == 0 {
		t.Step = Millis(float64(r.cfg.SampleInterval) / float64(time.Millisecond))
		for i := range n {
			t.Events = append(t.Events, r.cfg.EventID(i))
		}
	}
	if k := len(t.Samples); k > 0 && float64(s.At-t.Samples[k-1].At) < float64(t.Step)/2 {
		t.Samples[k-1] = combine(t.Samples[k-1], s) // the final sample, close behind the last
	} else {
		t.Samples = append(t.Samples, s)
	}
	if len(t.Samples) > maxSamples {
		t.halve()
	}
}

// halve merges neighbouring samples, doubling the step.
func (t *Timeline) halve() {
	out := t.Samples[:0]
	for i := 0; i < len(t.Samples); i += 2 {
		s := t.Samples[i]
		if i+1 < len(t.Samples) {
			s = combine(s, t.Samples[i+1])
		}
		out = append(out, s)
	}
	t.Samples = out
	t.Step *= 2
}

// combine is two successive samples as one: the later counts and time,
// the higher gauges and latencies.
func combine(a, b Sample) Sample {
	out := b
	out.Waiting, out.Active = max(a.Waiting, b.Waiting), max(a.Active, b.Active)
	out.Inside = maxEach(a.Inside, b.Inside)
	out.ServerActive = maxEach(a.ServerActive, b.ServerActive)
	out.ServerWaiting = maxEach(a.ServerWaiting, b.ServerWaiting)
	out.Latency = map[string][3]Millis{}
	maxLatency(out.Latency, a.Latency)
	maxLatency(out.Latency, b.Latency)
	return out
}

// maxLatency raises each of dst's percentiles to src's where src's is higher.
func maxLatency(dst, src map[string][3]Millis) {
	for k, v := range src {
		o := dst[k]
		dst[k] = [3]Millis{max(o[0], v[0]), max(o[1], v[1]), max(o[2], v[2])}
	}
}

func maxEach[T int | int64](a, b []T) []T {
	out := slices.Clone(b)
	for i := range min(len(a), len(out)) {
		out[i] = max(a[i], out[i])
	}
	return out
}

// mergeTimelines lays the shards' timelines on one time axis, at the
// coarsest step among them: counts and the users' gauges add up (each shard
// has its own users), the server's figures and latencies take the highest
// (one server; a percentile of percentiles is only an upper bound).
func mergeTimelines(ts []*Timeline) *Timeline {
	var step Millis
	var events []string
	for _, t := range ts {
		if t != nil && len(t.Samples) > 0 {
			step = max(step, t.Step)
			if len(t.Events) > len(events) {
				events = t.Events
			}
		}
	}
	if step == 0 {
		return nil
	}
	stepMs := int64(step)
	if stepMs < 1 {
		stepMs = 1
	}
	var shards []map[int64]Sample // per shard, its last sample in each bucket
	seen := map[int64]bool{}
	var keys []int64
	for _, t := range ts {
		if t == nil {
			continue
		}
		last := map[int64]Sample{}
		for _, s := range t.Samples {
			k := s.At / stepMs
			if prev, ok := last[k]; ok {
				s = combine(prev, s)
			}
			last[k] = s
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		shards = append(shards, last)
	}
	slices.Sort(keys)
	out := &Timeline{Step: Millis(stepMs), Events: events}
	n := len(events)
	prev := make([]Sample, len(shards)) // each shard's counts so far
	for _, k := range keys {
		m := Sample{At: k * stepMs, Latency: map[string][3]Millis{}}
		m.Inside, m.ServerActive, m.ServerWaiting, m.Capacity = make([]int64, n), make([]int64, n), make([]int64, n), make([]int, n)
		for i, sh := range shards {
			s, ok := sh[k]
			if !ok {
				// A shard without a sample here adds what it had counted.
				m.Joined += prev[i].Joined
				m.Admitted += prev[i].Admitted
				m.Errors += prev[i].Errors
				continue
			}
			prev[i] = s
			m.Joined += s.Joined
			m.Admitted += s.Admitted
			m.Errors += s.Errors
			m.Waiting += s.Waiting
			m.Active += s.Active
			for e := range min(n, len(s.Inside), len(s.ServerActive), len(s.ServerWaiting), len(s.Capacity)) {
				m.Inside[e] += s.Inside[e]
				m.ServerActive[e] = max(m.ServerActive[e], s.ServerActive[e])
				m.ServerWaiting[e] = max(m.ServerWaiting[e], s.ServerWaiting[e])
				m.Capacity[e] = max(m.Capacity[e], s.Capacity[e])
			}
			maxLatency(m.Latency, s.Latency)
		}
		out.Samples = append(out.Samples, m)
	}
	for len(out.Samples) > maxSamples {
		out.halve()
	}
	return out
}
