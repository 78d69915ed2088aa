// Package tui is `wrctl top`: a live terminal dashboard of a waiting room
// during an on-sale, built with Bubble Tea. The model is driven by messages
// (stats from the server, depths from the queue, ticks, keys), so tests
// feed it messages and read View.
package tui

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/wrctl/wrctl/internal/api"
)

// Source reads the server's event stats.
type Source interface {
	Events(ctx context.Context) (api.EventList, error)
}

// Depth is a queue's approximate message counts.
type Depth struct {
	Visible  int64 `json:"visible"`
	InFlight int64 `json:"inFlight"`
	Delayed  int64 `json:"delayed"`
}

// QueueDepths are the admission queue's and its DLQ's counts.
type QueueDepths struct {
	Queue Depth `json:"queue"`
	// DLQ is nil when the queue has no redrive policy.
	DLQ *Depth `json:"dlq"`
}

// QueueSource reads the queue's depths.
type QueueSource interface {
	Depths(ctx context.Context) (QueueDepths, error)
}

// Config tunes the dashboard.
type Config struct {
	// Server is shown in the header.
	Server string
	// Refresh is how often data is read. Default 1s, at least MinRefresh.
	Refresh time.Duration
	// History is how many samples the sparklines keep. Default 180.
	History int
}

// MinRefresh is the shortest refresh accepted: a dashboard must not load
// the room it watches.
const MinRefresh = 200 * time.Millisecond

// StatsMsg carries one read of the server's stats.
type StatsMsg struct {
	At   time.Time
	List api.EventList
	Err  error
}

// QueueMsg carries one read of the queue's depths.
type QueueMsg struct {
	At     time.Time
	Depths QueueDepths
	Err    error
}

// TickMsg asks for the next refresh.
type TickMsg time.Time

// Columns the table sorts by.
var columns = []string{"event", "capacity", "active", "waiting", "admit/s", "join/s", "est wait"}

// Model is the dashboard.
type Model struct {
	cfg  Config
	src  Source
	qsrc QueueSource
	// Now is the clock; time.Now unless a test sets it.
	Now func() time.Time

	width, height int
	rows          map[string]*row
	total         int // events on the server
	lastStats     time.Time
	statsErr      error
	queue         *QueueDepths
	lastQueue     time.Time
	queueErr      error

	paused    bool
	sortCol   int
	sortDesc  bool
	filter    string
	filtering bool
	input     textinput.Model
	help      bool
	// once renders a snapshot: no key hints, no liveness.
	once bool
}

type row struct {
	st        api.EventStats
	at        time.Time
	admitRate float64 // from the last two samples; -1 unknown
	joinRate  float64
	waiting   []int64
	active    []int64
}

// New returns a dashboard over src and, if not nil, qsrc.
func New(cfg Config, src Source, qsrc QueueSource) Model {
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	cfg.Refresh = max(cfg.Refresh, MinRefresh)
	if cfg.History <= 0 {
		cfg.History = 180
	}
	in := textinput.New()
	in.Prompt = "filter: "
	in.CharLimit = 64
	return Model{cfg: cfg, src: src, qsrc: qsrc, Now: time.Now, width: 100, height: 30, rows: map[string]*row{}, sortCol: 3, sortDesc: true, input: in}
}

// Init starts the first read and the refresh ticks.
func (m Model) Init() tea.Cmd {
	return tea.Batch(m.fetch(), m.tick())
}

func (m Model) tick() tea.Cmd {
	return tea.Tick(m.cfg.Refresh, func(t time.Time) tea.Msg { return TickMsg(t) })
}

// fetch reads the server and the queue, each bounded by the refresh.
func (m Model) fetch() tea.Cmd {
	timeout := max(2*m.cfg.Refresh, 2*time.Second)
	cmds := []tea.Cmd{func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		l, err := m.src.Events(ctx)
		return StatsMsg{At: m.Now(), List: l, Err: err}
	}}
	if m.qsrc != nil {
		cmds = append(cmds, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			d, err := m.qsrc.Depths(ctx)
			return QueueMsg{At: m.Now(), Depths: d, Err: err}
		})
	}
	return tea.Batch(cmds...)
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		return m.key(msg)
	case TickMsg:
		if m.paused {
			return m, m.tick()
		}
		return m, tea.Batch(m.fetch(), m.tick())
	case StatsMsg:
		if !m.paused {
			m.applyStats(msg)
		}
	case QueueMsg:
		if !m.paused {
			if msg.Err != nil {
				m.queueErr = msg.Err
			} else {
				d := msg.Depths
				m.queue, m.lastQueue, m.queueErr = &d, msg.At, nil
			}
		}
	}
	return m, nil
}

