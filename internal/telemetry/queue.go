package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
)

// Queue measures every call of a queue.Queue (SQS or the memory queue).
func (m *Metrics) Queue(q queue.Queue) queue.Queue { return &instrumentedQueue{q: q, m: m} }

type instrumentedQueue struct {
	q queue.Queue
	m *Metrics
}

func (iq *instrumentedQueue) observe(action string, start time.Time, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, context.Canceled):
		outcome = "canceled"
	case err != nil:
		outcome = "error"
	}
	iq.m.sqsRequests.WithLabelValues(action, outcome).Inc()
	iq.m.sqsDuration.WithLabelValues(action).Observe(time.Since(start).Seconds())
}

func (iq *instrumentedQueue) Send(ctx context.Context, msgs []queue.Outgoing) ([]error, error) {
	start := time.Now()
	failed, err := iq.q.Send(ctx, msgs)
	seen := err
	if seen == nil {
		seen = errors.Join(failed...) // a message the queue refused
	}
	iq.observe("send", start, seen)
	return failed, err
}

func (iq *instrumentedQueue) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]queue.Message, error) {
	start := time.Now()
	msgs, err := iq.q.Receive(ctx, max, wait, visibility)
	iq.observe("receive", start, err)
	return msgs, err
}

func (iq *instrumentedQueue) Delete(ctx context.Context, msgs []queue.Message) error {
	start := time.Now()
	err := iq.q.Delete(ctx, msgs)
	iq.observe("delete", start, err)
	return err
}

func (iq *instrumentedQueue) ChangeVisibility(ctx context.Context, msgs []queue.Message, visibility time.Duration) error {
	start := time.Now()
	err := iq.q.ChangeVisibility(ctx, msgs, visibility)
	iq.observe("change_visibility", start, err)
	return err
}

func (iq *instrumentedQueue) DeadLetter(ctx context.Context, msgs []queue.Message) error {
	start := time.Now()
	err := iq.q.DeadLetter(ctx, msgs)
	iq.observe("dead_letter", start, err)
	return err
}

func (iq *instrumentedQueue) ReceiveDead(ctx context.Context, max int, visibility time.Duration) ([]queue.Message, error) {
	start := time.Now()
	msgs, err := iq.q.ReceiveDead(ctx, max, visibility)
	iq.observe("receive_dead", start, err)
	return msgs, err
}

func (iq *instrumentedQueue) DeleteDead(ctx context.Context, msgs []queue.Message) error {
	start := time.Now()
	err := iq.q.DeleteDead(ctx, msgs)
	iq.observe("delete_dead", start, err)
	return err
}

func (iq *instrumentedQueue) MaxReceiveCount(ctx context.Context) (int, error) {
	return iq.q.MaxReceiveCount(ctx)
}

func (iq *instrumentedQueue) FIFO() bool { return iq.q.FIFO() }

func (iq *instrumentedQueue) Ping(ctx context.Context) error {
	start := time.Now()
	err := iq.q.Ping(ctx)
	iq.observe("ping", start, err)
	return err
}
