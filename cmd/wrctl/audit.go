package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/printer"
	"github.com/wrctl/wrctl/internal/room"
)

// auditError is a log that is broken or shows a rule broken.
type auditError struct{ msg string }

func (e auditError) Error() string { return e.msg }

// auditOptions are audit's input.
type auditOptions struct {
	clientOptions
	File, Event string // one of them
	SessionID   string
	PublicKey   string // a PEM file
	JWKS        string // a key set URL
	serverGiven bool
}

func newAuditCmd(f *factory, runF func(context.Context, *auditOptions) error) *cobra.Command {
	o := &auditOptions{clientOptions: clientOptions{IO: f}}
	cmd := &cobra.Command{
		Use:   "audit (FILE | EVENT --server URL) [--session ID]",
		Short: "Prove from an event's public audit log that its on-sale was fair",
		Long: `Check an event's audit log (GET /api/waiting-room/events/{id}/audit, or a file
saved from it, - for standard input): that its hash chain holds, that its head
is signed by the room's key, and, from the log alone, that capacity was never
exceeded, that admissions followed the line (ticket order, after the
pre-queue's draw) unless the queueing method says otherwise, that the rate cap
held, and that the draw is the permutation its seed gives, the seed the one
committed to when the pre-queue opened. docs/audit.md is the format.

The key comes from --public-key, --jwks, or the server's key set. With
--session, it tells that session's own story: its ticket, its place after the
draw, its admission number.

Exit codes:
  0  proven
  1  another failure
  2  usage error
  3  the event has no audit log
  6  the server could not be reached
  8  the log is broken, or shows a rule broken`,
		Example: `  wrctl audit launch-2026 --server https://room.example.com
  wrctl audit launch-2026 --session 7415cbf882bc1c7a142d5b8504e6f0c2 --output json
  curl -s https://room.example.com/api/waiting-room/events/launch-2026/audit > launch.jsonl
  wrctl audit launch.jsonl --public-key token.pub.pem`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("audit takes one FILE or EVENT, got %d arguments", len(args))
			}
			if _, err := os.Stat(args[0]); err == nil || args[0] == "-" {
				o.File = args[0]
			} else if err := room.ValidateID(args[0]); err != nil {
				return usagef("%q is neither a file nor an event id: %v", args[0], err)
			} else {
				o.Event = args[0]
			}
			if o.SessionID != "" && !room.ValidSessionID(o.SessionID) {
				return usagef("--session %q: want the 32 hex characters 'wrctl join' printed", o.SessionID)
			}
			o.serverGiven = cmd.Flags().Changed("server") || os.Getenv("WRCTL_SERVER") != ""
			if err := o.complete(cmd, nil); err != nil {
				return err
			}
			return runOr(runF, auditRun)(cmd.Context(), o)
		},
	}
	g := flags{cmd: cmd}
	g.bind(&o.SessionID, "session", "", "", "tell this session's story: its ticket, place after the draw and admission")
	g.bind(&o.PublicKey, "public-key", "", "", "the room's Ed25519 public key (PEM) to check the head's signature with")
	g.bind(&o.JWKS, "jwks", "", "", "the room's key set URL (default: the server's /.well-known/jwks.json)")
	o.clientOptions.bind(cmd)
	return cmd
}

// auditRun reads the log, verifies it and prints what it proved.
func auditRun(ctx context.Context, o *auditOptions) error {
	var log io.Reader
	switch {
	case o.File == "-":
		log = o.IO.In
	case o.File != "":
		f, err := os.Open(o.File)
		if err != nil {
			return usagef("%s: %v", o.File, err)
		}
		defer f.Close()
		log = f
	default:
		c, err := o.Client()
		if err != nil {
			return err
		}
		body, err := c.Audit(ctx, o.Event)
		if err != nil {
			return err
		}
		defer body.Close()
		log = body
	}
	keys, err := o.keys(ctx)
	if err != nil {
		return err
	}
	rep, err := audit.Verify(log, audit.Options{Keys: keys, SessionID: o.SessionID})
	if errors.Is(err, audit.ErrBroken) {
		return auditError{err.Error()}
	} else if err != nil {
		return err
	}
	if err := printAudit(o.IO.Out, o.Format, rep); err != nil {
		return err
	}
	if !rep.Proven() {
		return auditError{fmt.Sprintf("the log shows %d rule(s) broken", len(rep.Violations))}
	}
	return nil
}

// keys are the room's public keys: --public-key, --jwks, or the server's.
func (o *auditOptions) keys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	switch {
	case o.PublicKey != "":
		pem, err := os.ReadFile(o.PublicKey)
		if err != nil {
			return nil, usagef("--public-key: %v", err)
		}
		pub, err := accesstoken.ParsePublicKey(pem)
		if err != nil {
			return nil, usagef("--public-key %s: %v", o.PublicKey, err)
		}
		return map[string]ed25519.PublicKey{accesstoken.KeyID(pub): pub}, nil
	case o.JWKS != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.JWKS, nil)
		if err != nil {
			return nil, usagef("--jwks: %v", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("--jwks %s: %w", o.JWKS, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return audit.KeysFromJWKS(b)
	case o.Event != "" || o.serverGiven:
		c, err := o.Client()
		if err != nil {
			return nil, err
		}
		b, err := c.JWKS(ctx)
		if err != nil {
			return nil, err
		}
		return audit.KeysFromJWKS(b)
	}
	return nil, nil
}

func printAudit(w io.Writer, format string, rep *audit.Report) error {
	if format == printer.JSON {
		return json.NewEncoder(w).Encode(rep)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "event       %s\nentries     %d, head %s\n", rep.Event, rep.Entries, rep.Head)
	if rep.Signed {
		b.WriteString("signature   verified with the room's key\n")
	} else {
		fmt.Fprintf(&b, "signature   NOT CHECKED: %s\n", rep.Unsigned)
	}
	fmt.Fprintf(&b, "sessions    %d joined (%d in the pre-queue), %d admitted, %d left, %d expired; at most %d inside at once\n",
		rep.Joined, rep.PreQueued, rep.Admitted, rep.Left, rep.Expired, rep.MaxActive)
	if rep.Drawn {
		b.WriteString("draw        the order its committed seed gives\n")
	}
	if rep.Proven() {
		b.WriteString("proven      capacity never exceeded; admissions in line order; the rate cap held; the draw fair\n")
	}
	for _, v := range rep.Violations {
		b.WriteString("VIOLATION   " + v + "\n")
	}
	if s := rep.Session; s != nil {
		fmt.Fprintf(&b, "session     ticket %d", s.Ticket)
		if s.Pre {
			fmt.Fprintf(&b, ", pre-queued, place %d after the draw", s.Place)
		}
		if s.Admission > 0 {
			fmt.Fprintf(&b, ", admitted %d-th", s.Admission)
		}
		if s.End != "" {
			fmt.Fprintf(&b, ", ended (%s)", s.End)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
