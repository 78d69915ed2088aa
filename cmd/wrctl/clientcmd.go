package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
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
	f.Lookup("output").Usage = "output format: text, json, or token (only the access token, for $(...))"
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
	v, err := newViper(cmd)
	if err != nil {
		return nil, err
	}
	c, err := client.New(v.GetString("client.server"), hc)
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

// printSession writes a session as text, JSON, or only its access token.
func printSession(w io.Writer, format string, s api.Session) error {
	return printJoined(w, format, s, "")
}

// printJoined prints a session with the Idempotency-Key its join sent
// (none: not shown), so a script or a person can get the place back.
func printJoined(w io.Writer, format string, s api.Session, key string) error {
	switch format {
	case "json":
		return json.NewEncoder(w).Encode(struct {
			api.Session
			IdempotencyKey string `json:"idempotencyKey,omitempty"`
		}{s, key})
	case "token":
		if s.AccessToken == "" {
			return fmt.Errorf("session %s is %s: no access token (use --wait)", s.SessionID, s.Status)
		}
		_, err := fmt.Fprintln(w, s.AccessToken)
		return err
	}
	rows := [][2]string{{"session", s.SessionID}, {"event", s.EventID}, {"user", s.UserID}}
	if key != "" {
		rows = append(rows, [2]string{"key", key + "  (join again with --idempotency-key " + key + " to get this place back)"})
	}
	rows = append(rows, [2]string{"status", s.Status})
	if s.Position != nil {
		rows = append(rows, [2]string{"position", fmt.Sprint(*s.Position)})
	}
	if s.StartsAt != nil {
		rows = append(rows, [2]string{"pre-queue", "places are drawn at random at the start, " + s.StartsAt.Format(time.RFC3339)})
	}
	if s.QueueingMethod == "random" {
		rows = append(rows, [2]string{"lottery", "each admission is drawn at random among those waiting"})
	}
	if s.Status == api.StatusWaiting && s.Position != nil {
		rows = append(rows, [2]string{"wait", estimate(s.EstimatedWaitSeconds)})
	}
	if s.ActivatedAt != nil {
		rows = append(rows, [2]string{"admitted", s.ActivatedAt.Format(time.RFC3339)})
	}
	if s.ExpiresAt != nil {
		rows = append(rows, [2]string{"expires", s.ExpiresAt.Format(time.RFC3339)})
	}
	if s.EndedAt != nil {
		rows = append(rows, [2]string{"ended", s.EndedAt.Format(time.RFC3339) + " (" + s.EndReason + ")"})
	}
	if s.AccessToken != "" {
		rows = append(rows, [2]string{"token", s.AccessToken})
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-9s %s\n", r[0], r[1])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func estimate(sec *float64) string {
	if sec == nil {
		return "unknown (nobody admitted yet)"
	}
	if *sec < 1 {
		return "under a second"
	}
	return "about " + time.Duration(*sec*float64(time.Second)).Round(time.Second).String()
}

// progress shows where a waiting session stands: one rewritten line on a
// terminal, a line per change of position otherwise (CI logs).
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  string
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w), start: time.Now()}
}

// isTerminal reports whether w is a terminal: the one place it is decided.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) update(s api.Session) {
	if s.Status != api.StatusWaiting {
		return
	}
	var line string
	switch {
	case s.StartsAt != nil:
		line = "waiting in the pre-queue: places are drawn at the start, in " + time.Until(*s.StartsAt).Round(time.Second).String()
		if !p.tty {
			line = "waiting in the pre-queue: places are drawn at the start, " + s.StartsAt.Format(time.RFC3339)
		}
	case s.Position != nil:
		line = fmt.Sprintf("waiting: position %d, wait %s", *s.Position, estimate(s.EstimatedWaitSeconds))
	default:
		line = "waiting: admission by lottery"
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s (waited %s)", line, time.Since(p.start).Round(time.Second))
		return
	}
	if line != p.last {
		fmt.Fprintln(p.w, line)
	}
	p.last = line
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
