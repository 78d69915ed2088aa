package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wrctl/wrctl/internal/loadgen"
)

// thresholdError is a run that breached one or more --threshold.
type thresholdError struct{ breached []string }

func (e thresholdError) Error() string {
	return "thresholds breached: " + strings.Join(e.breached, "; ")
}

func newLoadCmd() *cobra.Command {
	o := &loadOptions{}
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

The report gives per-endpoint counts, errors and latency percentiles (HDR
histograms), time to admission, the achieved join rate, and two audits: the
most users ACTIVE at once per event against its capacity (the server's own
count from /api/waiting-room/events/{id}/stats and the users' view, both),
and admission-order inversions against join order per event.

Thresholds gate CI: metrics are errors, error_rate, requests,
capacity_violations, inversions, inversion_fraction, join_rate, joined,
admitted, failed_users, late_arrivals, dropped_arrivals, expired_waiting,
expired_active, incomplete, and latencies {join,status,heartbeat,leave,
admission,arrival_lag}_{p50,p90,p99,p99.9,max,mean} compared with durations.

Big runs spread over hosts: run '--shard i/n --run-id ID' on each, write
'--out shard-i.json', and combine with 'wrctl load merge'.

Exit codes: as for every command, plus
  8  a --threshold was breached`,
		Example: `  # 5000 users at 500 joins/s, CI gates
  wrctl load --users 5000 --rate 500 --hold 2s..10s \
    --threshold 'join_p99<200ms' --threshold 'errors==0' \
    --threshold 'capacity_violations==0' --threshold 'inversions==0'

  # Ramp to 2000 joins/s over a minute, hold two minutes, over 10 events
  wrctl load --users 300000 --stages 1m:2000,2m:2000 --events 10 --output json --out run.json

  # One of four hosts
  wrctl load --users 400000 --rate 4000 --shard 2/4 --run-id drop-1 --out shard-2.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLoad(cmd, o) },
	}
	f := cmd.Flags()
	sc := &o.scenario
	f.IntVar(&sc.Users, "users", 0, "users to simulate in all (required)")
	f.Float64Var(&sc.Rate, "rate", 0, "arrivals (joins) per second")
	f.StringVar(&o.stages, "stages", "", "ramp instead of --rate: DURATION:RATE,… e.g. 30s:100,1m:500 (linear ramps)")
	f.DurationVar(&sc.Duration, "duration", 0, "cap on the whole run; arrivals not started by then are dropped (0: none)")
	f.IntVar(&sc.Events, "events", 1, "spread users over this many events")
	f.StringVar(&sc.RunID, "run-id", "", "run name: events are RUNID-e0…, users RUNID-u0… (default: load-<time>); shards of a run share it")
	f.StringVar(&o.hold, "hold", "2s..10s", "how long an admitted user stays: a duration or MIN..MAX")
	f.Float64Var(&sc.Abandon, "abandon", 0, "fraction of users that stop polling while waiting (0..1)")
	f.DurationVar(&sc.PollInterval, "poll-interval", 0, "poll this often instead of following Retry-After")
	f.DurationVar(&sc.HeartbeatInterval, "heartbeat-interval", 5*time.Second, "how often an admitted user heartbeats")
	f.IntVar(&sc.Concurrency, "concurrency", 256, "requests in flight at most")
	f.StringVar(&o.shard, "shard", "0/1", "run part i of n of the scenario (i/n)")
	f.Uint64Var(&sc.Seed, "seed", 1, "random seed for hold times and abandonment")
	o.report.bind(f)
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto (bars on a terminal, lines otherwise), bars, lines, none")
	f.DurationVar(&o.progressInterval, "progress-interval", 5*time.Second, "interval of progress lines")
	clientFlags(cmd)
	cmd.AddCommand(newLoadMergeCmd())
	return cmd
}

