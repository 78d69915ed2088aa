package main

import (
	"github.com/spf13/cobra"
)

func newLeaveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leave SESSION_ID",
		Short: "Leave the line or give up a place inside",
		Long: `End a session at once: a WAITING user leaves the line, an ACTIVE one frees
the place for the next in line. Leaving twice is fine.` + clientExitCodes,
		Example: `  wrctl leave 7415cbf882bc1c7a142d5b8504e6f0c2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := sessionArg(cmd, args)
			if err != nil {
				return err
			}
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if err := c.Leave(cmd.Context(), id); err != nil {
				return err
			}
			return printAck(cmd, format, id, "left")
		},
	}
	clientFlags(cmd)
	return cmd
}
