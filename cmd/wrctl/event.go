package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
	"github.com/wrctl/wrctl/internal/room"
)

func newEventCmd(f *factory) *cobra.Command {
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
	cmd.AddCommand(newEventListCmd(f, nil), newEventGetCmd(f, nil), newEventSetCmd(f, nil))
	return cmd
}

// eventOptions are what every event command takes.
type eventOptions struct {
	adminOptions
	EventID string // get and set
}

// complete completes o from the command's flags and arguments (one EVENT
// unless list).
func (o *eventOptions) complete(cmd *cobra.Command, args []string, list bool) error {
	switch {
	case list && len(args) > 0:
		return noArgs(cmd, args)
	case !list && len(args) != 1:
		return usagef("%s takes one EVENT id, got %d arguments", cmd.CommandPath(), len(args))
	case !list:
		if err := room.ValidateID(args[0]); err != nil {
			return usagef("EVENT %q: %v", args[0], err)
		}
		o.EventID = args[0]
	}
	return o.clientOptions.complete(cmd, nil)
}

// bind adds the admin flags and --output with wide.
func (o *eventOptions) bind(cmd *cobra.Command) {
	o.adminOptions.bind(cmd)
	eventFormats(cmd)
}

// eventFormats adds wide to --output: every setting as a column.
func eventFormats(cmd *cobra.Command) {
	outputFormats(cmd, "text (fits 100 columns), wide (every setting) or json", printer.Text, printer.Wide, printer.JSON)
}

func newEventListCmd(f *factory, runF func(context.Context, *eventOptions) error) *cobra.Command {
	o := &eventOptions{adminOptions: adminOptions{clientOptions: clientOptions{IO: f}}}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List events with their counts and main settings",
		Example: "  wrctl event list\n  wrctl event list -o wide\n  wrctl event list --output json",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd, args, true); err != nil {
				return err
			}
			return runOr(runF, eventListRun)(cmd.Context(), o)
		},
	}
	o.bind(cmd)
	return cmd
}

func eventListRun(ctx context.Context, o *eventOptions) error {
	a, err := o.Admin()
	if err != nil {
		return err
	}
	evs, err := a.Events(ctx)
	if err != nil {
		return err
	}
	return printer.Events(o.IO.Out, o.Format, evs)
}

func newEventGetCmd(f *factory, runF func(context.Context, *eventOptions) error) *cobra.Command {
	o := &eventOptions{adminOptions: adminOptions{clientOptions: clientOptions{IO: f}}}
	cmd := &cobra.Command{
		Use:     "get EVENT",
		Short:   "Show one event's counts and every setting",
		Example: "  wrctl event get launch-2026\n  wrctl event get launch-2026 --output json",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd, args, false); err != nil {
				return err
			}
			return runOr(runF, eventGetRun)(cmd.Context(), o)
		},
	}
	o.bind(cmd)
	return cmd
}

func eventGetRun(ctx context.Context, o *eventOptions) error {
	a, err := o.Admin()
	if err != nil {
		return err
	}
	ev, err := a.Event(ctx, o.EventID)
	if err != nil {
		return err
	}
	return printer.Event(o.IO.Out, o.Format, ev)
}

// eventSetOptions are event set's input: the settings given as flags.
type eventSetOptions struct {
	eventOptions
	Given   room.Settings // the values of the flags given
	Changed []string      // the settings given, by name
	Clear   bool
}

// settingValue is a flag that parses a setting into Given, by room's table.
type settingValue struct {
	o   *eventSetOptions
	s   room.Setting
	raw string
}

func (v *settingValue) String() string { return v.raw }
func (v *settingValue) Type() string   { return string(v.s.Kind) }
func (v *settingValue) Set(text string) error {
	v.raw = text
	return v.s.Parse(&v.o.Given, text, v.o.IO.Now())
}

// IsBoolFlag lets a switch be given as --paused.
func (v *settingValue) IsBoolFlag() bool { return v.s.Kind == room.KindSwitch }

func newEventSetCmd(f *factory, runF func(context.Context, *eventSetOptions) error) *cobra.Command {
	o := &eventSetOptions{eventOptions: eventOptions{adminOptions: adminOptions{clientOptions: clientOptions{IO: f}}}}
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
			if err := o.complete(cmd, args, false); err != nil {
				return err
			}
			o.Changed = nil
			cmd.Flags().Visit(func(fl *pflag.Flag) {
				if s, ok := room.SettingNamed(fl.Name); ok {
					o.Changed = append(o.Changed, s.Name)
				}
			})
			if len(o.Changed) == 0 && !o.Clear {
				var names []string
				for _, s := range room.Table() {
					names = append(names, "--"+s.Flag)
				}
				return usagef("nothing to set: give %s or --clear", strings.Join(names, ", "))
			}
			return runOr(runF, eventSetRun)(cmd.Context(), o)
		},
	}
	for _, s := range room.Table() {
		usage := s.Doc + " (0 or none: the configured value)"
		switch s.Kind {
		case room.KindTime:
			usage = s.Doc + ": RFC 3339, +10m, now, or none (the configured value)"
		case room.KindSwitch:
			usage = s.Doc + fmt.Sprintf(" (--%s=false undoes it)", s.Flag)
		}
		fl := cmd.Flags().VarPF(&settingValue{o: o, s: s}, s.Flag, "", usage)
		if s.Kind == room.KindSwitch {
			fl.NoOptDefVal = "true"
		}
	}
	cmd.Flags().BoolVar(&o.Clear, "clear", false, "start from the configured values instead of the current settings")
	o.eventOptions.bind(cmd)
	return cmd
}

// eventSetRun reads the event's settings, changes the ones given and
// writes them back.
func eventSetRun(ctx context.Context, o *eventSetOptions) error {
	a, err := o.Admin()
	if err != nil {
		return err
	}
	cur, err := a.Event(ctx, o.EventID)
	if err != nil && !client.IsNotFound(err) { // a new event: no settings yet
		return err
	}
	s := cur.Settings
	if o.Clear {
		s = api.EventSettings{}
	}
	if s, err = s.Merge(o.Given, o.Changed...); err != nil {
		return err
	}
	ev, err := a.PutEvent(ctx, o.EventID, s)
	if err != nil {
		return err
	}
	return printer.Event(o.IO.Out, o.Format, ev)
}

// runOr is runF when a test gave one, else the command's run.
func runOr[O any](runF, run func(context.Context, *O) error) func(context.Context, *O) error {
	if runF != nil {
		return runF
	}
	return run
}
