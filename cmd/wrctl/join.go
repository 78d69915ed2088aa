package main

import (
	"cmp"
	"context"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
)

// joinOptions are join's input.
type joinOptions struct {
	clientOptions
	Event, User, Key string
	Wait             waitOptions
}

func newJoinCmd(f *factory, runF func(context.Context, *joinOptions) error) *cobra.Command {
	o := &joinOptions{clientOptions: clientOptions{IO: f}}
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
			if err := o.complete(cmd, nil); err != nil {
				return err
			}
			for name, v := range map[string]string{"event": o.Event, "user": o.User} {
				if err := idFlag(name, v); err != nil {
					return err
				}
			}
			if len(o.Key) > 255 {
				return usagef("--idempotency-key: at most 255 characters, got %d", len(o.Key))
			}
			if err := o.Wait.check(); err != nil {
				return err
			}
			return runOr(runF, joinRun)(cmd.Context(), o)
		},
	}
	g := flags{cmd: cmd}
	g.bind(&o.Event, "event", "", "", "event id (required)")
	g.bind(&o.User, "user", "", "", "user id (required)")
	g.bind(&o.Key, "idempotency-key", "", "", "key that proves this client made the join (default: a random one); send the same key to get the same place back")
	o.clientOptions.bind(cmd)
	o.Wait.bind(cmd)
	return cmd
}

// joinRun joins, retrying with the same key, and waits when asked.
func joinRun(ctx context.Context, o *joinOptions) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	key := cmp.Or(o.Key, client.NewIdempotencyKey())
	// Three tries, or as many as fit in --timeout.
	jctx, tries := ctx, 3
	if o.Wait.Timeout > 0 {
		var cancel context.CancelFunc
		jctx, cancel = context.WithTimeout(ctx, o.Wait.Timeout)
		defer cancel()
		tries = 0
	}
	s, err := c.JoinRetrying(jctx, o.Event, o.User, key, tries)
	if err != nil {
		return err
	}
	if o.Wait.Wait && s.Status != "ACTIVE" {
		return waitActive(ctx, o.IO, c, s.SessionID, o.Format, key, &o.Wait)
	}
	return printer.Session(o.IO.Out, o.Format, s, key)
}
