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
	exitThreshold:    "load: a threshold failed (an operator's or a default check)",
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

func newStatusCmd() *cobra.Command {
	wo := &waitOptions{}
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
			id, format, c, err := sessionCommand(cmd, args)
			if err != nil {
				return err
			}
			if wo.wait {
				return waitActive(cmd, c, id, format, "", wo)
			}
			s, _, err := c.Status(cmd.Context(), id)
			if err != nil {
				return err
			}
			if err := printer.Session(cmd.OutOrStdout(), format, s, ""); err != nil {
				return err
			}
			if s.Ended() {
				return fmt.Errorf("%w: %s (%s)", client.ErrEnded, s.Status, s.EndReason)
			}
			return nil
		},
	}
	clientFlags(cmd)
	wo.bind(cmd)
	return cmd
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

// waitActive polls until the session is ACTIVE and prints it.
func waitActive(cmd *cobra.Command, c *client.Client, id, format, key string, o *waitOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	// The id first, so a user who stops waiting can resume or leave.
	fmt.Fprintf(cmd.ErrOrStderr(), "session %s: waiting (Ctrl-C stops waiting; 'wrctl leave %s' gives the place up)\n", id, id)
	timeout := o.timeout
	if timeout < 0 {
		return usagef("--timeout must not be negative, got %s", timeout)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	interval := o.pollInterval
	if interval < 0 {
		return usagef("--poll-interval must not be negative, got %s", interval)
	}
	p := printer.NewProgress(cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()))
	s, err := c.Wait(ctx, id, client.WaitOptions{PollInterval: interval, Progress: p.Update})
	p.Done()
	switch {
	case errors.Is(err, context.Canceled) && cmd.Context().Err() == nil:
		return interruptedError{id}
	case errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil:
		return timeoutError{timeout.String(), id}
	case errors.Is(err, client.ErrEnded):
		if perr := printer.Session(cmd.OutOrStdout(), format, s, key); perr != nil {
			return perr
		}
		return err
	case err != nil:
		return err
	}
	return printer.Session(cmd.OutOrStdout(), format, s, key)
}
