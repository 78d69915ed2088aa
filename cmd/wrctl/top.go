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
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/tui"
)

func newTopCmd() *cobra.Command {
	o := &topOptions{}
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runTop(cmd, o) },
	}
	g := flags{cmd: cmd}
	g.bind(&o.refresh, "refresh", "", "1s", fmt.Sprintf("refresh interval (at least %s)", tui.MinRefresh))
	g.bind(&o.once, "once", "", "", "print one snapshot and exit")
	g.bind(&o.queueURL, "queue-url", "queue.url", "", "SQS queue to watch")
	g.bind(&o.queueName, "queue-name", "queue.name", "", "SQS queue to watch, by name")
	o.aws.bind(cmd)
	adminFlags(cmd) // with the admin token, every event, unjoined drops too
	return cmd
}

// topOptions are top's own flags.
type topOptions struct {
	refresh             time.Duration
	once                bool
	queueURL, queueName string
	aws                 awsOptions
}

// topSource is where top reads the events: the public list, or with the
// admin token (--admin-token, WRCTL_ADMIN_TOKEN) every event the server
// knows, so a scheduled drop shows on the wall before its first join.
func topSource(cmd *cobra.Command) (tui.Source, string, error) {
	c, err := newClient(cmd)
	if err != nil {
		return nil, "", err
	}
	if token, _ := cmd.Flags().GetString("admin-token"); token != "" {
		return everyEvent{c.Admin(token)}, c.BaseURL(), nil
	}
	return c, c.BaseURL(), nil
}

// everyEvent reads the operator's list of events through the admin token.
type everyEvent struct{ a *client.AdminClient }

func (e everyEvent) Events(ctx context.Context) (api.EventList, error) { return e.a.EventStats(ctx) }

func runTop(cmd *cobra.Command, o *topOptions) error {
	format, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	refresh, once := o.refresh, o.once
	if refresh < tui.MinRefresh {
		return usagef("--refresh must be at least %s, got %s", tui.MinRefresh, refresh)
	}
	if format == "json" && !once {
		return usagef("--output json needs --once")
	}
	src, base, err := topSource(cmd)
	if err != nil {
		return err
	}
	qsrc, err := topQueue(cmd, o)
	if err != nil {
		return err
	}
	if os.Getenv("NO_COLOR") != "" || once {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	if once {
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		defer cancel()
		snap, err := tui.Read(ctx, base, src, qsrc)
		if err != nil {
			return err
		}
		if format == "json" {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(snap)
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), snap.Text(120))
		return err
	}
	if !isTerminal(cmd.OutOrStdout()) {
		return usagef("wrctl top draws on a terminal; for scripts and logs use --once (with --output json)")
	}
	m := tui.New(tui.Config{Server: base, Refresh: refresh}, src, qsrc)
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(cmd.Context()),
		tea.WithOutput(cmd.OutOrStdout()), tea.WithInput(cmd.InOrStdin()))
	_, err = p.Run()
	if err == tea.ErrProgramKilled {
		return nil
	}
	return err
}

// topQueue opens the queue to watch, or returns nil when none was named.
func topQueue(cmd *cobra.Command, o *topOptions) (tui.QueueSource, error) {
	url, name := o.queueURL, o.queueName
	if url == "" && name == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
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
