// Package loadgen simulates an on-sale against a waiting room: many users,
// each a small state machine (join, poll, heartbeat while inside, hold, leave),
// arriving on an open schedule, and audits what the room did: latency from
// each action's scheduled time, time to admission, capacity and fairness.
// It knows nothing of flags or progress bars: it takes a Config and returns a
// Report, and exposes a Progress snapshot for the command to render.
package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Stage ramps the arrival rate linearly from the previous stage's rate (0
// before the first) to Rate over Duration.
type Stage struct {
	Duration time.Duration
	Rate     float64
}

// ParseStages reads "30s:100,1m:500".
func ParseStages(s string) ([]Stage, error) {
	var out []Stage
	for _, part := range strings.Split(s, ",") {
		d, r, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("stage %q: want DURATION:RATE, e.g. 30s:100", part)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("stage %q: %q is not a positive duration", part, d)
		}
		rate, err := strconv.ParseFloat(r, 64)
		if err != nil || rate < 0 {
			return nil, fmt.Errorf("stage %q: %q is not a rate (joins per second)", part, r)
		}
		out = append(out, Stage{dur, rate})
	}
	return out, nil
}

// ParseShard reads "i/n": part i (from 0) of a run split over n hosts.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("%q: want i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return i, n, nil
}

// Dist is a uniform distribution of durations; Min == Max is a constant.
type Dist struct{ Min, Max time.Duration }

// ParseDist reads "5s" or "2s..10s".
func ParseDist(s string) (Dist, error) {
	lo, hi, isRange := strings.Cut(s, "..")
	a, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil || a < 0 {
		return Dist{}, fmt.Errorf("%q: want a duration (5s) or a range (2s..10s)", s)
	}
	if !isRange {
		return Dist{a, a}, nil
	}
	b, err := time.ParseDuration(strings.TrimSpace(hi))
	if err != nil || b < a {
		return Dist{}, fmt.Errorf("%q: want MIN..MAX with MIN <= MAX, e.g. 2s..10s", s)
	}
	return Dist{a, b}, nil
}

// Sample draws a duration.
func (d Dist) Sample(r *rand.Rand) time.Duration {
	if d.Max <= d.Min {
		return d.Min
	}
	return d.Min + time.Duration(r.Int64N(int64(d.Max-d.Min)+1))
}

func (d Dist) String() string {
	if d.Min == d.Max {
		return d.Min.String()
	}
	return d.Min.String() + ".." + d.Max.String()
}

// Config describes a scenario.
type Config struct {
	// Users is how many users arrive in all (across every shard).
	Users int
	// Rate is the constant arrival rate in joins per second, unless Stages.
	Rate float64
	// Stages ramps the arrival rate instead of Rate.
	Stages []Stage
	// Duration caps the run; arrivals not started by then are dropped. 0: no cap.
	Duration time.Duration
	// Events spreads users over this many events. Default 1.
	Events int
	// RunID names the run: events are RunID-e0, RunID-e1…, users RunID-u0…,
	// so a run never meets another's sessions. Shards of one run share it.
	RunID string
	// Hold is how long an admitted user stays before leaving.
	Hold Dist
	// Abandon is the fraction of users that stop polling while waiting.
	Abandon float64
	// PollInterval overrides the server's Retry-After when positive.
	PollInterval time.Duration
	// StatusWait is how long a waiting user asks the server to hold each
	// status request for a change (?wait=), so it hears of its admission
	// at once; negative polls without holding, following Retry-After (as
	// does a positive PollInterval). Default 25s.
	StatusWait time.Duration
	// MaxHeld bounds the status requests held at once; past it a user
	// polls without holding. Default 10,000.
	MaxHeld int
	// HeartbeatInterval is how often an admitted user heartbeats. Default 5s.
	HeartbeatInterval time.Duration
	// Concurrency bounds requests in flight. Default 256.
	Concurrency int
	// Shard and Shards run the users whose index is Shard modulo Shards.
	Shard, Shards int
	// Seed makes hold times and abandonment repeatable. Default 1.
	Seed uint64
	// LateAfter counts an arrival as late when it starts this long after its
	// scheduled time. Default 100ms.
	LateAfter time.Duration
	// StatsInterval is how often the server's event stats are read for the
	// capacity audit. Default 250ms.
	StatsInterval time.Duration
	// SampleInterval is the step of the report's timeline. Default 1s.
	SampleInterval time.Duration
	// Capacity is the capacity the operator expects of every event, and
	// EventCapacity of some events by id: the capacity audit checks the
	// users' own count against it, whatever the server reports. 0 (and no
	// entry): the server's reported capacity, if it reports one.
	Capacity      int
	EventCapacity map[string]int
	// MetricsURLs are the replicas' /metrics, read before and after the
	// run for the SQS requests it cost. None: no SQS figure.
	MetricsURLs []string
	// StartsAt, when set, drives an on-sale: before the run, every event
	// of the run is given this start (the admin API, with AdminToken), so
	// the users arriving before it join the pre-queue and those after it
	// the line behind them; the audit then checks the start.
	StartsAt time.Time
	// StartsIn, instead of StartsAt, gives the start this long after the
	// run begins: after the readiness check, so a slow start-up does not
	// eat into the time before it.
	StartsIn time.Duration
	// AdminToken is the admin API's bearer token: needed by StartsAt; with
	// it the run also reads each event's shuffle record for the audit.
	AdminToken string
}

