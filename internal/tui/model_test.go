package tui

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/wrctl/wrctl/internal/api"
)

func init() { lipgloss.SetColorProfile(termenv.Ascii) } // assert on plain text

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

type staticSource struct{ list api.EventList }

func (s staticSource) Events(context.Context) (api.EventList, error) { return s.list, nil }

func stats(id string, capacity int, active, waiting, joined, admitted int64) api.EventStats {
	w := float64(waiting) / 10
	return api.EventStats{EventID: id, Capacity: capacity, Active: active, Waiting: waiting, Joined: joined, Admitted: admitted, AdmissionRate: 10, EstimatedWaitSeconds: &w}
}

func newModel() Model {
	m := New(Config{Server: "http://room", Refresh: time.Second}, staticSource{}, nil)
	m.Now = func() time.Time { return t0 }
	m2, _ := m.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
	return m2.(Model)
}

func update(t *testing.T, m Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		next, _ := m.Update(msg)
		m = next.(Model)
	}
	return m
}

func key(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func list(evs ...api.EventStats) api.EventList { return api.EventList{Events: evs, Total: len(evs)} }

// rowOf returns the line of the view that shows event id.
func rowOf(t *testing.T, view, id string) string {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		if strings.HasPrefix(l, id+" ") {
			return l
		}
	}
	t.Fatalf("no row for %s in\n%s", id, view)
	return ""
}

func fields(l string) []string { return strings.Fields(l) }

func TestViewShowsNumbersRatesAndGauge(t *testing.T) {
	m := newModel()
	m = update(t, m,
		StatsMsg{At: t0, List: list(stats("launch", 100, 50, 1000, 2000, 900))},
		StatsMsg{At: t0.Add(2 * time.Second), List: list(stats("launch", 100, 100, 1200, 2600, 1000))},
	)
	v := m.View()
	f := fields(rowOf(t, v, "launch"))
	// event cap active gauge pct waiting admit/s join/s est
	if f[1] != "100" || f[2] != "100" || f[4] != "100%" || f[5] != "1200" || f[6] != "50.0" || f[7] != "300.0" || f[8] != "2m0s" {
		t.Fatalf("row fields %q", f)
	}
	if !strings.Contains(f[3], "██████") {
		t.Fatalf("gauge of a full event = %q", f[3])
	}
	if !strings.Contains(v, "live") || strings.Contains(v, "stale") {
		t.Fatalf("footer of fresh data:\n%s", v)
	}
	if !regexp.MustCompile(`[▁▂▃▄▅▆▇█]{2}`).MatchString(rowOf(t, v, "launch")) {
		t.Fatalf("no sparkline in %q", rowOf(t, v, "launch"))
	}
}

func TestStaleAndUnreachableFooter(t *testing.T) {
	m := newModel()
	m = update(t, m, StatsMsg{At: t0, List: list(stats("E1", 10, 1, 2, 3, 1))})
	m.Now = func() time.Time { return t0.Add(10 * time.Second) }
	if v := m.View(); !strings.Contains(v, "stale: data 10s old") {
		t.Fatalf("no stale footer:\n%s", v)
	}
	m = update(t, m, StatsMsg{At: t0.Add(10 * time.Second), Err: errors.New("connection refused")})
	v := m.View()
	if !strings.Contains(v, "server unreachable, data 10s old (retrying): connection refused") {
		t.Fatalf("no unreachable footer:\n%s", v)
	}
	if f := fields(rowOf(t, v, "E1")); f[2] != "1" {
		t.Fatalf("the last good data is gone: %q", f)
	}
}

func TestSortAndFilter(t *testing.T) {
	m := newModel()
	m = update(t, m, StatsMsg{At: t0, List: list(
		stats("alpha", 10, 1, 30, 0, 0), stats("beta", 10, 2, 10, 0, 0), stats("gamma", 10, 3, 20, 0, 0))})
	order := func(m Model) string {
		var ids []string
		for _, r := range m.visible() {
			ids = append(ids, r.st.EventID)
		}
		return strings.Join(ids, ",")
	}
	if got := order(m); got != "alpha,gamma,beta" { // by waiting, descending
		t.Fatalf("default order %s", got)
	}
	m = update(t, m, key("S"))
	if got := order(m); got != "beta,gamma,alpha" {
		t.Fatalf("reversed %s", got)
	}
	m = update(t, m, key("s"), key("s"), key("s"), key("s")) // admit/s, join/s, est wait, event
	if got := order(m); got != "alpha,beta,gamma" || columns[m.sortCol] != "event" {
		t.Fatalf("by event ascending: %s (column %s)", got, columns[m.sortCol])
	}
	if !strings.Contains(m.View(), "EVENT↑") {
		t.Fatalf("header does not mark the sort column:\n%s", m.View())
	}
	m = update(t, m, key("/"), key("m"))
	if got := order(m); got != "gamma" {
		t.Fatalf("filter as you type, m: %s", got)
	}
	m = update(t, m, key("m"), tea.KeyMsg{Type: tea.KeyEnter})
	if got := order(m); got != "gamma" {
		t.Fatalf("filter mm: %s", got)
	}
	if v := m.View(); strings.Contains(v, "alpha ") || !strings.Contains(v, "filter: mm") {
		t.Fatalf("filtered view:\n%s", v)
	}
	m = update(t, m, key("/"), tea.KeyMsg{Type: tea.KeyEsc})
	if got := order(m); got != "alpha,beta,gamma" {
		t.Fatalf("after clearing the filter: %s", got)
	}
}

