package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
)

// clientExitCodes ends the help of every client command.
const clientExitCodes = `

Exit codes:
  0  success (with --wait: admitted)
  1  another failure
  2  usage error: a bad flag or argument
  3  no such session
  4  the session has ended (LEFT or EXPIRED)
  5  --timeout passed before admission
  6  the server could not be reached or answered 5xx
  7  the access token is invalid (token verify)`

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status SESSION_ID",
		Short: "Show where a session stands",
		Long: `Show a session: its status, position and estimated wait, or its access
token once ACTIVE. A status poll keeps a WAITING session alive.

With --wait, poll (following the server's Retry-After) until the session is
ACTIVE, showing position and estimated wait on stderr, then print it.
Exits 4 if the session has ended.` + clientExitCodes,
		Example: `  wrctl status 7415cbf882bc1c7a142d5b8504e6f0c2
  wrctl status 7415cbf882bc1c7a142d5b8504e6f0c2 --wait --timeout 30m --output json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, format, c, err := sessionCommand(cmd, args)
			if err != nil {
				return err
			}
			if wait, _ := cmd.Flags().GetBool("wait"); wait {
				return waitActive(cmd, c, id, format)
			}
			s, _, err := c.Status(cmd.Context(), id)
			if err != nil {
				return err
			}
			if err := printSession(cmd.OutOrStdout(), format, s); err != nil {
				return err
			}
			if s.Ended() {
				return fmt.Errorf("%w: %s (%s)", client.ErrEnded, s.Status, s.EndReason)
			}
			return nil
		},
	}
	clientFlags(cmd)
	waitFlags(cmd)
	return cmd
}

// timeoutError is a --wait that ran out of time.
type timeoutError struct{ after string }

func (e timeoutError) Error() string { return "not admitted within --timeout " + e.after }

// waitActive polls until the session is ACTIVE and prints it.
func waitActive(cmd *cobra.Command, c *client.Client, id, format string) error {
	ctx := cmd.Context()
	timeout, _ := cmd.Flags().GetDuration("timeout")
	if timeout < 0 {
		return usagef("--timeout must not be negative, got %s", timeout)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	interval, _ := cmd.Flags().GetDuration("poll-interval")
	if interval < 0 {
		return usagef("--poll-interval must not be negative, got %s", interval)
	}
	p := newProgress(cmd.ErrOrStderr())
	s, err := c.Wait(ctx, id, client.WaitOptions{PollInterval: interval, Progress: p.update})
	p.done()
	switch {
	case errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil:
		return timeoutError{timeout.String()}
	case errors.Is(err, client.ErrEnded):
		if perr := printSession(cmd.OutOrStdout(), format, s); perr != nil {
			return perr
		}
		return err
	case err != nil:
		return err
	}
	return printSession(cmd.OutOrStdout(), format, s)
}
