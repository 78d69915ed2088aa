package tui

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
)

var (
	titleStyle = lipgloss.NewStyle().Bold(true)
	headStyle  = lipgloss.NewStyle().Bold(true).Underline(true)
	dimStyle   = lipgloss.NewStyle().Faint(true)
	okStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	warnStyle  = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	badStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	boxStyle   = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
)

// Column widths that fit 80 columns; the event column takes what is left
// over, up to wEventMax. Each right-aligned header keeps one cell for the
// sort arrow, so headers stay put when the sort moves.
const (
	wEvent    = 14
	wEventMax = 40
	wCap      = 6
	wActive   = 7
	wGauge    = 11
	wWaiting  = 9
	wRate     = 8
	wWait     = 9
	// columnsWidth is every column and the spaces between them, but the event's.
	columnsWidth = wCap + wActive + wGauge + wWaiting + 2*wRate + wWait + 7
)

// View renders the dashboard for the terminal's size.
func (m Model) View() string {
	if m.help {
		return m.helpView()
	}
	var b strings.Builder
	now := m.Now()
	status := ""
	if m.paused {
		status = "  " + warnStyle.Render("[PAUSED]")
	}
	b.WriteString(titleStyle.Render("wrctl top") + dimStyle.Render(" — "+m.cfg.Server+" — "+now.Format("15:04:05")) + status + "\n")
	b.WriteString(m.queueLine() + "\n\n")

	evW, sparkW := m.layout()
	b.WriteString(headStyle.Render(m.header(evW, sparkW)) + "\n")

	rows := m.visible()
	room := m.height - 8
	if m.filtering || m.filter != "" {
		room--
	}
	// An event with a schedule, a queueing method or a rate cap takes a
	// second line, its state; the rows that fit are shown.
	shown := rows
	if room >= 1 {
		lines := 0
		for i, r := range rows {
			lines += 1 + min(len(m.stateLine(r, now)), 1)
			if lines > room-1 && i < len(rows)-1 || lines > room {
				shown = rows[:i]
				break
			}
		}
	}
	for _, r := range shown {
		b.WriteString(m.rowLine(r, evW, sparkW) + "\n")
		if s := m.stateLine(r, now); s != "" {
			b.WriteString(clip(s, max(m.width, 20)) + "\n")
		}
	}
	if len(rows) == 0 {
		b.WriteString(dimStyle.Render("  no events yet") + "\n")
	}
	if n := len(rows) - len(shown); n > 0 {
		b.WriteString(dimStyle.Render(fmt.Sprintf("  … %d more (filter with /)", n)) + "\n")
	}
	if m.total > len(m.rows) {
		b.WriteString(dimStyle.Render(fmt.Sprintf("  the server lists %d of %d events", len(m.rows), m.total)) + "\n")
	}
	b.WriteString("\n")
	if m.filtering {
		b.WriteString(m.input.View() + "\n")
	} else if m.filter != "" {
		b.WriteString(dimStyle.Render("filter: "+m.filter+" (esc clears)") + "\n")
	}
	b.WriteString(m.footer(now))
	return b.String()
}

// layout gives the event column's width and the sparklines' (0: none).
func (m Model) layout() (evW, sparkW int) {
	spare := m.width - wEvent - columnsWidth
	if spare >= 20 && !m.once {
		sparkW = min((spare-4)/2, 40)
		spare -= 2*sparkW + 3
	}
	return wEvent + min(max(spare, 0), wEventMax-wEvent), sparkW
}

func (m Model) header(evW, sparkW int) string {
	dir := "↑"
	if m.sortDesc {
		dir = "↓"
	}
	name := func(i int, s string, w int, left bool) string {
		mark := " "
		if i == m.sortCol {
			mark = dir
		}
		if left {
			return pad(s+mark, w)
		}
		return lpad(s+mark, w)
	}
	h := name(0, "EVENT", evW, true) + " " + name(1, "CAP", wCap, false) + " " + name(2, "ACTIVE", wActive, false) + " " +
		pad("", wGauge) + " " + name(3, "WAITING", wWaiting, false) + " " + name(4, "ADMIT/s", wRate, false) + " " +
		name(5, "JOIN/s", wRate, false) + " " + name(6, "EST WAIT", wWait, false)
	if sparkW > 0 {
		h += "  " + pad("WAITING", sparkW) + " " + pad("ACTIVE", sparkW)
	}
	return h
}

