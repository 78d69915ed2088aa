package main

import (
	"github.com/spf13/cobra"
)

func newJoinCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "join --event EVENT --user USER",
		Short: "Join an event's line",
		Long: `Join an event's line and print the session: its id, status and position.

Joining again as the same user while the session is WAITING or ACTIVE returns
that same session. With --wait, poll until admitted and print the session with
its access token.` + clientExitCodes,
		Example: `  wrctl join --event launch-2026 --user alice
  wrctl join --event launch-2026 --user alice --wait --timeout 10m --output json

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
			s, err := c.Join(cmd.Context(), event, user)
			if err != nil {
				return err
			}
			if wait, _ := cmd.Flags().GetBool("wait"); wait && s.Status != "ACTIVE" {
				return waitActive(cmd, c, s.SessionID, format)
			}
			return printSession(cmd.OutOrStdout(), format, s)
		},
	}
	cmd.Flags().String("event", "", "event id (required)")
	cmd.Flags().String("user", "", "user id (required)")
	clientFlags(cmd)
	waitFlags(cmd)
	return cmd
}
