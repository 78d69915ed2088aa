package main

import (
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
	"github.com/wrctl/wrctl/internal/room"
)

// clientOptions are what every command that calls the API takes.
type clientOptions struct {
	IO     *factory
	Server string // --server: client.server, WRCTL_SERVER
	Format string // --output
	// Client builds the API client (a test may give its own).
	Client func() (*client.Client, error)
	hc     *http.Client
}

// bind adds --server and --output.
func (o *clientOptions) bind(cmd *cobra.Command) {
	flags{cmd: cmd}.bind(&o.Server, "server", "client.server", "http://localhost:8080", "waiting room URL (client.server, WRCTL_SERVER)")
	cmd.Flags().StringVarP(&o.Format, "output", "o", printer.Text, "output format: text or json")
}

// complete checks --output and sets the client builder, over hc (nil: the
// default HTTP client).
func (o *clientOptions) complete(cmd *cobra.Command, hc *http.Client) error {
	format, err := outputFormat(cmd)
	o.Format, o.hc = format, hc
	o.Client = o.client
	return err
}

// client builds the API client from --server.
func (o *clientOptions) client() (*client.Client, error) {
	c, err := client.New(o.Server, o.hc)
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

// adminOptions are what every command that calls the admin API takes.
type adminOptions struct {
	clientOptions
	AdminToken string // --admin-token: admin.token, WRCTL_ADMIN_TOKEN
}

func (o *adminOptions) bind(cmd *cobra.Command) {
	flags{cmd: cmd}.bind(&o.AdminToken, "admin-token", "admin.token", "", "admin API bearer token (admin.token, WRCTL_ADMIN_TOKEN)")
	o.clientOptions.bind(cmd)
}

// Admin builds the admin API client; the token is required.
func (o *adminOptions) Admin() (*client.AdminClient, error) {
	if o.AdminToken == "" {
		return nil, usagef("--admin-token (or WRCTL_ADMIN_TOKEN) is required")
	}
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	return c.Admin(o.AdminToken), nil
}

// waitOptions are the --wait flags of join and status.
type waitOptions struct {
	Wait                  bool
	Timeout, PollInterval time.Duration
}

func (o *waitOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	outputFormats(cmd, "text, json, or token (only the access token, for $(...))", printer.Text, printer.JSON, printer.Token)
	f.BoolVar(&o.Wait, "wait", false, "poll until the session is ACTIVE (keeps it alive while waiting)")
	f.DurationVar(&o.Timeout, "timeout", 0, "with --wait: give up after this long (exit 5); 0 waits for ever")
	f.DurationVar(&o.PollInterval, "poll-interval", 0, "with --wait: poll this often instead of following the server's Retry-After")
}

// check refuses negative durations.
func (o *waitOptions) check() error {
	switch {
	case o.Timeout < 0:
		return usagef("--timeout must not be negative, got %s", o.Timeout)
	case o.PollInterval < 0:
		return usagef("--poll-interval must not be negative, got %s", o.PollInterval)
	}
	return nil
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

// idFlag checks an --event or --user value.
func idFlag(name, v string) error {
	if v == "" {
		return usagef("--%s is required", name)
	}
	if err := room.ValidateID(v); err != nil {
		return usagef("--%s %q: %v", name, v, err)
	}
	return nil
}
