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

The admin token comes from --admin-token or WRCTL_ADMIN_TOKEN.` + exitCodes(exitOK, exitFailure, exitUsage, exitUnavailable, exitAdminOff),
		Example: `  export WRCTL_ADMIN_TOKEN=...
  wrctl event list
  wrctl event get launch-2026
  wrctl event set launch-2026 --capacity 500
  wrctl event set launch-2026 --paused
  wrctl event set launch-2026 --paused=false --max-waiting 200000`,
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
		set   api.EventSettings // the values of the flags given
		clear bool
	}
	cmd := &cobra.Command{
		Use:   "set EVENT [--capacity N] [--heartbeat-ttl D] [--waiting-ttl D] [--max-active D] [--max-waiting N] [--new-users-per-minute N] [--paused]",
		Short: "Change one event's settings",
		Long: `Change the settings given as flags and keep the others; 0 (or --clear)
returns a setting to the configured value.`,
		Example: `  wrctl event set launch-2026 --capacity 500
  wrctl event set launch-2026 --paused
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
			for _, name := range []string{"capacity", "heartbeat-ttl", "waiting-ttl", "max-active", "max-waiting", "new-users-per-minute", "paused", "clear"} {
				changed = changed || f.Changed(name)
			}
			if !changed {
				return usagef("nothing to set: give --capacity, --heartbeat-ttl, --waiting-ttl, --max-active, --max-waiting, --new-users-per-minute, --paused or --clear")
			}
			a, err := adminClient(cmd)
			if err != nil {
				return err
			}
			cur, err := a.Event(cmd.Context(), id)
			if err != nil {
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
	fmt.Fprintln(tw, "EVENT\tCAPACITY\tNEW/MIN\tACTIVE\tWAITING\tHEARTBEAT TTL\tWAITING TTL\tMAX ACTIVE\tMAX WAITING\tPAUSED\tOVERRIDES")
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
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%v\t%s\n", ev.EventID, e.Capacity, perMinute, ev.Stats.Active, ev.Stats.Waiting,
			time.Duration(e.HeartbeatTTL), time.Duration(e.WaitingTTL), time.Duration(e.MaxActive), maxWaiting, e.Paused, cmp.Or(strings.Join(ev.Settings.Overrides(), ","), "-"))
	}
	return tw.Flush()
}
