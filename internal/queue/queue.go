// Package queue is the admission queue: the interface the server and the
// granter use, the message body, and a Sender that batches joins.
// Backends live in the memqueue (embedded) and sqsqueue (Amazon SQS) packages.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxBatch is the most messages one SQS request may carry.
const MaxBatch = 10

// Body is the message body: small, versioned JSON.
type Body struct {
	V         int    `json:"v"`
	SessionID string `json:"sessionId"`
	EventID   string `json:"eventId"`
	Seq       int64  `json:"seq"`
}

// BodyVersion is the body version this build writes and reads.
const BodyVersion = 1

// Encode returns the body as JSON.
func (b Body) Encode() string {
	out, _ := json.Marshal(b) // cannot fail: strings and ints only
	return string(out)
}

// DecodeBody parses a message body, refusing versions it does not know.
func DecodeBody(s string) (Body, error) {
	var b Body
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return Body{}, fmt.Errorf("decode message body: %w", err)
	}
	if b.V != BodyVersion {
		return Body{}, fmt.Errorf("decode message body: unknown version %d", b.V)
	}
	if b.SessionID == "" || b.EventID == "" {
		return Body{}, errors.New("decode message body: missing sessionId or eventId")
	}
	return b, nil
}

// Outgoing is a message to send: GroupID orders it (FIFO message group),
// DedupID drops a resend within the queue's deduplication window.
type Outgoing struct {
	Body    Body
	GroupID string
	DedupID string
}

// GroupsPerEvent is how many FIFO message groups an event's wake-ups are
// spread over. A message is a wake-up for its event, and the store admits
// in ticket order whatever order messages arrive in, so the groups do not
// carry fairness; they lift the ceilings of one group: a receive returns a
// group's messages only once its earlier ones are deleted, and SQS allows
// one group about 300 calls a second. With 8 groups one event can be
// drained by 8 receivers at once. On real SQS a FIFO queue in high
// throughput mode takes 3,000 batched messages a second per partition
// (more with more partitions), so 8 groups are far from its limit; when
// SQS throttles, a send fails (the join answers 503 with Retry-After) and
// a receive backs off, doubling up to 10s. It is the default of Groups.
const GroupsPerEvent = 8

// MaxGroupsPerEvent keeps a group id within SQS's 128 characters.
const MaxGroupsPerEvent = 1000

// Groups is how many message groups an event's wake-ups spread over; 0 is
// GroupsPerEvent.
type Groups int

// For is the message group of an event's ticket seq.
func (g Groups) For(eventID string, seq int64) string {
	k := int64(g)
	if k <= 0 {
		k = GroupsPerEvent
	}
	return eventID + "#" + strconv.FormatInt(((seq%k)+k)%k, 10)
}

// Outgoing returns the message for a session: group = one of its event's
// groups, dedup = session.
func (g Groups) Outgoing(b Body) Outgoing {
	return Outgoing{Body: b, GroupID: g.For(b.EventID, b.Seq), DedupID: b.SessionID}
}

// GroupFor is the message group of an event's ticket seq, with the default
// number of groups.
func GroupFor(eventID string, seq int64) string { return Groups(0).For(eventID, seq) }

// OutgoingFor returns the message for a session with the default number of
// groups.
func OutgoingFor(b Body) Outgoing { return Groups(0).Outgoing(b) }

// Message is a received message.
type Message struct {
	// Handle identifies this receipt for Delete and ChangeVisibility.
	Handle string
	// ID is the queue's id of the message.
	ID string
	// Body is the body decoded, unless Err is set.
	Body Body
	Err  error
	// Raw is the body as received, kept for the dead-letter queue when it
	// cannot be decoded.
	Raw          string
	GroupID      string
	ReceiveCount int
}

// Queue is an admission queue.
type Queue interface {
	// Send sends up to MaxBatch messages in one request, in order. The
	// returned slice holds one error (or nil) per message; err is for the
	// request as a whole.
	Send(ctx context.Context, msgs []Outgoing) (failed []error, err error)
	// Receive waits up to wait for at most max messages, hiding them from
	// other receivers for visibility.
	Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]Message, error)
	// Delete removes received messages.
	Delete(ctx context.Context, msgs []Message) error
	// ChangeVisibility sets how long received messages stay hidden from now;
	// zero makes them visible at once.
	ChangeVisibility(ctx context.Context, msgs []Message, visibility time.Duration) error
	// DeadLetter moves received messages to the dead-letter queue at once
	// (a message that can never be processed must not block its group
	// until its receive count runs out); without one they are dropped.
	DeadLetter(ctx context.Context, msgs []Message) error
	// ReceiveDead takes up to max messages of the dead-letter queue without
	// waiting, hiding them for visibility; none when there is no such queue.
	ReceiveDead(ctx context.Context, max int, visibility time.Duration) ([]Message, error)
	// DeleteDead removes messages taken with ReceiveDead.
	DeleteDead(ctx context.Context, msgs []Message) error
	// MaxReceiveCount is how many receives a message survives before the
	// queue moves it to its dead-letter queue; 0 when it never does.
	MaxReceiveCount(ctx context.Context) (int, error)
	// FIFO reports whether the queue keeps order within a message group.
	FIFO() bool
	// Ping reports whether the queue is reachable.
	Ping(ctx context.Context) error
}
