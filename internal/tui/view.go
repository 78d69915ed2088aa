package tui

import (
	"fmt"
	"math"
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

// Fixed column widths: event, capacity, active count, gauge, waiting,
// admit/s, join/s, est wait.
const (
	wEvent = 18
	wNum   = 8
	wGauge = 12
	wRate  = 9
	wWait  = 9
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

	spark := m.width - (wEvent + 2*wNum + wGauge + wNum + 2*wRate + wWait + 9)
	sparkW := 0
	if spark >= 16 && !m.once {
		sparkW = min(spark/2-1, 40)
	}
	b.WriteString(headStyle.Render(m.header(sparkW)) + "\n")

	rows := m.visible()
	room := m.height - 8
	if m.filtering || m.filter != "" {
		room--
	}
	shown := rows
	if room >= 1 && len(shown) > room {
		shown = shown[:room-1]
	}
	for _, r := range shown {
		b.WriteString(m.rowLine(r, sparkW) + "\n")
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

func (m Model) header(sparkW int) string {
	dir := "↑"
	if m.sortDesc {
		dir = "↓"
	}
	name := func(i int, s string, w int, left bool) string {
		if i == m.sortCol {
			s += dir
		}
		if left {
			return pad(s, w)
		}
		return lpad(s, w)
	}
	h := name(0, "EVENT", wEvent, true) + " " + name(1, "CAP", wNum, false) + " " + name(2, "ACTIVE", wNum, false) + " " +
		pad("", wGauge) + " " + name(3, "WAITING", wNum, false) + " " + name(4, "ADMIT/s", wRate, false) + " " +
		name(5, "JOIN/s", wRate, false) + " " + name(6, "EST WAIT", wWait, false)
	if sparkW > 0 {
		h += "  " + pad("WAITING", sparkW) + " " + pad("ACTIVE", sparkW)
	}
	return h
}

func (m Model) rowLine(r *row, sparkW int) string {
	st := r.st
	joins := "-"
	if r.joinRate >= 0 {
		joins = fmt.Sprintf("%.1f", r.joinRate)
	}
	wait := "-"
	if st.EstimatedWaitSeconds != nil {
		wait = waitString(*st.EstimatedWaitSeconds)
	}
	line := pad(truncate(st.EventID, wEvent), wEvent) + " " + lpad(fmt.Sprint(st.Capacity), wNum) + " " +
		lpad(fmt.Sprint(st.Active), wNum) + " " + gauge(st.Active, int64(st.Capacity), wGauge) + " " +
		lpad(fmt.Sprint(st.Waiting), wNum) + " " + lpad(fmt.Sprintf("%.1f", r.admissionRate()), wRate) + " " +
		lpad(joins, wRate) + " " + lpad(wait, wWait)
	if sparkW > 0 {
		line += "  " + sparkline(r.waiting, sparkW) + " " + sparkline(r.active, sparkW)
	}
	return line
}

func (m Model) queueLine() string {
	switch {
	case m.qsrc == nil && m.queue == nil && m.queueErr == nil:
		return dimStyle.Render("queue  not watched (give --queue-url to see SQS depths)")
	case m.queue == nil && m.queueErr != nil:
		return badStyle.Render("queue  unreachable: " + oneLine(m.queueErr.Error()))
	case m.queue == nil:
		return dimStyle.Render("queue  reading…")
	}
	q := m.queue
	s := fmt.Sprintf("queue  visible ~%d  in flight ~%d  delayed ~%d", q.Queue.Visible, q.Queue.InFlight, q.Queue.Delayed)
	if q.DLQ != nil {
		dlq := fmt.Sprintf("   DLQ visible ~%d  in flight ~%d", q.DLQ.Visible, q.DLQ.InFlight)
		if q.DLQ.Visible+q.DLQ.InFlight > 0 {
			dlq = badStyle.Render(dlq)
		}
		s += dlq
	} else {
		s += "   no DLQ"
	}
	note := "   (approximate; oldest-message age: see CloudWatch)"
	if lipgloss.Width(s)+lipgloss.Width(note) > m.width {
		note = "   (approximate)"
	}
	return s + dimStyle.Render(note)
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
	keys := dimStyle.Render("q quit · p pause · s/S sort · / filter · ? help")
	var state string
	switch {
	case m.statsErr != nil:
		state = badStyle.Render("server unreachable: " + oneLine(m.statsErr.Error()) + " (retrying)")
		if !m.lastStats.IsZero() {
			state += badStyle.Render(fmt.Sprintf(" · data from %s ago", now.Sub(m.lastStats).Round(time.Second)))
		}
	case m.lastStats.IsZero():
		state = dimStyle.Render("connecting…")
	case now.Sub(m.lastStats) > 3*m.cfg.Refresh:
		state = warnStyle.Render(fmt.Sprintf("stale: last update %s ago", now.Sub(m.lastStats).Round(time.Second)))
	default:
		state = okStyle.Render("live") + dimStyle.Render(fmt.Sprintf(" · every %s", m.cfg.Refresh))
	}
	if m.queueErr != nil && m.queue != nil {
		state += badStyle.Render(" · queue unreachable (retrying)")
	}
	return keys + "   " + state
}

func (m Model) helpView() string {
	text := titleStyle.Render("wrctl top — keys") + "\n\n" +
		"  q, ctrl+c   quit\n" +
		"  p           pause / resume refreshing\n" +
		"  s           sort by the next column (" + strings.Join(columns, ", ") + ")\n" +
		"  S           reverse the sort\n" +
		"  /           filter events by id (enter applies, esc clears)\n" +
		"  ?           this help (any key closes it)\n\n" +
		"  ADMIT/s and JOIN/s come from the change between refreshes;\n" +
		"  EST WAIT is what a newcomer would wait at the recent admission rate.\n" +
		"  Queue counts are SQS's approximate attributes."
	return boxStyle.Render(text)
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

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 80 {
		s = s[:79] + "…"
	}
	return s
}