// ParseCapacity reads --capacity: N for every event, or EVENT=N,… where
// EVENT is an event id or eI, the run's event I.
func ParseCapacity(s string) (all int, per map[string]int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil, nil
	}
	if !strings.Contains(s, "=") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, nil, fmt.Errorf("%q: want a capacity of at least 1, or EVENT=N,…", s)
		}
		return n, nil, nil
	}
	per = map[string]int{}
	for _, part := range strings.Split(s, ",") {
		id, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if id == "" || err != nil || n < 1 {
			return 0, nil, fmt.Errorf("%q: want EVENT=N with N at least 1, e.g. e0=100,e1=50", part)
		}
		per[strings.TrimSpace(id)] = n
	}
	return 0, per, nil
}

// capacityOf is the capacity the operator gave for event i, or 0.
func (c Config) capacityOf(i int) int {
	if n, ok := c.EventCapacity[c.EventID(i)]; ok {
		return n
	}
	if n, ok := c.EventCapacity["e"+strconv.Itoa(i)]; ok {
		return n
	}
	return c.Capacity
}

func (c *Config) defaults() {
	if c.Events <= 0 {
		c.Events = 1
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.StatusWait == 0 {
		c.StatusWait = 25 * time.Second
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 10_000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 256
	}
	if c.Shards <= 0 {
		c.Shards = 1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.LateAfter <= 0 {
		c.LateAfter = 100 * time.Millisecond
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = 250 * time.Millisecond
	}
	if c.SampleInterval <= 0 {
		c.SampleInterval = time.Second
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	bad := func(field, format string, a ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	switch {
	case c.Users < 1:
		return bad("users", "is required and must be at least 1")
	case c.Rate <= 0 && len(c.Stages) == 0:
		return bad("rate", "is required (joins per second), or give stages")
	case c.Rate > 0 && len(c.Stages) > 0:
		return bad("stages", "and rate: give one, not both")
	case c.Abandon < 0 || c.Abandon > 1:
		return bad("abandon", "must be a fraction 0..1, got %v", c.Abandon)
	case c.Shards < 1 || c.Shard < 0 || c.Shard >= c.Shards:
		return bad("shard", "%d/%d: want i/n with 0 <= i < n, e.g. 0/4", c.Shard, c.Shards)
	case c.Events < 1 || c.Events > 100000:
		return bad("events", "must be 1..100000, got %d", c.Events)
	case c.Concurrency < 1:
		return bad("concurrency", "must be at least 1, got %d", c.Concurrency)
	case c.Duration < 0:
		return bad("duration", "must not be negative")
	case c.PollInterval < 0:
		return bad("poll-interval", "must not be negative")
	case c.HeartbeatInterval <= 0:
		return bad("heartbeat-interval", "must be positive")
	case c.RunID == "":
		return bad("run-id", "is empty")
	case len(c.RunID) > 40 || strings.IndexFunc(c.RunID, func(ch rune) bool {
		return !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.')
	}) >= 0:
		return bad("run-id", "%q: up to 40 of A-Z a-z 0-9 - _ .", c.RunID)
	case c.Capacity < 0:
		return bad("capacity", "must not be negative, got %d", c.Capacity)
	case (!c.StartsAt.IsZero() || c.StartsIn > 0) && c.AdminToken == "":
		return bad("starts-in", "sets each event's start through the admin API: give --admin-token (or WRCTL_ADMIN_TOKEN)")
	}
	for id := range c.EventCapacity {
		known := false
		for i := range c.Events {
			known = known || id == c.EventID(i) || id == "e"+strconv.Itoa(i)
		}
		if !known {
			return bad("capacity", "%s is not an event of this run (%s or e0..e%d)", id, c.EventID(0)+"…", c.Events-1)
		}
	}
	if n := NewSchedule(c.Rate, c.Stages).Capacity(); len(c.Stages) > 0 && c.Users > n {
		return bad("users", "%d, but the stages schedule only %d arrivals: lower --users to %d, or lengthen or raise the stages", c.Users, n, n)
	}
	return nil
}

// FieldError names the setting at fault (its flag's name) and why.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Field + " " + e.Msg }

// EventID names event i of the run.
func (c Config) EventID(i int) string { return c.RunID + "-e" + strconv.Itoa(i) }

// UserID names user k of the run.
func (c Config) UserID(k int) string { return c.RunID + "-u" + strconv.Itoa(k) }
