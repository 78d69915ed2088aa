package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/api"
)

// Token is the format of only a session's access token, for $(...).
const Token = "token"

// Session writes a session as text, JSON, or only its access token, with
// the Idempotency-Key its join sent (none: not shown), so a script or a
// person can get the place back.
func Session(w io.Writer, format string, s api.Session, key string) error {
	switch format {
	case JSON:
		return json.NewEncoder(w).Encode(struct {
			api.Session
			IdempotencyKey string `json:"idempotencyKey,omitempty"`
		}{s, key})
	case Token:
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

// Progress shows where a waiting session stands: one rewritten line on a
// terminal, a line per change of position otherwise (CI logs).
type Progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  string
}

// NewProgress writes to w, rewriting one line when tty says w is a terminal.
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, start: time.Now()}
}

// Update shows s, when it waits.
func (p *Progress) Update(s api.Session) {
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

// Done clears the line on a terminal.
func (p *Progress) Done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
