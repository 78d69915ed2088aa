// Package printer writes what the CLI shows: sessions and events as text
// for people, with every field in JSON for scripts.
package printer

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// Formats of output.
const (
	Text = "text"
	JSON = "json"
	Wide = "wide" // text with every column
)

// narrow are the columns of an event list that fit 100 columns; Wide adds
// the other settings, derived from room's table of settings.
var narrow = []string{"capacity", "newUsersPerMinute", "queueingMethod"}

// Events writes a list of events: in text, a table of their phase, counts
// and main settings that fits 100 columns (Wide: every setting).
func Events(w io.Writer, format string, evs []api.AdminEvent) error {
	if format == JSON {
		return writeJSON(w, evs)
	}
	settings := room.Table()
	if format != Wide {
		settings = nil
		for _, name := range narrow {
			s, _ := room.SettingNamed(name)
			settings = append(settings, s)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"EVENT", "PHASE", "ACTIVE", "WAITING", "PRE-QUEUED"}
	for _, s := range settings {
		head = append(head, column(s))
	}
	if format == Wide {
		head = append(head, "OVERRIDES")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, ev := range evs {
		phase := ev.Stats.Phase
		if ev.Effective.Paused && format != Wide {
			phase += ", paused"
		}
		row := []string{ev.EventID, phase, fmt.Sprint(ev.Stats.Active), fmt.Sprint(ev.Stats.Waiting), fmt.Sprint(ev.Stats.PreQueued)}
		for _, s := range settings {
			row = append(row, value(s, ev.Effective))
		}
		if format == Wide {
			row = append(row, cmp.Or(strings.Join(ev.Settings.Overrides(), ","), "-"))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if format != Wide {
		_, err := fmt.Fprintln(w, "(wrctl event get EVENT shows one event whole; -o wide every setting of each)")
		return err
	}
	return nil
}

// Event writes one event: in text, a line per count and setting, the
// settings the event overrides marked, so it fits any terminal.
func Event(w io.Writer, format string, ev api.AdminEvent) error {
	if format == JSON {
		return writeJSON(w, ev)
	}
	if format == Wide {
		return Events(w, Wide, []api.AdminEvent{ev})
	}
	var b strings.Builder
	st := ev.Stats
	fmt.Fprintf(&b, "%-19s %s\n%-19s %s\n", "event", ev.EventID, "phase", st.Phase)
	fmt.Fprintf(&b, "%-19s %d active, %d waiting, %d pre-queued\n", "sessions", st.Active, st.Waiting, st.PreQueued)
	for _, s := range room.Table() {
		mark := ""
		if s.IsSet(ev.Settings) {
			mark = "  (set for this event)"
		}
		fmt.Fprintf(&b, "%-19s %s%s\n", s.Name, value(s, ev.Effective), mark)
	}
	fmt.Fprintf(&b, "%-19s %s\n", "overrides", cmp.Or(strings.Join(ev.Settings.Overrides(), ","), "-"))
	_, err := io.WriteString(w, b.String())
	return err
}

// column is a setting's table header: NEW-USERS-PER-MINUTE.
func column(s room.Setting) string {
	switch s.Name {
	case "newUsersPerMinute":
		return "NEW/MIN"
	case "queueingMethod":
		return "METHOD"
	}
	return strings.ToUpper(s.Flag)
}

// value is a setting in force, "none" for an unset limit.
func value(s room.Setting, st room.Settings) string {
	if s.Kind == room.KindCount && !s.IsSet(st) && s.Name != "capacity" {
		return "none"
	}
	return s.Format(st)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
