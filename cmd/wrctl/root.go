package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/printer"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in `wrctl --help` and the README.
const (
	exitOK           = 0
	exitFailure      = 1   // the command ran and failed
	exitUsage        = 2   // bad flags, arguments or configuration: nothing was done
	exitNotFound     = 3   // no such session
	exitEnded        = 4   // the session has ended (LEFT or EXPIRED)
	exitTimeout      = 5   // --timeout passed before admission
	exitUnavailable  = 6   // the server could not be reached or answered 5xx
	exitInvalidToken = 7   // token verify: the token is not valid
	exitThreshold    = 8   // load: a --threshold was breached
	exitAdminOff     = 9   // event: the server's admin API is off
	exitAlreadyIn    = 10  // join: the user holds a place and this is not the first join's key
	exitBadAdmin     = 11  // the server refused the admin token
	exitInterrupted  = 130 // join/status --wait or load stopped with Ctrl-C (128 + SIGINT)
)

// usageError is an error in what the user asked for.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitCode maps an error to the documented exit code: the one place it is done.
func exitCode(err error) int {
	var (
		ue usageError
		te timeoutError
		ae *client.APIError
		ne *client.NetworkError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &te):
		return exitTimeout
	case errors.As(err, &interruptedError{}), errors.As(err, &loadInterruptedError{}):
		return exitInterrupted
	case errors.As(err, &thresholdError{}), errors.As(err, &auditError{}):
		return exitThreshold
	case errors.Is(err, client.ErrEnded):
		return exitEnded
	case errors.Is(err, accesstoken.ErrInvalid):
		return exitInvalidToken
	case errors.As(err, &ne):
		return exitUnavailable
	case errors.As(err, &ae):
		switch {
		case ae.Problem.Code == api.CodeAdminOff:
			return exitAdminOff
		case ae.Problem.Code == api.CodeAlreadyJoined:
			return exitAlreadyIn
		case ae.StatusCode == http.StatusNotFound:
			return exitNotFound
		case ae.StatusCode == http.StatusUnauthorized:
			return exitBadAdmin
		case ae.StatusCode == http.StatusConflict, ae.Problem.Code == api.CodeEventEnded, ae.Problem.Code == api.CodeEventRejected:
			return exitEnded
		case ae.Temporary():
			return exitUnavailable
		case ae.StatusCode == http.StatusBadRequest, ae.StatusCode == http.StatusRequestEntityTooLarge, ae.StatusCode == http.StatusUnsupportedMediaType:
			return exitUsage
		}
	}
	return exitFailure
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") {
		err = usageError{err} // cobra's own, for a mistyped command or a stray argument
	}
	if err != nil {
		fmt.Fprintln(stderr, "wrctl:", err)
		switch exitCode(err) {
		case exitUsage:
			fmt.Fprintln(stderr, "Run 'wrctl --help' or 'wrctl COMMAND --help' for usage.")
		case exitBadAdmin:
			fmt.Fprintln(stderr, "Check --admin-token (or WRCTL_ADMIN_TOKEN): it must be the server's admin.token.")
		case exitAlreadyIn:
			fmt.Fprintln(stderr, "To get that place back, join again with the first join's --idempotency-key (join prints it).")
		}
	}
	return exitCode(err)
}

const rootLong = `wrctl is a virtual waiting room on Amazon SQS.

When a ticket drop or a product launch draws far more people than a site can
serve, wrctl lets everyone join a line, admits them in the order they came
while never letting more than a set number in at once, and tells each one
where they stand.

Configuration comes from flags, then WRCTL_* environment variables (e.g.
WRCTL_ROOM_CAPACITY, WRCTL_QUEUE_URL), then the file given by --config, then
the built-in defaults.`

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	return newRootCmdWith(newFactory(stdout, stderr), &app.Settings{})
}

// newRootCmdWith is the command tree over f with serve's flags bound to s.
func newRootCmdWith(f *factory, s *app.Settings) *cobra.Command {
	root := &cobra.Command{
		Use:           "wrctl",
		Short:         "A virtual waiting room on Amazon SQS",
		Long:          rootLong + exitCodes(exitOK, exitFailure, exitUsage, exitNotFound, exitEnded, exitTimeout, exitUnavailable, exitInvalidToken, exitThreshold, exitAdminOff, exitAlreadyIn, exitBadAdmin, exitInterrupted),
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		Example: `  # Run the waiting room on the embedded memory queue and store
  wrctl serve

  # Create a FIFO queue with a dead-letter queue, then serve on it
  wrctl queue create --name wrctl-waiting.fifo
  wrctl serve --queue sqs --queue-name wrctl-waiting.fifo --capacity 500

  # Join from a script, wait to be admitted, print the access token
  wrctl join --event E1 --user U1 --wait --output json | jq -r .accessToken`,
	}
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	root.PersistentFlags().String("config", "", "configuration file (YAML); also WRCTL_CONFIG")
	root.SetFlagErrorFunc(flagError)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkEnv(cmd.Root()); err != nil {
			return err
		}
		return loadKeys(cmd)
	}
	root.AddCommand(newServeCmd(f, s, nil), newQueueCmd(f), newJoinCmd(f, nil), newStatusCmd(f, nil), newHeartbeatCmd(f, nil), newLeaveCmd(f, nil), newTokenCmd(f), newLoadCmd(f, nil), newTopCmd(f, nil), newEventCmd(f), newAuditCmd(f, nil), newVersionCmd(f))
	return root
}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// outputFlag adds --output to a command.
func outputFlag(fs *pflag.FlagSet) {
	fs.StringP("output", "o", "text", "output format: text or json")
}

// formatsAnnotation lists the formats a command's --output takes, when
// not text and json.
const formatsAnnotation = "wrctl_formats"

// outputFormats sets the formats --output takes, and says so in its usage.
func outputFormats(cmd *cobra.Command, usage string, formats ...string) {
	f := cmd.Flags().Lookup("output")
	f.Usage = "output format: " + usage
	cmd.Flags().SetAnnotation("output", formatsAnnotation, formats)
}

func outputFormat(cmd *cobra.Command) (string, error) {
	f := cmd.Flags().Lookup("output")
	formats := f.Annotations[formatsAnnotation]
	if formats == nil {
		formats = []string{printer.Text, printer.JSON}
	}
	if o := f.Value.String(); slices.Contains(formats, o) {
		return o, nil
	}
	return "", usagef("--output must be %s or %s, got %q", strings.Join(formats[:len(formats)-1], ", "), formats[len(formats)-1], f.Value.String())
}
