package tui

import (
	"context"
	"errors"
	"time"

	"github.com/wrctl/wrctl/internal/api"
)

// Snapshot is one reading of the room, for `wrctl top --once`.
type Snapshot struct {
	Server string           `json:"server"`
	At     time.Time        `json:"at"`
	Events []api.EventStats `json:"events"`
	// Total is how many events the server has; Events may list fewer.
	Total int `json:"total"`
	// Queue is nil when no queue is watched or it could not be read.
	Queue      *QueueDepths `json:"queue,omitempty"`
	QueueError string       `json:"queueError,omitempty"`
}

// Read takes one snapshot; a server error fails it, a queue error is noted.
func Read(ctx context.Context, server string, src Source, qsrc QueueSource) (Snapshot, error) {
	s := Snapshot{Server: server, At: time.Now().UTC()}
	l, err := src.Events(ctx)
	if err != nil {
		return s, err
	}
	s.Events, s.Total = l.Events, l.Total
	if qsrc != nil {
		d, err := qsrc.Depths(ctx)
		if err != nil {
			s.QueueError = err.Error()
		} else {
			s.Queue = &d
		}
	}
	return s, nil
}

// Text renders a snapshot as the dashboard would show it, at width columns
// and with every event.
func (s Snapshot) Text(width int) string {
	m := New(Config{Server: s.Server}, nil, nil)
	m.Now = func() time.Time { return s.At }
	m.width, m.height = width, 2*len(s.Events)+12 // a row and its state line each
	m.once = true
	m.applyStats(StatsMsg{At: s.At, List: api.EventList{Events: s.Events, Total: s.Total}})
	if s.Queue != nil {
		m.queue, m.lastQueue = s.Queue, s.At
	} else if s.QueueError != "" {
		m.queueErr = errors.New(s.QueueError)
	}
	return m.View()
}
