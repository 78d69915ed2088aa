package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Store measures every call of a room.Store.
func (m *Metrics) Store(st room.Store) room.Store { return &store{st: st, m: m} }

type store struct {
	st room.Store
	m  *Metrics
}

// observe records a call; a not-found, an ended session and a refused
// join are the store's answers, not its failures.
func (s *store) observe(op string, start time.Time, err error) {
	outcome := "ok"
	if err != nil && !errors.Is(err, room.ErrNotFound) && !errors.Is(err, room.ErrEnded) && !room.Refused(err) {
		outcome = "error"
	}
	s.m.storeRequests.WithLabelValues(op, outcome).Inc()
	s.m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *store) Join(ctx context.Context, req room.JoinRequest) (room.Session, bool, error) {
	start := time.Now()
	sess, created, err := s.st.Join(ctx, req)
	s.observe("join", start, err)
	return sess, created, err
}

func (s *store) MarkEnqueued(ctx context.Context, eventID, id string) error {
	start := time.Now()
	err := s.st.MarkEnqueued(ctx, eventID, id)
	s.observe("mark_enqueued", start, err)
	return err
}

func (s *store) Abort(ctx context.Context, eventID, id string) error {
	start := time.Now()
	err := s.st.Abort(ctx, eventID, id)
	s.observe("abort", start, err)
	return err
}

func (s *store) Get(ctx context.Context, id string) (room.Session, error) {
	start := time.Now()
	sess, err := s.st.Get(ctx, id)
	s.observe("get", start, err)
	return sess, err
}

func (s *store) Touch(ctx context.Context, id string) (room.Session, error) {
	start := time.Now()
	sess, err := s.st.Touch(ctx, id)
	s.observe("touch", start, err)
	return sess, err
}

func (s *store) Heartbeat(ctx context.Context, id string) (room.Session, error) {
	start := time.Now()
	sess, err := s.st.Heartbeat(ctx, id)
	s.observe("heartbeat", start, err)
	return sess, err
}

func (s *store) Leave(ctx context.Context, id string) (room.Session, error) {
	start := time.Now()
	sess, err := s.st.Leave(ctx, id)
	s.observe("leave", start, err)
	return sess, err
}

func (s *store) Grant(ctx context.Context, eventID, id string) (room.GrantResult, error) {
	start := time.Now()
	r, err := s.st.Grant(ctx, eventID, id)
	s.observe("grant", start, err)
	return r, err
}

func (s *store) Sweep(ctx context.Context) (int, error) {
	start := time.Now()
	n, err := s.st.Sweep(ctx)
	s.observe("sweep", start, err)
	return n, err
}

func (s *store) Stats(ctx context.Context, eventID string) (room.EventStats, error) {
	start := time.Now()
	st, err := s.st.Stats(ctx, eventID)
	s.observe("stats", start, err)
	return st, err
}

func (s *store) Events(ctx context.Context) ([]string, error) {
	start := time.Now()
	ids, err := s.st.Events(ctx)
	s.observe("events", start, err)
	return ids, err
}

func (s *store) Settings(ctx context.Context, eventID string) (room.Settings, bool, error) {
	start := time.Now()
	st, ok, err := s.st.Settings(ctx, eventID)
	s.observe("settings", start, err)
	return st, ok, err
}

func (s *store) Shuffle(ctx context.Context, eventID string) (room.Shuffle, bool, error) {
	start := time.Now()
	sh, ok, err := s.st.Shuffle(ctx, eventID)
	s.observe("shuffle", start, err)
	return sh, ok, err
}

func (s *store) Audit(ctx context.Context, eventID string, from int64, max int) ([]room.AuditEntry, error) {
	start := time.Now()
	es, err := s.st.Audit(ctx, eventID, from, max)
	s.observe("audit", start, err)
	return es, err
}

func (s *store) PutSettings(ctx context.Context, eventID string, st room.Settings) error {
	start := time.Now()
	err := s.st.PutSettings(ctx, eventID, st)
	s.observe("put_settings", start, err)
	return err
}

func (s *store) Freed() <-chan string { return s.st.Freed() }

func (s *store) Changes() <-chan room.Change { return s.st.Changes() }

func (s *store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.st.Ping(ctx)
	s.observe("ping", start, err)
	return err
}

func (s *store) Close() error { return s.st.Close() }