func (m Model) rowLine(r *row, evW, sparkW int) string {
	st := r.st
	joins := "-"
	if r.joinRate >= 0 {
		joins = fmt.Sprintf("%.1f", r.joinRate)
	}
	wait := "-"
	if st.EstimatedWaitSeconds != nil {
		wait = waitString(*st.EstimatedWaitSeconds)
	}
	// Right-aligned cells end one short of their column, under the header
	// text rather than its sort arrow.
	cell := func(s string, w int) string { return lpad(s, w-1) + " " }
	line := pad(truncate(st.EventID, evW-1), evW) + " " + cell(fmt.Sprint(st.Capacity), wCap) + " " +
		cell(fmt.Sprint(st.Active), wActive) + " " + gauge(st.Active, int64(st.Capacity), wGauge) + " " +
		cell(fmt.Sprint(st.Waiting), wWaiting) + " " + cell(fmt.Sprintf("%.1f", r.admissionRate()), wRate) + " " +
		cell(joins, wRate) + " " + cell(wait, wWait)
	if sparkW > 0 {
		line += "  " + sparkline(r.waiting, sparkW) + " " + sparkline(r.active, sparkW)
	}
	if st.Active == 0 && st.Waiting == 0 {
		return dimStyle.Render(line) // nothing live: it leaves the list once the server forgets it
	}
	return line
}

// stateLine is an event's state under its row: where it stands in its
// schedule (with a countdown by the server's clock), its pre-queue, its
// queueing method and the limit that binds; "" for an event without a
// schedule, a method other than fifo or a rate cap.
func (m Model) stateLine(r *row, now time.Time) string {
	st := r.st
	method := st.QueueingMethod
	if st.OpensAt == nil && st.StartsAt == nil && st.EndsAt == nil && st.NewUsersPerMinute == 0 && (method == "" || method == "fifo") {
		return ""
	}
	// The server's time now: its time at the sample plus what passed here since.
	server := now
	if !st.Now.IsZero() {
		server = st.Now.Add(now.Sub(r.at))
	}
	in := func(t time.Time) string { return max(t.Sub(server), 0).Round(time.Second).String() }
	var parts []string
	state := okStyle
	switch st.Phase {
	case "scheduled":
		parts = append(parts, "scheduled: the line opens in "+in(*st.OpensAt)+" ("+st.OpensAt.UTC().Format("15:04:05Z")+")")
		state = dimStyle
	case "prequeue":
		s := fmt.Sprintf("pre-queue %d", st.PreQueued)
		if st.StartsAt != nil {
			s += " · starts in " + in(*st.StartsAt) + " (" + st.StartsAt.UTC().Format("15:04:05Z") + ")"
		}
		parts = append(parts, s)
		state = warnStyle
	case "ended":
		parts = append(parts, "ended")
		state = dimStyle
	default:
		s := "live"
		if st.ShuffledAt != nil {
			s += fmt.Sprintf(" · started %s, %d shuffled", st.ShuffledAt.UTC().Format("15:04:05Z"), st.ShuffledCount)
		}
		parts = append(parts, s)
	}
	if st.EndsAt != nil && st.Phase != "ended" {
		parts = append(parts, "ends in "+in(*st.EndsAt))
	}
	switch method {
	case "random":
		parts = append(parts, "lottery")
	case "passthrough":
		parts = append(parts, "open (passthrough, no cap)")
	case "reject":
		parts = append(parts, "rejecting joins (sold out)")
		state = badStyle
	}
	if st.NewUsersPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("rate cap %d/min", st.NewUsersPerMinute))
	}
	if st.Binding != "" {
		parts = append(parts, "limit: "+st.Binding)
	}
	return "  └ " + state.Render(strings.Join(parts, " · "))
}

func (m Model) queueLine() string {
	switch {
	case m.qsrc == nil && m.queue == nil && m.queueErr == nil:
		return dimStyle.Render(clip("queue  not watched (give --queue-url to see SQS depths)", m.width))
	case m.queue == nil && m.queueErr != nil:
		return badStyle.Render(clip("queue  unreachable: "+oneLine(m.queueErr.Error()), m.width))
	case m.queue == nil:
		return dimStyle.Render("queue  reading…")
	}
	q := m.queue
	line := []phrase{{text: "queue"}, {text: fmt.Sprintf("visible ~%d", q.Queue.Visible)},
		{text: fmt.Sprintf("in flight ~%d", q.Queue.InFlight)}, {text: fmt.Sprintf("delayed ~%d", q.Queue.Delayed)}}
	if q.DLQ != nil {
		style := lipgloss.NewStyle()
		if q.DLQ.Visible+q.DLQ.InFlight > 0 {
			style = badStyle
		}
		line = append(line, phrase{text: fmt.Sprintf(" DLQ visible ~%d", q.DLQ.Visible), style: style},
			phrase{text: fmt.Sprintf("in flight ~%d", q.DLQ.InFlight), style: style})
	} else {
		line = append(line, phrase{text: " no DLQ"})
	}
	long := phrase{text: " (approximate; oldest-message age: see CloudWatch)", style: dimStyle}
	short := phrase{text: " (approximate)", style: dimStyle}
	// The widest that fits wins: the notes go first, then the delayed
	// count (of least use on the day), then the DLQ's in-flight count.
	tries := [][]phrase{append(slices.Clone(line), long), append(slices.Clone(line), short), line}
	if q.DLQ != nil {
		noDelayed := slices.Delete(slices.Clone(line), 3, 4)
		tries = append(tries, noDelayed, noDelayed[:len(noDelayed)-1])
	}
	for _, try := range tries {
		if fits(m.width, try...) {
			return join(try...)
		}
	}
	for len(line) > 1 && !fits(m.width, append(line, phrase{text: "…"})...) {
		line = line[:len(line)-1]
	}
	return join(append(line, phrase{text: "…"})...)
}

