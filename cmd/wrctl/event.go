package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/room"
)

func newEventCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "event",
		Short: "Read and change events' settings at runtime (admin API)",
		Long: `Read and change events' settings while the room runs, through the admin API
of 'wrctl serve' (on when it has admin.token). Changes are stored in the
store, so every replica applies them at once: raising capacity admits people
right away, lowering it admits no one until active drops below it, pausing
stops admission but keeps the line.

The admin token comes from --admin-token or WRCTL_ADMIN_TOKEN.` + exitCodes(exitOK, exitFailure, exitUsage, exitNotFound, exitUnavailable, exitAdminOff, exitBadAdmin),
		Example: `  export WRCTL_ADMIN_TOKEN=...
  wrctl event list
  wrctl event get launch-2026
  wrctl event set launch-2026 --capacity 500
  wrctl event set launch-2026 --paused
  wrctl event set launch-2026 --paused=false --max-waiting 200000
  wrctl event set launch-2026 --opens-at +30m --starts-at 2026-12-01T18:00:00Z --new-users-per-minute 600
  wrctl event set launch-2026 --queueing-method reject --message "Sold out - thank you"`,
	}
	cmd.AddCommand(newEventListCmd(), newEventGetCmd(), newEventSetCmd())
	return cmd
}

func adminFlags(cmd *cobra.Command) {
	cmd.Flags().String("admin-token", "", "admin API bearer token (admin.token, WRCTL_ADMIN_TOKEN)")
	keyFlag(cmd, "admin-token", "admin.token")
	clientFlags(cmd)
}

func adminClient(cmd *cobra.Command) (*client.AdminClient, error) {
	c, err := newClient(cmd)
	if err != nil {
		return nil, err
	}
	v, err := newViper(cmd)
	if err != nil {
		return nil, err
	}
	token := v.GetString("admin.token")
	if token == "" {
		return nil, usagef("--admin-token (or WRCTL_ADMIN_TOKEN) is required")
	}
	return c.Admin(token), nil
}

func eventArg(cmd *cobra.Command, args []string) (string, error) {
	if len(args) != 1 {
		return "", usagef("%s takes one EVENT id, got %d arguments", cmd.CommandPath(), len(args))
	}
	if err := room.ValidateID(args[0]); err != nil {
		return "", usagef("EVENT %q: %v", args[0], err)
	}
	return args[0], nil
}

func newEventListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List events with their settings and counts",
		Example: "  wrctl event list --output json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			a, err := adminClient(cmd)
			if err != nil {
				return err
			}
			evs, err := a.Events(cmd.Context())
			if err != nil {
				return err
			}
			return printEvents(cmd.OutOrStdout(), format, evs, true)
		},
	}
	adminFlags(cmd)
	return cmd
}

func newEventGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "get EVENT",
		Short:   "Show one event's settings and counts",
		Example: "  wrctl event get launch-2026",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := eventArg(cmd, args)
			if err != nil {
				return err
			}
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			a, err := adminClient(cmd)
			if err != nil {
				return err
			}
			ev, err := a.Event(cmd.Context(), id)
			if err != nil {
				return err
			}
			return printEvents(cmd.OutOrStdout(), format, []api.AdminEvent{ev}, false)
		},
	}
	adminFlags(cmd)
	return cmd
}

