package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
)

func newLeaveCmd(f *factory, runF func(context.Context, *sessionActionOptions) error) *cobra.Command {
	return sessionActionCmd(f, runF, &cobra.Command{
		Use:   "leave SESSION_ID",
		Short: "Leave the line or give up a place inside",
		Long: `End a session at once: a WAITING user leaves the line, an ACTIVE one frees
the place for the next in line. Leaving twice is fine.` + exitCodes(exitOK, exitFailure, exitUsage, exitNotFound, exitUnavailable),
		Example: `  wrctl leave 7415cbf882bc1c7a142d5b8504e6f0c2`,
	}, "left", (*client.Client).Leave)
}