// A phrase is words the queue line shows whole or not at all.
type phrase struct {
	text  string
	style lipgloss.Style
}

// fits reports whether the phrases, two spaces apart, fit w cells.
func fits(w int, ps ...phrase) bool {
	n := 2 * (len(ps) - 1)
	for _, p := range ps {
		n += lipgloss.Width(p.text)
	}
	return n <= w
}

func join(ps ...phrase) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(p.style.Render(p.text))
	}
	return b.String()
}

// waitString shows an estimated wait to the second.
func waitString(sec float64) string {
	if sec < 1 {
		return "<1s"
	}
	return time.Duration(sec * float64(time.Second)).Round(time.Second).String()
}

func (m Model) footer(now time.Time) string {
	if m.once {
		return dimStyle.Render("snapshot at " + now.UTC().Format(time.RFC3339) + "; rates are the server's recent admission rate")
	}
	keys := "q quit · p pause · s/S sort · / filter · ? help"
	age := ""
	if !m.lastStats.IsZero() {
		age = now.Sub(m.lastStats).Round(time.Second).String()
	}
	var state string
	var style lipgloss.Style
	switch {
	case m.paused:
		state, style = "paused (p resumes)", warnStyle
		if age != "" {
			state += " · data " + age + " old"
		}
	case m.statsErr != nil:
		state, style = "server unreachable (retrying): "+oneLine(m.statsErr.Error()), badStyle
		if age != "" {
			state = "server unreachable, data " + age + " old (retrying): " + oneLine(m.statsErr.Error())
		}
	case m.lastStats.IsZero():
		state, style = "connecting…", dimStyle
	case now.Sub(m.lastStats) > 3*m.cfg.Refresh:
		state, style = "stale: data "+age+" old", warnStyle
	default:
		state, style = "live · every "+m.cfg.Refresh.String(), okStyle
	}
	if m.queueErr != nil && m.queue != nil {
		state += " · queue unreachable"
	}
	// The state matters more than the key list: the keys give way first.
	if lipgloss.Width(keys)+3+lipgloss.Width(state) > m.width {
		keys = "? help"
	}
	return dimStyle.Render(keys) + "   " + style.Render(clip(state, max(m.width-lipgloss.Width(keys)-3, 10)))
}

func (m Model) helpView() string {
	text := titleStyle.Render("wrctl top — keys") + "\n\n" +
		"  q, ctrl+c   quit\n" +
		"  p           pause / resume refreshing\n" +
		"  s           sort by the next column\n" +
		"  S           reverse the sort\n" +
		"  /           filter events by id as you type (enter keeps it, esc clears)\n" +
		"  ?           this help (any key closes it)\n\n" +
		"  ADMIT/s and JOIN/s come from the change between refreshes; EST WAIT is what a newcomer would wait at the recent admission rate. " +
		"An event with a schedule, a queueing method or a rate cap shows its state below its row: the pre-queue and the countdown to its start, live or ended, and the limit that binds (capacity or rate). " +
		"Queue counts are SQS's approximate attributes. Events with nothing live are dimmed, and leave the list once the server forgets them."
	w := m.width - 2 // the border
	if w < 20 {
		w = 78
	}
	return boxStyle.Width(w).Render(text)
}

// gauge draws used/total as a bar with a percentage: green, yellow near
// full, red beyond capacity.
func gauge(used, total int64, w int) string {
	if total <= 0 {
		return pad("", w)
	}
	frac := float64(used) / float64(total)
	bar := w - 5
	filled := int(math.Round(min(frac, 1) * float64(bar)))
	s := strings.Repeat("█", filled) + strings.Repeat("░", bar-filled)
	pct := lpad(fmt.Sprintf("%d%%", int(math.Round(frac*100))), 4)
	style := okStyle
	switch {
	case frac > 1:
		style = badStyle
	case frac >= 0.9:
		style = warnStyle
	}
	return style.Render(s) + " " + pct
}

var ticks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last w values scaled to their maximum.
func sparkline(vs []int64, w int) string {
	if len(vs) > w {
		vs = vs[len(vs)-w:]
	}
	var top int64
	for _, v := range vs {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range vs {
		i := 0
		if top > 0 {
			i = int(float64(v) / float64(top) * float64(len(ticks)-1))
		}
		b.WriteRune(ticks[i])
	}
	return pad(b.String(), w)
}

func pad(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func lpad(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

func truncate(s string, w int) string {
	if len(s) <= w {
		return s
	}
	return s[:w-1] + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip cuts s to w cells at a word boundary, marking the cut with "…".
func clip(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	r := []rune(s)
	if len(r) > w-1 {
		r = r[:w-1]
	}
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > w/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:") + "…"
}