func TestPauseHelpAndQuit(t *testing.T) {
	m := newModel()
	m = update(t, m, StatsMsg{At: t0, List: list(stats("E1", 10, 1, 2, 3, 1))}, key("p"))
	if v := m.View(); !strings.Contains(v, "[PAUSED]") || !strings.Contains(v, "paused (p resumes)") || strings.Contains(v, "live") {
		t.Fatalf("no PAUSED marker and footer:\n%s", v)
	}
	m = update(t, m, StatsMsg{At: t0.Add(time.Second), List: list(stats("E1", 10, 9, 9, 9, 9))})
	if f := fields(rowOf(t, m.View(), "E1")); f[2] != "1" {
		t.Fatalf("data changed while paused: %q", f)
	}
	if _, cmd := m.Update(TickMsg(t0)); cmd == nil {
		t.Fatal("ticks stop while paused")
	}
	m = update(t, m, key("?"))
	if v := m.View(); !strings.Contains(v, "pause / resume") {
		t.Fatalf("no help overlay:\n%s", v)
	}
	m = update(t, m, key("x"))
	if strings.Contains(m.View(), "pause / resume") {
		t.Fatal("help did not close")
	}
	m = update(t, m, key("?"))
	next, cmd := m.Update(key("q"))
	if m = next.(Model); cmd != nil || strings.Contains(m.View(), "pause / resume") {
		t.Fatal("q inside help must close the help, not quit")
	}
	if _, cmd := m.Update(key("q")); cmd == nil || cmd() != tea.Quit() {
		t.Fatal("q does not quit")
	}
}

