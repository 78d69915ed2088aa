package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
)

func newHeartbeatCmd(f *factory, runF func(context.Context, *sessionActionOptions) error) *cobra.Command {
	return sessionActionCmd(f, runF, &cobra.Command{
		Use:   "heartbeat SESSION_ID",
		Short: "Keep a session alive",
		Long: `Tell the waiting room the user is still there. An ACTIVE session that does not
heartbeat within the room's heartbeat TTL expires and frees its place; a
heartbeat also renews the access token's expiry. Exits 4 if the session has
ended.` + exitCodes(exitOK, exitFailure, exitUsage, exitNotFound, exitEnded, exitUnavailable),
		Example: `  wrctl heartbeat 7415cbf882bc1c7a142d5b8504e6f0c2
  while wrctl heartbeat "$id"; do sleep 10; done`,
	}, "heartbeat", (*client.Client).Heartbeat)
}

// sessionActionOptions are the input of a command that does one thing to
// a session (heartbeat, leave).
type sessionActionOptions struct {
	clientOptions
	SessionID string
	// What names the action in the output; Action does it.
	What   string
	Action func(*client.Client, context.Context, string) error
}

// sessionActionCmd completes a command that does one thing to a session
// and confirms it.
func sessionActionCmd(f *factory, runF func(context.Context, *sessionActionOptions) error, cmd *cobra.Command, what string, action func(*client.Client, context.Context, string) error) *cobra.Command {
	o := &sessionActionOptions{clientOptions: clientOptions{IO: f}, What: what, Action: action}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var err error
		if o.SessionID, err = sessionArg(cmd, args); err != nil {
			return err
		}
		if err := o.complete(cmd, nil); err != nil {
			return err
		}
		return runOr(runF, sessionActionRun)(cmd.Context(), o)
	}
	o.clientOptions.bind(cmd)
	return cmd
}

func sessionActionRun(ctx context.Context, o *sessionActionOptions) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	if err := o.Action(c, ctx, o.SessionID); err != nil {
		return err
	}
	if o.Format == printer.JSON {
		_, err = fmt.Fprintf(o.IO.Out, "{\"sessionId\":%q,\"%s\":true}\n", o.SessionID, o.What)
		return err
	}
	_, err = fmt.Fprintf(o.IO.Out, "%s: ok (%s)\n", o.What, o.SessionID)
	return err
}
