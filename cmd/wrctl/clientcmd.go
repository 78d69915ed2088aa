package main

import (
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
	"github.com/wrctl/wrctl/internal/room"
)

// clientFlags adds the flags every client command shares.
func clientFlags(cmd *cobra.Command) {
	cmd.Flags().String("server", "http://localhost:8080", "waiting room URL (client.server, WRCTL_SERVER)")
	keyFlag(cmd, "server", "client.server")
	outputFlag(cmd.Flags())
}

// waitOptions are the --wait flags of join and status.
type waitOptions struct {
	wait                  bool
	timeout, pollInterval time.Duration
}

func (o *waitOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	outputFormats(cmd, "text, json, or token (only the access token, for $(...))", printer.Text, printer.JSON, printer.Token)
	f.BoolVar(&o.wait, "wait", false, "poll until the session is ACTIVE (keeps it alive while waiting)")
	f.DurationVar(&o.timeout, "timeout", 0, "with --wait: give up after this long (exit 5); 0 waits for ever")
	f.DurationVar(&o.pollInterval, "poll-interval", 0, "with --wait: poll this often instead of following the server's Retry-After")
}

// newClient builds the API client from --server / WRCTL_SERVER / config.
func newClient(cmd *cobra.Command) (*client.Client, error) {
	return newClientWith(cmd, nil)
}

// newClientWith is newClient over a given HTTP client (nil: the default).
func newClientWith(cmd *cobra.Command, hc *http.Client) (*client.Client, error) {
	server, _ := cmd.Flags().GetString("server") // client.server, by loadKeys
	c, err := client.New(server, hc)
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

// sessionArg reads the SESSION_ID argument.
func sessionArg(cmd *cobra.Command, args []string) (string, error) {
	if len(args) != 1 {
		return "", usagef("%s takes one SESSION_ID, got %d arguments", cmd.CommandPath(), len(args))
	}
	if !room.ValidSessionID(args[0]) {
		return "", usagef("SESSION_ID %q: want the 32 hex characters 'wrctl join' printed", args[0])
	}
	return args[0], nil
}

// sessionCommand reads what every command on one session needs: the
// SESSION_ID argument, the output format and the client.
func sessionCommand(cmd *cobra.Command, args []string) (id, format string, c *client.Client, err error) {
	if id, err = sessionArg(cmd, args); err != nil {
		return
	}
	if format, err = outputFormat(cmd); err != nil {
		return
	}
	c, err = newClient(cmd)
	return
}

// idFlag reads and checks an --event or --user flag.
func idFlag(cmd *cobra.Command, name string) (string, error) {
	v, _ := cmd.Flags().GetString(name)
	if v == "" {
		return "", usagef("--%s is required", name)
	}
	if err := room.ValidateID(v); err != nil {
		return "", usagef("--%s %q: %v", name, v, err)
	}
	return v, nil
}
