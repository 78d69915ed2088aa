package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/printer"
)

func newVersionCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print wrctl's version",
		Example: "  wrctl version\n  wrctl version --output json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			w := f.Out
			if format == printer.JSON {
				return json.NewEncoder(w).Encode(map[string]string{"version": version, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH})
			}
			_, err = fmt.Fprintf(w, "wrctl %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
	outputFlag(cmd.Flags())
	return cmd
}
