package tui

import (
	"bytes"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
)

// TestProgramRuns drives the real Bubble Tea program at a fixed size with
// colours off: it reads its source, renders the event, and quits on q.
func TestProgramRuns(t *testing.T) {
	src := staticSource{list: list(stats("launch", 100, 42, 7, 49, 42))}
	m := New(Config{Server: "http://room", Refresh: 200 * time.Millisecond}, src, nil)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 24))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("launch")) && bytes.Contains(b, []byte("42%"))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := tm.FinalModel(t).(Model)
	if final.width != 100 || final.height != 24 {
		t.Fatalf("final size %dx%d", final.width, final.height)
	}
	if r := final.rows["launch"]; r == nil || r.st.Active != 42 {
		t.Fatalf("final rows = %v", final.rows)
	}
}