func newEventSetCmd() *cobra.Command {
	var o struct {
		set                 api.EventSettings // the values of the flags given
		opens, starts, ends string
		clear               bool
	}
	cmd := &cobra.Command{
		Use:   "set EVENT [--capacity N] [--new-users-per-minute N] [--opens-at T] [--starts-at T] [--ends-at T] [--queueing-method M] [--paused] ...",
		Short: "Change one event's settings",
		Long: `Change the settings given as flags and keep the others; 0, "none" (or
--clear) returns a setting to the configured value.

The schedule: --opens-at opens the pre-queue (joins before it get 403),
--starts-at starts admission (joins before it wait in the pre-queue, shuffled
into a uniformly random order at the start, ahead of later joins), --ends-at
closes joins (410) and ends the waiting sessions. Times are RFC 3339
(2026-12-01T18:00:00Z), relative to now (+10m, -5s) or "now".

--queueing-method: fifo (join order), random (each admission a lottery draw),
passthrough (admit everyone at once, no cap) or reject (joins get 503 with
--message; waiting sessions end).`,
		Example: `  wrctl event set launch-2026 --capacity 500
  wrctl event set launch-2026 --paused
  wrctl event set launch-2026 --opens-at now --starts-at +15m --ends-at +2h
  wrctl event set launch-2026 --starts-at now      # start it at once
  wrctl event set launch-2026 --queueing-method reject --message "Sold out"
  wrctl event set launch-2026 --clear --capacity 200`,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := eventArg(cmd, args)
			if err != nil {
				return err
			}
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			changed := false
			for _, name := range []string{"capacity", "heartbeat-ttl", "waiting-ttl", "max-active", "max-waiting", "new-users-per-minute", "paused", "clear",
				"opens-at", "starts-at", "ends-at", "queueing-method", "message"} {
				changed = changed || f.Changed(name)
			}
			if !changed {
				return usagef("nothing to set: give --capacity, --heartbeat-ttl, --waiting-ttl, --max-active, --max-waiting, --new-users-per-minute, --opens-at, --starts-at, --ends-at, --queueing-method, --message, --paused or --clear")
			}
			now := time.Now()
			times := map[string]struct {
				in  string
				out **time.Time
			}{"opens-at": {o.opens, &o.set.OpensAt}, "starts-at": {o.starts, &o.set.StartsAt}, "ends-at": {o.ends, &o.set.EndsAt}}
			for flag, t := range times {
				if !f.Changed(flag) {
					continue
				}
				at, err := parseWhen(t.in, now)
				if err != nil {
					return usagef("--%s: %v", flag, err)
				}
				*t.out = at
			}
			if f.Changed("queueing-method") {
				if _, err := room.ParseMethod(o.set.QueueingMethod); err != nil || o.set.QueueingMethod == "" {
					return usagef("--queueing-method: %q is not fifo, random, passthrough or reject", o.set.QueueingMethod)
				}
			}
			a, err := adminClient(cmd)
			if err != nil {
				return err
			}
			cur, err := a.Event(cmd.Context(), id)
			if err != nil && !client.IsNotFound(err) { // a new event: no settings yet
				return err
			}
			s := cur.Settings
			if o.clear {
				s = api.EventSettings{}
			}
			// Only the flags given change a setting.
			if f.Changed("capacity") {
				s.Capacity = o.set.Capacity
			}
			if f.Changed("max-waiting") {
				s.MaxWaiting = o.set.MaxWaiting
			}
			if f.Changed("new-users-per-minute") {
				s.NewUsersPerMinute = o.set.NewUsersPerMinute
			}
			for flag, d := range map[string]struct{ dst, src *api.Duration }{
				"heartbeat-ttl": {&s.HeartbeatTTL, &o.set.HeartbeatTTL}, "waiting-ttl": {&s.WaitingTTL, &o.set.WaitingTTL}, "max-active": {&s.MaxActive, &o.set.MaxActive},
			} {
				if f.Changed(flag) {
					*d.dst = *d.src
				}
			}
			if f.Changed("paused") {
				s.Paused = o.set.Paused
			}
			for flag, t := range times {
				if f.Changed(flag) {
					switch flag {
					case "opens-at":
						s.OpensAt = *t.out
					case "starts-at":
						s.StartsAt = *t.out
					case "ends-at":
						s.EndsAt = *t.out
					}
				}
			}
			if f.Changed("queueing-method") {
				s.QueueingMethod = o.set.QueueingMethod
			}
			if f.Changed("message") {
				s.Message = o.set.Message
			}
			if s.Capacity < 0 || s.MaxWaiting < 0 || s.NewUsersPerMinute < 0 {
				return usagef("--capacity, --max-waiting and --new-users-per-minute must not be negative")
			}
			ev, err := a.PutEvent(cmd.Context(), id, s)
			if err != nil {
				return err
			}
			return printEvents(cmd.OutOrStdout(), format, []api.AdminEvent{ev}, false)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.set.Capacity, "capacity", 0, "most ACTIVE sessions (0: the configured capacity)")
	f.DurationVar((*time.Duration)(&o.set.HeartbeatTTL), "heartbeat-ttl", 0, "heartbeat TTL (0: configured)")
	f.DurationVar((*time.Duration)(&o.set.WaitingTTL), "waiting-ttl", 0, "waiting TTL (0: configured)")
	f.DurationVar((*time.Duration)(&o.set.MaxActive), "max-active", 0, "max active time (0: configured)")
	f.IntVar(&o.set.MaxWaiting, "max-waiting", 0, "refuse joins while this many wait (0: configured)")
	f.IntVar(&o.set.NewUsersPerMinute, "new-users-per-minute", 0, "admit at most this many a minute, as well as the capacity cap, whichever binds (0: configured)")
	f.BoolVar(&o.set.Paused, "paused", false, "stop admission but keep the line (--paused=false resumes)")
	f.StringVar(&o.opens, "opens-at", "", "when the pre-queue opens: RFC 3339, +10m, now, or none (configured)")
	f.StringVar(&o.starts, "starts-at", "", "when admission starts and the pre-queue is shuffled: RFC 3339, +10m, now, or none")
	f.StringVar(&o.ends, "ends-at", "", "when joins close and waiting sessions end: RFC 3339, +2h, now, or none")
	f.StringVar(&o.set.QueueingMethod, "queueing-method", "", "fifo, random, passthrough or reject")
	f.StringVar(&o.set.Message, "message", "", `what joins are told under reject (e.g. "Sold out")`)
	f.BoolVar(&o.clear, "clear", false, "start from the configured values instead of the current settings")
	adminFlags(cmd)
	return cmd
}

