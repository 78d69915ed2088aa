package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Spec is what of a scenario a person writes as text on the command line;
// Complete parses it into a Config. Its fields are named by their flags.
type Spec struct {
	Stages   string        // --stages: DURATION:RATE,…
	Hold     string        // --hold: a duration or MIN..MAX
	Shard    string        // --shard: i/n
	Capacity string        // --capacity: N, or EVENT=N,…
	StartsAt string        // --starts-at: RFC 3339
	StartsIn time.Duration // --starts-in: after now
	// StatusWait is how long a waiting user's status request is held
	// (--status-wait); 0 polls plainly.
	StatusWait time.Duration
}

// Complete fills cfg from the spec at now and validates it; a part at
// fault is a *FieldError naming its flag.
func (s Spec) Complete(cfg Config, now time.Time) (Config, error) {
	bad := func(field, format string, a ...any) (Config, error) {
		return cfg, &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	var err error
	if s.Stages != "" {
		if cfg.Stages, err = ParseStages(s.Stages); err != nil {
			return bad("stages", "%v", err)
		}
	}
	if cfg.Capacity, cfg.EventCapacity, err = ParseCapacity(s.Capacity); err != nil {
		return bad("capacity", "%v", err)
	}
	if cfg.Hold, err = ParseDist(s.Hold); err != nil {
		return bad("hold", "%v", err)
	}
	switch {
	case s.StatusWait < 0:
		return bad("status-wait", "must not be negative, got %s", s.StatusWait)
	case s.StatusWait == 0:
		cfg.StatusWait = -1 // plain polls
	default:
		cfg.StatusWait = s.StatusWait
	}
	switch {
	case s.StartsIn < 0:
		return bad("starts-in", "must not be negative, got %s", s.StartsIn)
	case s.StartsIn > 0 && s.StartsAt != "":
		return bad("starts-in", "and --starts-at: give one, not both")
	case s.StartsIn > 0:
		cfg.StartsIn = s.StartsIn // from when the run begins
	case s.StartsAt != "":
		if cfg.StartsAt, err = time.Parse(time.RFC3339, s.StartsAt); err != nil {
			return bad("starts-at", "%q is not an RFC 3339 time such as 2026-12-01T18:00:00Z", s.StartsAt)
		}
	}
	if cfg.Shard, cfg.Shards, err = ParseShard(s.Shard); err != nil {
		return bad("shard", "%v", err)
	}
	if cfg.RunID == "" {
		if cfg.Shards > 1 {
			return bad("shard", "%s needs --run-id, the same on every shard", s.Shard)
		}
		cfg.RunID = "load-" + strconv.FormatInt(now.Unix(), 36)
	}
	return cfg, cfg.Validate()
}

// Output is where a finished report goes and how it is judged.
type Output struct {
	Thresholds []Threshold
	// MaxErrors is the failed requests allowed; MaxErrorsSet says the
	// operator gave it (else a threshold on errors replaces it).
	MaxErrors    int
	MaxErrorsSet bool
	// Out and HTML, if set, are files for the JSON report and the HTML page.
	Out, HTML string
	// JSON prints the report as JSON instead of text.
	JSON bool
}

// ErrOutput wraps a report file that could not be written.
var ErrOutput = errors.New("write the report")

// Finish judges the report, writes its files and prints it to w; it
// returns the thresholds that failed.
func (r *Report) Finish(w io.Writer, o Output) ([]ThresholdResult, error) {
	failed := r.Check(Gates(o.Thresholds, o.MaxErrors, o.MaxErrorsSet, r.Audit.PreQueued > 0 || r.Scenario.StartsAt != ""))
	if o.Out != "" {
		if err := r.WriteFile(o.Out); err != nil {
			return nil, fmt.Errorf("%w: --out: %w", ErrOutput, err)
		}
	}
	if o.HTML != "" {
		if err := r.WriteHTMLFile(o.HTML); err != nil {
			return nil, fmt.Errorf("%w: --html: %w", ErrOutput, err)
		}
	}
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return failed, enc.Encode(r)
	}
	return failed, r.WriteText(w)
}
