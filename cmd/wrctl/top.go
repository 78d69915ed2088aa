package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/tui"
)

func newTopCmd(f *factory, runF func(context.Context, *topOptions) error) *cobra.Command {
	o := &topOptions{adminOptions: adminOptions{clientOptions: clientOptions{IO: f}}}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "A live dashboard of the room: per-event line, admissions and the queue",
		Long: `A live terminal dashboard for the screen on the wall during an on-sale.

Per event: capacity, active (with a gauge against capacity), waiting,
admissions and joins per second (from the change between refreshes), the
estimated wait for a newcomer, and sparklines of waiting and active. With
--queue-url (or --queue-name) it also shows the SQS queue's and its DLQ's
approximate visible, in-flight and delayed messages.

Keys: q quit, p pause, s/S sort column and direction, / filter events,
? help. The footer says when data is stale or the server or queue cannot be
reached; top keeps running and retries. NO_COLOR turns colours off.

With the admin token (--admin-token, WRCTL_ADMIN_TOKEN) it lists every
event the server knows, a scheduled drop nobody has joined yet included;
without it, the events people have joined and the public ones.

--once prints one snapshot (text, or --output json) and exits: for scripts
and CI logs.` + exitCodes(exitOK, exitFailure, exitUsage, exitUnavailable, exitBadAdmin),
		Example: `  wrctl top
  wrctl top --server https://room.example.com --queue-name wrctl-waiting.fifo --refresh 2s
  wrctl top --once --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd, nil); err != nil {
				return err
			}
			switch {
			case o.refresh < tui.MinRefresh:
				return usagef("--refresh must be at least %s, got %s", tui.MinRefresh, o.refresh)
			case o.Format == printer.JSON && !o.once:
				return usagef("--output json needs --once")
			}
			return runOr(runF, topRun)(cmd.Context(), o)
		},
	}
	g := flags{cmd: cmd}
	g.bind(&o.refresh, "refresh", "", "1s", fmt.Sprintf("refresh interval (at least %s)", tui.MinRefresh))
	g.bind(&o.once, "once", "", "", "print one snapshot and exit")
	g.bind(&o.queueURL, "queue-url", "queue.url", "", "SQS queue to watch")
	g.bind(&o.queueName, "queue-name", "queue.name", "", "SQS queue to watch, by name")
	o.aws.bind(cmd)
	o.adminOptions.bind(cmd) // with the admin token, every event, unjoined drops too
	return cmd
}

// topOptions are top's input.
type topOptions struct {
	adminOptions
	refresh             time.Duration
	once                bool
	queueURL, queueName string
	aws                 awsOptions
}

// topSource is where top reads the events: the public list, or with the
// admin token (--admin-token, WRCTL_ADMIN_TOKEN) every event the server
// knows, so a scheduled drop shows on the wall before its first join.
func topSource(o *topOptions) (tui.Source, string, error) {
	c, err := o.Client()
	if err != nil {
		return nil, "", err
	}
	if o.AdminToken != "" {
		return everyEvent{c.Admin(o.AdminToken)}, c.BaseURL(), nil
	}
	return c, c.BaseURL(), nil
}

// everyEvent reads the operator's list of events through the admin token.
type everyEvent struct{ a *client.AdminClient }

func (e everyEvent) Events(ctx context.Context) (api.EventList, error) { return e.a.EventStats(ctx) }

// topRun draws the dashboard, or prints one snapshot.
func topRun(ctx context.Context, o *topOptions) error {
	src, base, err := topSource(o)
	if err != nil {
		return err
	}
	qsrc, err := topQueue(ctx, o)
	if err != nil {
		return err
	}
	if os.Getenv("NO_COLOR") != "" || o.once {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	if o.once {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		snap, err := tui.Read(ctx, base, src, qsrc)
		if err != nil {
			return err
		}
		if o.Format == printer.JSON {
			enc := json.NewEncoder(o.IO.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(snap)
		}
		_, err = fmt.Fprintln(o.IO.Out, snap.Text(120))
		return err
	}
	if !isTerminal(o.IO.Out) {
		return usagef("wrctl top draws on a terminal; for scripts and logs use --once (with --output json)")
	}
	m := tui.New(tui.Config{Server: base, Refresh: o.refresh}, src, qsrc)
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithOutput(o.IO.Out), tea.WithInput(o.IO.In))
	_, err = p.Run()
	if err == tea.ErrProgramKilled {
		return nil
	}
	return err
}

// topQueue opens the queue to watch, or returns nil when none was named.
func topQueue(ctx context.Context, o *topOptions) (tui.QueueSource, error) {
	url, name := o.queueURL, o.queueName
	if url == "" && name == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := sqsqueue.NewClient(ctx, o.aws.clientConfig(url))
	if err != nil {
		return nil, err
	}
	if url == "" {
		if url, err = sqsqueue.ResolveURL(ctx, client, name); err != nil {
			return nil, fmt.Errorf("--queue-name %s: %w", name, err)
		}
	}
	q := sqsqueue.New(client, url)
	return queueDepths(func(ctx context.Context) (tui.QueueDepths, error) {
		d, err := q.Depths(ctx)
		out := tui.QueueDepths{Queue: tui.Depth(d.Queue)}
		if d.DLQ != nil {
			dlq := tui.Depth(*d.DLQ)
			out.DLQ = &dlq
		}
		return out, err
	}), nil
}

// queueDepths adapts a function to tui.QueueSource.
type queueDepths func(ctx context.Context) (tui.QueueDepths, error)

func (f queueDepths) Depths(ctx context.Context) (tui.QueueDepths, error) { return f(ctx) }