func printEvents(w io.Writer, format string, evs []api.AdminEvent, list bool) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if list {
			return enc.Encode(evs)
		}
		return enc.Encode(evs[0])
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tPHASE\tMETHOD\tCAPACITY\tNEW/MIN\tACTIVE\tWAITING\tPRE-QUEUED\tOPENS AT\tSTARTS AT\tENDS AT\tHEARTBEAT TTL\tWAITING TTL\tMAX ACTIVE\tMAX WAITING\tPAUSED\tOVERRIDES")
	for _, ev := range evs {
		e := ev.Effective
		maxWaiting := "none"
		if e.MaxWaiting > 0 {
			maxWaiting = fmt.Sprint(e.MaxWaiting)
		}
		perMinute := "none"
		if e.NewUsersPerMinute > 0 {
			perMinute = fmt.Sprint(e.NewUsersPerMinute)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", ev.EventID, ev.Stats.Phase, cmp.Or(e.QueueingMethod, "fifo"),
			e.Capacity, perMinute, ev.Stats.Active, ev.Stats.Waiting, ev.Stats.PreQueued, when(e.OpensAt), when(e.StartsAt), when(e.EndsAt),
			time.Duration(e.HeartbeatTTL), time.Duration(e.WaitingTTL), time.Duration(e.MaxActive), maxWaiting, e.Paused, cmp.Or(strings.Join(ev.Settings.Overrides(), ","), "-"))
	}
	return tw.Flush()
}

// when is a schedule time for a table: RFC 3339, or "-".
func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// parseWhen reads a time given on the command line: RFC 3339, relative to
// now (+10m, -30s), "now", or "none" (the zero time: the configured value).
func parseWhen(s string, now time.Time) (*time.Time, error) {
	switch {
	case s == "none" || s == "":
		return nil, nil
	case s == "now":
		return &now, nil
	case strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-"):
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a relative time such as +10m or -30s", s)
		}
		t := now.Add(d).Truncate(time.Second)
		return &t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time: give RFC 3339 (2026-12-01T18:00:00Z), +10m or now", s)
	}
	return &t, nil
}