// loadOptions is load's input, bound to its flags.
type loadOptions struct {
	scenario            loadgen.Config
	stages, hold, shard string
	report              reportOptions
	progress            string
	progressInterval    time.Duration
}

// reportOptions are the flags load and load merge share.
type reportOptions struct {
	thresholds []string
	out        string
}

func (o *reportOptions) bind(f *pflag.FlagSet) {
	f.StringArrayVar(&o.thresholds, "threshold", nil, "pass/fail condition, repeatable, e.g. 'join_p99<200ms' (exit 8 when breached)")
	f.StringVar(&o.out, "out", "", "also write the JSON report to this file (for 'wrctl load merge')")
}

func runLoad(cmd *cobra.Command, o *loadOptions) error {
	format, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	cfg, err := o.scenarioConfig()
	if err != nil {
		return err
	}
	thresholds, err := o.report.parseThresholds()
	if err != nil {
		return err
	}
	c, err := newClientWith(cmd, &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: cfg.Concurrency, MaxIdleConnsPerHost: cfg.Concurrency, IdleConnTimeout: 90 * time.Second},
	})
	if err != nil {
		return err
	}
	runner, err := loadgen.New(cfg, c)
	if err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProgress, err := loadgen.ShowProgress(cmd.ErrOrStderr(), o.progress, isTerminal(cmd.ErrOrStderr()), o.progressInterval, runner)
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
	return o.report.finish(cmd, rep, format, thresholds)
}

// scenarioConfig completes the scenario from the flags that need parsing;
// loadgen validates it.
func (o *loadOptions) scenarioConfig() (loadgen.Config, error) {
	cfg := o.scenario
	if o.stages != "" {
		st, err := loadgen.ParseStages(o.stages)
		if err != nil {
			return cfg, usagef("--stages: %v", err)
		}
		cfg.Stages = st
	}
	d, err := loadgen.ParseDist(o.hold)
	if err != nil {
		return cfg, usagef("--hold: %v", err)
	}
	cfg.Hold = d
	if cfg.Shard, cfg.Shards, err = loadgen.ParseShard(o.shard); err != nil {
		return cfg, usagef("--shard %v", err)
	}
	if cfg.RunID == "" {
		if cfg.Shards > 1 {
			return cfg, usagef("--shard %s needs --run-id, the same on every shard", o.shard)
		}
		cfg.RunID = "load-" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	var fe *loadgen.FieldError
	if err := cfg.Validate(); errors.As(err, &fe) {
		return cfg, usagef("--%s %s", fe.Field, fe.Msg)
	} else if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func (o *reportOptions) parseThresholds() ([]loadgen.Threshold, error) {
	var out []loadgen.Threshold
	for _, r := range o.thresholds {
		t, err := loadgen.ParseThreshold(r)
		if err != nil {
			return nil, usagef("--threshold: %v", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// finish prints the report, writes --out and checks the thresholds.
func (o *reportOptions) finish(cmd *cobra.Command, rep *loadgen.Report, format string, thresholds []loadgen.Threshold) error {
	if o.out != "" {
		if err := rep.WriteFile(o.out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	w := cmd.OutOrStdout()
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(w); err != nil {
		return err
	}
	if breached := rep.Breached(thresholds); len(breached) > 0 {
		return thresholdError{breached}
	}
	if len(thresholds) > 0 && format == "text" {
		fmt.Fprintf(w, "thresholds %d passed\n", len(thresholds))
	}
	return nil
}

func newLoadMergeCmd() *cobra.Command {
	o := &reportOptions{}
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
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			thresholds, err := o.parseThresholds()
			if err != nil {
				return err
			}
			reps, err := loadgen.ReadReports(args...)
			if err != nil {
				return usageError{err}
			}
			merged, err := loadgen.Merge(reps...)
			if err != nil {
				return usageError{err}
			}
			return o.finish(cmd, merged, format, thresholds)
		},
	}
	o.bind(cmd.Flags())
	outputFlag(cmd.Flags())
	return cmd
}
