package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
)

// joinWithRetry joins, retrying a network error or 503 with the same key
// (so a join that reached the server is not made twice): until --timeout,
// or three tries without one.
func joinWithRetry(cmd *cobra.Command, c *client.Client, event, user, key string, timeout time.Duration) (api.Session, error) {
	ctx := cmd.Context()
	tries := 3
	if d := timeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
		tries = -1
	}
	for try := 1; ; try++ {
		s, err := c.Join(ctx, event, user, key)
		var ae *client.APIError
		var ne *client.NetworkError
		retry := time.Second
		switch {
		case err == nil:
			return s, nil
		case errors.As(err, &ae) && ae.StatusCode == 503:
			retry = max(ae.RetryAfter, retry)
		case errors.As(err, &ne):
		default:
			return s, err
		}
		if try == tries {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, err
		case <-time.After(retry):
		}
	}
}

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
access token.` + exitCodes(exitOK, exitFailure, exitUsage, exitNotFound, exitEnded, exitTimeout, exitUnavailable, exitInterrupted),
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
			s, err := joinWithRetry(cmd, c, event, user, key, o.wait.timeout)
			if err != nil {
				return err
			}
			if o.wait.wait && s.Status != "ACTIVE" {
				return waitActive(cmd, c, s.SessionID, format, &o.wait)
			}
			return printSession(cmd.OutOrStdout(), format, s)
		},
	}
	cmd.Flags().String("event", "", "event id (required)")
	cmd.Flags().String("user", "", "user id (required)")
	cmd.Flags().StringVar(&o.key, "idempotency-key", "", "key that proves this client made the join (default: a random one); send the same key to get the same place back")
	clientFlags(cmd)
	o.wait.bind(cmd)
	return cmd
}
