package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
)

func newHeartbeatCmd() *cobra.Command {
	return sessionActionCmd(&cobra.Command{
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

// sessionActionCmd completes a command that does one thing to a session
// (heartbeat, leave) and confirms it.
func sessionActionCmd(cmd *cobra.Command, what string, action func(*client.Client, context.Context, string) error) *cobra.Command {
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, format, c, err := sessionCommand(cmd, args)
		if err != nil {
			return err
		}
		if err := action(c, cmd.Context(), id); err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if format == "json" {
			_, err = fmt.Fprintf(w, "{\"sessionId\":%q,\"%s\":true}\n", id, what)
			return err
		}
		_, err = fmt.Fprintf(w, "%s: ok (%s)\n", what, id)
		return err
	}
	clientFlags(cmd)
	return cmd
}
