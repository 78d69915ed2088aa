package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
)

// exitMeanings describe the exit codes for the commands' help.
var exitMeanings = map[int]string{
	exitOK:           "success (join and status with --wait: admitted)",
	exitFailure:      "another failure (e.g. serve could not reach its queue)",
	exitUsage:        "usage error: a bad flag, argument or configuration value; nothing was done",
	exitNotFound:     "no such session (event get: no such event)",
	exitEnded:        "the session has ended (LEFT or EXPIRED), or the event takes no joins (ended, or sold out under reject)",
	exitTimeout:      "--timeout passed before admission",
	exitUnavailable:  "the server could not be reached or answered 5xx",
	exitInvalidToken: "the access token is invalid",
	exitThreshold:    "load: a threshold failed (an operator's or a default check); audit: the log is broken or shows a rule broken",
	exitAdminOff:     "the server's admin API is off (start serve with --admin-token)",
	exitAlreadyIn:    "join: the user already holds a place, and this is not the first join's --idempotency-key",
	exitBadAdmin:     "the server refused the admin token (check --admin-token or WRCTL_ADMIN_TOKEN)",
	exitInterrupted:  "stopped with Ctrl-C (--wait: the place is kept, resume with status --wait; load: the report is partial)",
}

// exitCodes ends a command's help with the exit codes it can return.
func exitCodes(codes ...int) string {
	var b strings.Builder
	b.WriteString("\n\nExit codes:")
	for _, c := range codes {
		fmt.Fprintf(&b, "\n  %d  %s", c, exitMeanings[c])
	}
	return b.String()
}

// statusOptions are status's input.
type statusOptions struct {
	clientOptions
	SessionID string
	Wait      waitOptions
}

func newStatusCmd(f *factory, runF func(context.Context, *statusOptions) error) *cobra.Command {
	o := &statusOptions{clientOptions: clientOptions{IO: f}}
	cmd := &cobra.Command{
		Use:   "status SESSION_ID",
		Short: "Show where a session stands",
		Long: `Show a session: its status, position and estimated wait, or its access
token once ACTIVE. A status poll keeps a WAITING session alive.

With --wait, poll (following the server's Retry-After) until the session is
ACTIVE, showing position and estimated wait on stderr, then print it.
Exits 4 if the session has ended.` + exitCodes(exitOK, exitFailure, exitUsage, exitNotFound, exitEnded, exitTimeout, exitUnavailable, exitInterrupted),
		Example: `  wrctl status 7415cbf882bc1c7a142d5b8504e6f0c2
  wrctl status 7415cbf882bc1c7a142d5b8504e6f0c2 --wait --timeout 30m --output json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.SessionID, err = sessionArg(cmd, args); err != nil {
				return err
			}
			if err := o.complete(cmd, nil); err != nil {
				return err
			}
			if err := o.Wait.check(); err != nil {
				return err
			}
			return runOr(runF, statusRun)(cmd.Context(), o)
		},
	}
	o.clientOptions.bind(cmd)
	o.Wait.bind(cmd)
	return cmd
}

// statusRun shows the session, or waits for its admission.
func statusRun(ctx context.Context, o *statusOptions) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	if o.Wait.Wait {
		return waitActive(ctx, o.IO, c, o.SessionID, o.Format, "", &o.Wait)
	}
	s, _, err := c.Status(ctx, o.SessionID)
	if err != nil {
		return err
	}
	if err := printer.Session(o.IO.Out, o.Format, s, ""); err != nil {
		return err
	}
	if s.Ended() {
		return fmt.Errorf("%w: %s (%s)", client.ErrEnded, s.Status, s.EndReason)
	}
	return nil
}

// timeoutError is a --wait that ran out of time.
type timeoutError struct{ after, id string }

func (e timeoutError) Error() string {
	return "not admitted within --timeout " + e.after + "; " + resumeHint(e.id)
}

// interruptedError is a wait stopped with Ctrl-C.
type interruptedError struct{ id string }

func (e interruptedError) Error() string { return "interrupted; " + resumeHint(e.id) }

// resumeHint tells a user who stopped waiting how to go on, or give up.
func resumeHint(id string) string {
	return "the session keeps its place while it is polled within the waiting TTL: resume with 'wrctl status " + id +
		" --wait', or give the place up with 'wrctl leave " + id + "'"
}

// waitActive polls until the session is ACTIVE and prints it: ctx is the
// command's, and Ctrl-C or --timeout end the wait, not the session.
func waitActive(ctx context.Context, io *factory, c *client.Client, id, format, key string, o *waitOptions) error {
	wctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	// The id first, so a user who stops waiting can resume or leave.
	fmt.Fprintf(io.ErrOut, "session %s: waiting (Ctrl-C stops waiting; 'wrctl leave %s' gives the place up)\n", id, id)
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(wctx, o.Timeout)
		defer cancel()
	}
	p := printer.NewProgress(io.ErrOut, isTerminal(io.ErrOut))
	s, err := c.Wait(wctx, id, client.WaitOptions{PollInterval: o.PollInterval, Progress: p.Update})
	p.Done()
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() == nil:
		return interruptedError{id}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return timeoutError{o.Timeout.String(), id}
	case errors.Is(err, client.ErrEnded):
		if perr := printer.Session(io.Out, format, s, key); perr != nil {
			return perr
		}
		return err
	case err != nil:
		return err
	}
	return printer.Session(io.Out, format, s, key)
}