func (m Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyCtrlC {
		return m, tea.Quit
	}
	if m.filtering {
		switch k.Type {
		case tea.KeyEnter:
			m.filter, m.filtering = strings.TrimSpace(m.input.Value()), false
			m.input.Blur()
		case tea.KeyEsc:
			m.filter, m.filtering = "", false
			m.input.SetValue("")
			m.input.Blur()
		default:
			var cmd tea.Cmd
			m.input, cmd = m.input.Update(k)
			m.filter = strings.TrimSpace(m.input.Value()) // filters as you type
			return m, cmd
		}
		return m, nil
	}
	if m.help {
		m.help = false // any key closes help, q included
		return m, nil
	}
	switch k.String() {
	case "q":
		return m, tea.Quit
	case "p":
		m.paused = !m.paused
		if !m.paused {
			return m, m.fetch()
		}
	case "s":
		m.sortCol = (m.sortCol + 1) % len(columns)
	case "S":
		m.sortDesc = !m.sortDesc
	case "/":
		m.filtering = true
		m.input.SetValue(m.filter)
		return m, m.input.Focus()
	case "esc":
		m.filter = ""
	case "?":
		m.help = true
	}
	return m, nil
}

func (m *Model) applyStats(msg StatsMsg) {
	if msg.Err != nil {
		m.statsErr = msg.Err
		return
	}
	m.statsErr, m.lastStats, m.total = nil, msg.At, msg.List.Total
	seen := map[string]bool{}
	for _, st := range msg.List.Events {
		seen[st.EventID] = true
		r, ok := m.rows[st.EventID]
		if !ok {
			r = &row{admitRate: -1, joinRate: -1}
			m.rows[st.EventID] = r
		} else if dt := msg.At.Sub(r.at).Seconds(); dt > 0 {
			r.admitRate = float64(st.Admitted-r.st.Admitted) / dt
			r.joinRate = float64(st.Joined-r.st.Joined) / dt
		}
		r.st, r.at = st, msg.At
		r.waiting = appendCapped(r.waiting, st.Waiting, m.cfg.History)
		r.active = appendCapped(r.active, st.Active, m.cfg.History)
	}
	for id := range m.rows {
		if !seen[id] {
			delete(m.rows, id) // gone from the server (a restarted memory store)
		}
	}
}

func appendCapped(s []int64, v int64, n int) []int64 {
	s = append(s, v)
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// visible returns the rows that pass the filter, sorted.
func (m Model) visible() []*row {
	var out []*row
	for id, r := range m.rows {
		if m.filter == "" || strings.Contains(strings.ToLower(id), strings.ToLower(m.filter)) {
			out = append(out, r)
		}
	}
	key := func(r *row) float64 {
		switch columns[m.sortCol] {
		case "capacity":
			return float64(r.st.Capacity)
		case "active":
			return float64(r.st.Active)
		case "waiting":
			return float64(r.st.Waiting)
		case "admit/s":
			return r.admissionRate()
		case "join/s":
			return r.joinRate
		case "est wait":
			if r.st.EstimatedWaitSeconds == nil {
				return -1
			}
			return *r.st.EstimatedWaitSeconds
		}
		return 0
	}
	slices.SortFunc(out, func(a, b *row) int {
		var c int
		if columns[m.sortCol] == "event" {
			c = strings.Compare(a.st.EventID, b.st.EventID)
		} else {
			c = cmp.Compare(key(a), key(b))
		}
		if m.sortDesc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return strings.Compare(a.st.EventID, b.st.EventID) // ties in id order either way
	})
	return out
}

// admissionRate is admissions per second from the last two samples, or the
// server's own decayed rate before there are two.
func (r *row) admissionRate() float64 {
	if r.admitRate >= 0 {
		return r.admitRate
	}
	return r.st.AdmissionRate
}