func TestNarrowTerminalDropsSparklinesAndLongListsAreCut(t *testing.T) {
	m := newModel()
	var evs []api.EventStats
	for i := range 40 {
		evs = append(evs, stats("event-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 10, 1, int64(i), 0, 0))
	}
	m = update(t, m, tea.WindowSizeMsg{Width: 90, Height: 20}, StatsMsg{At: t0, List: list(evs...)})
	v := m.View()
	if strings.ContainsAny(v, "▁▂▃▄▅▆▇") {
		t.Fatalf("sparklines at width 90:\n%s", v)
	}
	if n := strings.Count(v, "\n") + 1; n > 20 {
		t.Fatalf("%d lines on a 20-line terminal", n)
	}
	if !strings.Contains(v, "more (filter with /)") {
		t.Fatalf("no note of the events cut:\n%s", v)
	}
}

func TestQueueLine(t *testing.T) {
	m := New(Config{Server: "s"}, staticSource{}, fakeQueue{})
	m.Now = func() time.Time { return t0 }
	if v := m.View(); !strings.Contains(v, "queue  reading") {
		t.Fatalf("before any read:\n%s", v)
	}
	m = update(t, m, tea.WindowSizeMsg{Width: 140, Height: 30}, QueueMsg{At: t0, Depths: QueueDepths{Queue: Depth{Visible: 120, InFlight: 10}, DLQ: &Depth{Visible: 2}}})
	v := m.View()
	if !strings.Contains(v, "visible ~120  in flight ~10  delayed ~0") || !strings.Contains(v, "DLQ visible ~2") || !strings.Contains(v, "(approximate") {
		t.Fatalf("queue line:\n%s", v)
	}
}

// TestQueueLineIsCutAtWordsAtEightyColumns: with large depths and a DLQ
// the queue line keeps to 80 cells and drops whole phrases, never a
// number's digits.
func TestQueueLineIsCutAtWordsAtEightyColumns(t *testing.T) {
	m := New(Config{Server: "s"}, staticSource{}, fakeQueue{})
	m.Now = func() time.Time { return t0 }
	big := QueueDepths{Queue: Depth{Visible: 12345678, InFlight: 2345678, Delayed: 345678}, DLQ: &Depth{Visible: 4567890, InFlight: 56789}}
	for _, w := range []int{80, 60, 40} {
		m = update(t, m, tea.WindowSizeMsg{Width: w, Height: 24}, QueueMsg{At: t0, Depths: big})
		var line string
		for _, l := range strings.Split(m.View(), "\n") {
			if strings.HasPrefix(ansi.Strip(l), "queue") {
				line = ansi.Strip(l)
			}
		}
		if line == "" || lipgloss.Width(line) > w {
			t.Fatalf("width %d: queue line %q is %d cells", w, line, lipgloss.Width(line))
		}
		for _, part := range strings.Split(strings.TrimSuffix(line, "…"), "  ") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			if !slices.Contains([]string{"queue", "visible ~12345678", "in flight ~2345678", "delayed ~345678", "DLQ visible ~4567890", "in flight ~56789", "(approximate)"}, part) {
				t.Fatalf("width %d: the line %q cuts a phrase: %q", w, line, part)
			}
		}
		if w == 80 && !strings.Contains(line, "DLQ visible ~4567890") {
			t.Fatalf("at 80 columns the DLQ is cut off: %q", line)
		}
	}
}

type fakeQueue struct{}

func (fakeQueue) Depths(context.Context) (QueueDepths, error) { return QueueDepths{}, nil }

func TestSnapshotText(t *testing.T) {
	s := Snapshot{Server: "http://room", At: t0, Events: []api.EventStats{stats("E1", 5, 5, 7, 12, 5)}, Total: 1,
		Queue: &QueueDepths{Queue: Depth{Visible: 6, InFlight: 1}}}
	v := s.Text(120)
	f := fields(rowOf(t, v, "E1"))
	if f[1] != "5" || f[2] != "5" || f[5] != "7" || f[6] != "10.0" || f[7] != "-" {
		t.Fatalf("snapshot row %q", f)
	}
	if !strings.Contains(v, "snapshot at 2026-11-29T12:00:00Z") || strings.Contains(v, "q quit") {
		t.Fatalf("snapshot footer:\n%s", v)
	}
}

// TestFitsEightyByTwentyFour: every line of the dashboard and of its help
// fits an 80×24 terminal, and the headers stay put when the sort moves.
func TestFitsEightyByTwentyFour(t *testing.T) {
	m := newModel()
	next, _ := m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m = next.(Model)
	m = update(t, m, StatsMsg{At: t0, List: list(
		stats("launch-2026-a-very-long-event-name-indeed", 100, 100, 1200, 2600, 1000), stats("small", 3, 0, 0, 5, 5))})
	m.Now = func() time.Time { return t0.Add(time.Hour) } // stale, with a long footer
	check := func(what, v string) {
		t.Helper()
		lines := strings.Split(v, "\n")
		if len(lines) > 24 {
			t.Errorf("%s: %d lines", what, len(lines))
		}
		for _, l := range lines {
			if w := lipgloss.Width(l); w > 80 {
				t.Errorf("%s: a line of %d cells: %q", what, w, l)
			}
		}
	}
	v := m.View()
	check("dashboard", v)
	if !strings.Contains(v, "EST WAIT") || !strings.Contains(v, "stale: data 1h0m0s old") {
		t.Fatalf("at 80 columns:\n%s", v)
	}
	header := func(m Model) string {
		for _, l := range strings.Split(m.View(), "\n") {
			if strings.Contains(l, "EVENT") {
				return l
			}
		}
		return ""
	}
	before := strings.Index(header(m), "JOIN/s")
	m = update(t, m, key("s"))
	if after := strings.Index(header(m), "JOIN/s"); after != before {
		t.Fatalf("JOIN/s moved from %d to %d when the sort moved", before, after)
	}
	m = update(t, m, key("?"))
	check("help", m.View())
}

// TestScheduledEventsShowTheirState: an event in its pre-queue shows the
// pre-queue's size and a countdown to its start by the server's clock (not
// the terminal's), a live one its start's shuffle and the limit that binds,
// an ended or sold-out one says so; a plain event takes no second line.
func TestScheduledEventsShowTheirState(t *testing.T) {
	m := newModel()
	serverNow := t0.Add(-time.Hour) // the server's clock is an hour behind the terminal's
	starts := serverNow.Add(4*time.Minute + 12*time.Second)
	shuffled := serverNow.Add(-time.Minute)
	pre := stats("SALE", 100, 0, 1200, 1200, 0)
	pre.Phase, pre.StartsAt, pre.PreQueued, pre.Now, pre.QueueingMethod = "prequeue", &starts, 1200, serverNow, "fifo"
	live := stats("LIVE", 100, 40, 300, 2000, 1700)
	live.Phase, live.NewUsersPerMinute, live.Binding, live.ShuffledAt, live.ShuffledCount, live.Now = "live", 600, "rate", &shuffled, 1500, serverNow
	sold := stats("SOLD", 100, 3, 0, 10, 10)
	sold.Phase, sold.QueueingMethod, sold.Now = "live", "reject", serverNow
	plain := stats("PLAIN", 5, 5, 2, 7, 5)
	plain.Phase, plain.QueueingMethod = "live", "fifo"
	m = update(t, m, StatsMsg{At: t0, List: list(pre, live, sold, plain)})
	v := m.View()
	for _, want := range []string{"pre-queue 1200 · starts in 4m12s", "live · started", "1500 shuffled", "rate cap 600/min", "limit: rate", "rejecting joins (sold out)"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	// Ten seconds later by the terminal's clock, the countdown follows.
	m.Now = func() time.Time { return t0.Add(10 * time.Second) }
	if v := m.View(); !strings.Contains(v, "starts in 4m2s") {
		t.Errorf("countdown did not follow the clock:\n%s", v)
	}
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "PLAIN ") && i+1 < len(lines) && strings.Contains(lines[i+1], "└") {
			t.Errorf("a plain event got a state line: %q", lines[i+1])
		}
	}
}
