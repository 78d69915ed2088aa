package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
)

// joinOptions are join's flags beyond the event and user.
type joinOptions struct {
	key  string
	wait waitOptions
}

func newJoinCmd() *cobra.Command {
	o := &joinOptions{}
	cmd := &cobra.Command{
		Use:   "join --event EVENT --user USER",
		Short: "Join an event's line",
		Long: `Join an event's line and print the session: its id, status and position.

A join sends an Idempotency-Key (--idempotency-key, or a random one): joining
again as the same user while the session is WAITING or ACTIVE returns that same
session only with the same key; without it the server answers 409
already_joined and the place stays with whoever holds the key. A join that
fails with a network error or 503 is retried with the same key until
--timeout. With --wait, poll until admitted and print the session with its
access token. The session's output names the key it was joined with
(idempotencyKey in JSON): keep it to get the place back.` + exitCodes(exitOK, exitFailure, exitUsage, exitNotFound, exitEnded, exitTimeout, exitUnavailable, exitAlreadyIn, exitInterrupted),
		Example: `  wrctl join --event launch-2026 --user alice
  wrctl join --event launch-2026 --user alice --wait --timeout 10m --output json
  wrctl join --event launch-2026 --user alice --idempotency-key "$KEY"   # get the same place back

  # In a script: join, wait, then use the token
  token=$(wrctl join --event E1 --user U1 --wait --output json | jq -r .accessToken)
  curl -H "Authorization: Bearer $token" https://shop.example.com/checkout`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			event, err := idFlag(cmd, "event")
			if err != nil {
				return err
			}
			user, err := idFlag(cmd, "user")
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			key := o.key
			if key == "" {
				key = client.NewIdempotencyKey()
			} else if len(key) > 255 {
				return usagef("--idempotency-key: at most 255 characters, got %d", len(key))
			}
			// Three tries, or as many as fit in --timeout.
			ctx, tries := cmd.Context(), 3
			if o.wait.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.wait.timeout)
				defer cancel()
				tries = 0
			}
			s, err := c.JoinRetrying(ctx, event, user, key, tries)
			if err != nil {
				return err
			}
			if o.wait.wait && s.Status != "ACTIVE" {
				return waitActive(cmd, c, s.SessionID, format, key, &o.wait)
			}
			return printer.Session(cmd.OutOrStdout(), format, s, key)
		},
	}
	cmd.Flags().String("event", "", "event id (required)")
	cmd.Flags().String("user", "", "user id (required)")
	cmd.Flags().StringVar(&o.key, "idempotency-key", "", "key that proves this client made the join (default: a random one); send the same key to get the same place back")
	clientFlags(cmd)
	o.wait.bind(cmd)
	return cmd
}
