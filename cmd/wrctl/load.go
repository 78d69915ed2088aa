package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/printer"
)

// thresholdError is a run that failed one or more thresholds.
type thresholdError struct{ failed []loadgen.ThresholdResult }

func (e thresholdError) Error() string {
	msgs := make([]string, len(e.failed))
	for i, f := range e.failed {
		msgs[i] = strings.TrimPrefix(f.String(), "✗ ")
	}
	return "the run failed: " + strings.Join(msgs, "; ")
}

// loadInterruptedError is a run stopped with Ctrl-C.
type loadInterruptedError struct{ left int64 }

func (e loadInterruptedError) Error() string {
	return fmt.Sprintf("interrupted: the report is partial; the run left its %d open session(s)", e.left)
}

func newLoadCmd(f *factory, runF func(context.Context, *loadOptions) error) *cobra.Command {
	o := &loadOptions{clientOptions: clientOptions{IO: f}}
	cmd := &cobra.Command{
		Use:   "load --users N (--rate R | --stages SPEC)",
		Short: "Simulate an on-sale against a running waiting room and audit it",
		Long: `Simulate many users against a running waiting room and report what happened.

Each simulated user joins, polls its status (following the server's
Retry-After, or --poll-interval), heartbeats while admitted, stays for --hold
and leaves; --abandon makes a fraction stop polling while waiting. Users
arrive on an open schedule (--rate, or --stages to ramp) whatever the server
does: latency is measured from each request's scheduled time, so a slow
server shows as latency instead of quietly slowing the test, and late or
dropped arrivals are counted.

The report gives per-endpoint and overall counts, requests/s, status codes,
errors by message and latency (min, mean, p50, p90, p95, p99, p99.9, max, from
HDR histograms), time to admission, the achieved join rate, and two audits: the
most users ACTIVE at once per event against its capacity (the server's own
count from /api/waiting-room/events/{id}/stats and the users' view, both),
and admission-order inversions against join order per event.

Every run is judged, so it cannot pass by accident: failed requests beyond
--max-errors (default 0) fail it, and so do capacity violations and
admission-order inversions, unless --threshold covers those metrics. A
threshold whose metric could not be measured fails and says why (e.g. capacity
unverified: no server stats and no --capacity). --capacity gives the capacity
the audit checks the users' own count against, whatever the server reports.

Threshold metrics: errors, error_rate, requests, capacity_violations,
inversions, inversion_fraction, join_rate, joined, admitted, failed_users,
late_arrivals, dropped_arrivals, expired_waiting, expired_active, incomplete,
requests_per_admitted, sqs_requests_per_admitted (from the replicas'
/metrics, --metrics), prequeue_overtaken, prequeue_rank_correlation (the
largest |rank correlation| over the events), audit_log_violations (rules the
events' public audit logs show broken, a broken log counting one; a default
check of a run with a start), and latencies {join,status,heartbeat,leave,admission,arrival_lag}_{min,p50,p90,
p95,p99,p99.9,max,mean} compared with durations.

An on-sale with a start: --starts-in 30s (or --starts-at TIME, the same on
every shard) first gives every event of the run that start through the admin
API (--admin-token), so the users arriving before it join the pre-queue and
those after it the line behind them. The audit then checks the start: the
rank correlation between the pre-queued users' join order and their admission
order (near 0 for a fair shuffle), that nobody who joined after the start was
admitted before a pre-queued user (prequeue_overtaken, a default check), that
admission followed the server's recorded shuffle, and FIFO among the later
joins (inversions). At the end it reads each event's public audit log and
proves it as 'wrctl audit' does. With newUsersPerMinute, the report gives the
admission rate per minute against the setting.

Ctrl-C stops arrivals, leaves every session the run opened, prints the partial
report marked INTERRUPTED and exits 130; a second Ctrl-C stops at once.

--html writes a self-contained page with charts of the run (active against
capacity per event, waiting, join and admission rates, latency over time, time
to admission). Big runs spread over hosts: run '--shard i/n --run-id ID' on
each, write '--out shard-i.json', and combine with 'wrctl load merge'.

Exit codes:
  0  every threshold held
  1  another failure
  2  usage error: a bad flag or argument; nothing was run
  6  the server could not be reached or was not ready: nothing was scheduled
  8  a threshold failed (the report says which, with the value observed)
  130  interrupted with Ctrl-C (the report is partial; the run's sessions were left)`,
		Example: `  # 5000 users at 500 joins/s, CI gates
  wrctl load --users 5000 --rate 500 --hold 2s..10s --capacity 100 \
    --threshold 'join_p99<200ms' --html run.html

  # Ramp to 2000 joins/s over a minute, hold two minutes, over 10 events
  wrctl load --users 300000 --stages 1m:2000,2m:2000 --events 10 --output json --out run.json

  # An on-sale: 400 arrive in the 20s before the start, 200 after it
  wrctl load --users 600 --rate 20 --starts-in 20s --admin-token "$WRCTL_ADMIN_TOKEN" \
    --threshold 'prequeue_rank_correlation<0.3'

  # One of four hosts
  wrctl load --users 400000 --rate 4000 --shard 2/4 --run-id drop-1 --out shard-2.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return runOr(runF, loadRun)(cmd.Context(), o)
		},
	}
	o.bind(cmd)
	cmd.AddCommand(newLoadMergeCmd(f, nil))
	return cmd
}

// bind adds load's flags, bound to o.
func (o *loadOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	sc := &o.scenario
	f.IntVarP(&sc.Users, "users", "u", 0, "users to simulate in all (required)")
	f.Float64VarP(&sc.Rate, "rate", "r", 0, "arrivals (joins) per second")
	f.StringVarP(&o.spec.Stages, "stages", "s", "", "ramp instead of --rate: DURATION:RATE,… e.g. 30s:100,1m:500 (linear ramps)")
	f.DurationVarP(&sc.Duration, "duration", "d", 0, "cap on the whole run; arrivals not started by then are dropped and open sessions left (0: none)")
	f.StringArrayVar(&o.metrics, "metrics", nil, "a replica's /metrics URL, repeatable, read before and after the run for the SQS requests it cost (default: the server's /metrics; 'none' skips it)")
	f.StringVar(&o.spec.Capacity, "capacity", "", "capacity to audit against, whatever the server reports: N for every event, or EVENT=N,… (EVENT an id or eI)")
	f.DurationVar(&o.spec.StartsIn, "starts-in", 0, "drive an on-sale: give the run's events a start this long after the run begins (needs --admin-token)")
	f.StringVar(&o.spec.StartsAt, "starts-at", "", "like --starts-in, at an RFC 3339 time (the same for every shard)")
	flags{cmd: cmd}.bind(&sc.AdminToken, "admin-token", "admin.token", "", "admin API token, for --starts-in and to read the start's shuffle record (admin.token, WRCTL_ADMIN_TOKEN)")

	f.IntVar(&sc.Events, "events", 1, "spread users over this many events")
	f.StringVar(&sc.RunID, "run-id", "", "run name: events are RUNID-e0…, users RUNID-u0… (default: load-<time>); shards of a run share it")
	f.StringVar(&o.spec.Hold, "hold", "2s..10s", "how long an admitted user stays: a duration or MIN..MAX")
	f.Float64Var(&sc.Abandon, "abandon", 0, "fraction of users that stop polling while waiting (0..1)")
	f.DurationVar(&sc.PollInterval, "poll-interval", 0, "poll this often instead of following Retry-After (no held requests)")
	f.DurationVar(&o.spec.StatusWait, "status-wait", client.DefaultHold, "ask the server to hold each waiting user's status request this long for a change (?wait=), so it hears of its admission at once; 0 polls plainly, following Retry-After")
	f.DurationVar(&sc.HeartbeatInterval, "heartbeat-interval", 5*time.Second, "how often an admitted user heartbeats")
	f.IntVarP(&sc.Concurrency, "concurrency", "c", 256, "requests in flight at most")
	f.StringVar(&o.spec.Shard, "shard", "0/1", "run part i of n of the scenario (i/n)")
	f.Uint64Var(&sc.Seed, "seed", 1, "random seed for hold times and abandonment")
	o.report.bind(cmd)
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto (bars on a terminal, lines otherwise), bars, lines, none")
	f.DurationVar(&o.progressInterval, "progress-interval", 5*time.Second, "interval of progress lines")
	o.clientOptions.bind(cmd)
}

// loadOptions is load's input, bound to its flags.
type loadOptions struct {
	clientOptions
	scenario         loadgen.Config
	spec             loadgen.Spec // the scenario's flags that need parsing
	metrics          []string
	report           reportOptions
	progress         string
	progressInterval time.Duration
}

// reportOptions are the flags load and load merge share.
type reportOptions struct {
	thresholds   []string
	out, html    string
	maxErrors    int
	maxErrorsSet bool
	parsed       []loadgen.Threshold
}

func (o *reportOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&o.thresholds, "threshold", "t", nil, "pass/fail condition, repeatable, e.g. 'join_p99<200ms' (exit 8 when one fails)")
	f.StringVar(&o.out, "out", "", "also write the JSON report to this file (for 'wrctl load merge')")
	f.StringVar(&o.html, "html", "", "also write a self-contained HTML report with charts of the run to this file")
	f.IntVar(&o.maxErrors, "max-errors", 0, "failed requests allowed before the run fails (default 0, unless a threshold on errors, error_rate or failed_users is given)")
}

// complete checks what load was given.
func (o *loadOptions) complete(cmd *cobra.Command) error {
	hc := &http.Client{
		Timeout:   client.DefaultHold + 30*time.Second, // a held status request, then the usual bound
		Transport: &http.Transport{MaxIdleConns: o.scenario.Concurrency, MaxIdleConnsPerHost: o.scenario.Concurrency, IdleConnTimeout: 90 * time.Second},
	}
	if err := o.clientOptions.complete(cmd, hc); err != nil {
		return err
	}
	return o.report.complete(cmd)
}

// loadRun runs the scenario and prints its report.
func loadRun(ctx context.Context, o *loadOptions) error {
	cfg, err := o.scenarioConfig()
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	switch {
	case len(o.metrics) == 0:
		cfg.MetricsURLs = []string{c.BaseURL() + "/metrics"}
	case len(o.metrics) == 1 && o.metrics[0] == "none":
	default:
		cfg.MetricsURLs = o.metrics
	}
	runner, err := loadgen.New(cfg, c)
	if err != nil {
		return usageError{err}
	}
	// The first Ctrl-C (or SIGTERM) interrupts the run, which then leaves
	// its open sessions; a second one stops at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(o.IO.ErrOut, "\ninterrupted: no more arrivals; leaving the run's open sessions (Ctrl-C again stops at once)")
		runner.Interrupt()
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	stopProgress, err := loadgen.ShowProgress(o.IO.ErrOut, o.progress, isTerminal(o.IO.ErrOut), o.progressInterval, runner)
	var fe *loadgen.FieldError
	if errors.As(err, &fe) {
		return usagef("--%s %s", fe.Field, fe.Msg)
	} else if err != nil {
		return err
	}
	rep, err := runner.Run(ctx)
	stopProgress()
	if err != nil {
		return err
	}
	err = o.report.finish(o.IO.Out, rep, o.Format)
	if rep.Interrupted && (err == nil || errors.As(err, &thresholdError{})) {
		return loadInterruptedError{rep.Users.LeftAtStop}
	}
	return err
}

// scenarioConfig completes the scenario from the flags that need parsing.
func (o *loadOptions) scenarioConfig() (loadgen.Config, error) {
	cfg, err := o.spec.Complete(o.scenario, time.Now())
	var fe *loadgen.FieldError
	if errors.As(err, &fe) {
		return cfg, usagef("--%s %s", fe.Field, fe.Msg)
	} else if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// complete parses the thresholds.
func (o *reportOptions) complete(cmd *cobra.Command) error {
	o.maxErrorsSet = cmd.Flags().Changed("max-errors")
	o.parsed = nil
	for _, r := range o.thresholds {
		t, err := loadgen.ParseThreshold(r)
		if err != nil {
			return usagef("--threshold: %v", err)
		}
		o.parsed = append(o.parsed, t)
	}
	return nil
}

// finish prints the report, writes --out and --html, and checks the
// thresholds.
func (o *reportOptions) finish(w io.Writer, rep *loadgen.Report, format string) error {
	failed, err := rep.Finish(w, loadgen.Output{Thresholds: o.parsed, MaxErrors: o.maxErrors, MaxErrorsSet: o.maxErrorsSet,
		Out: o.out, HTML: o.html, JSON: format == printer.JSON})
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return thresholdError{failed}
	}
	return nil
}

// mergeOptions are load merge's input.
type mergeOptions struct {
	IO      *factory
	Format  string
	Reports []string
	Partial bool
	report  reportOptions
}

func newLoadMergeCmd(f *factory, runF func(context.Context, *mergeOptions) error) *cobra.Command {
	o := &mergeOptions{IO: f}
	cmd := &cobra.Command{
		Use:   "merge REPORT.json...",
		Short: "Combine the JSON reports of the shards of one run",
		Long: `Combine the JSON reports (--out) of the shards of one run exactly: counts add,
HDR histograms merge, and the audits are recomputed from every admission.
Client-side times from different hosts assume synchronised clocks.`,
		Example: `  wrctl load merge shard-0.json shard-1.json shard-2.json shard-3.json --threshold 'inversions==0'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("load merge needs at least one REPORT.json")
			}
			o.Reports = args
			var err error
			if o.Format, err = outputFormat(cmd); err != nil {
				return err
			}
			if err := o.report.complete(cmd); err != nil {
				return err
			}
			return runOr(runF, mergeRun)(cmd.Context(), o)
		},
	}
	o.report.bind(cmd)
	cmd.Flags().BoolVar(&o.Partial, "partial", false, "merge even when shards are missing (never a shard given twice)")
	outputFlag(cmd.Flags())
	return cmd
}

// mergeRun merges the shards' reports and judges the whole run.
func mergeRun(_ context.Context, o *mergeOptions) error {
	reps, err := loadgen.ReadReports(o.Reports...)
	if err != nil {
		return usageError{err}
	}
	if err := loadgen.CheckShards(reps, o.Partial); err != nil {
		return usageError{err}
	}
	merged, err := loadgen.Merge(reps...)
	if err != nil {
		return usageError{err}
	}
	return o.report.finish(o.IO.Out, merged, o.Format)
}
