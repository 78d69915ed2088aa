// Package intake is the join protocol: the store takes the join, the
// batching sender puts its message on the admission queue, and the store
// records that it is there (or forgets the join when it is not). Its one
// promise is the "no loss" invariant: a join it reports as accepted names a
// live session whose message is on the queue and known to be.
package intake

import (
	"context"
	"errors"
	"fmt"

	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/room"
)

// Errors Join returns besides the store's own (room.ErrLineFull,
// room.ErrAlreadyJoined). Each means nothing was accepted: the caller may
// retry with the same key.
var (
	// ErrStore: the store could not take the join.
	ErrStore = errors.New("the session store cannot take joins")
	// ErrQueue: the join's message could not be sent.
	ErrQueue = errors.New("the admission queue cannot be reached")
	// ErrUnconfirmed: the message was sent but the store could not record
	// it (the session may have been withdrawn meanwhile by a concurrent join
	// of the same user whose send failed).
	ErrUnconfirmed = errors.New("the join could not be confirmed")
)

// Store is what the intake needs of the session store.
type Store interface {
	Join(ctx context.Context, req room.JoinRequest) (room.Session, bool, error)
	MarkEnqueued(ctx context.Context, eventID, id string) error
	Abort(ctx context.Context, eventID, id string) error
}

// Sender batches messages; *queue.Sender is one.
type Sender interface {
	Enqueue(out queue.Outgoing) (*queue.Ticket, error)
}

// Service takes joins.
type Service struct {
	st     Store
	sender Sender
	// Groups is how many message groups an event's wake-ups spread over;
	// 0 is queue.GroupsPerEvent.
	Groups queue.Groups
}

// New returns an intake on st that sends through sender.
func New(st Store, sender Sender) *Service { return &Service{st: st, sender: sender} }

// Join places req's user in line, or hands back the place it holds. It
// runs to the end whatever ctx says about the caller (use a context that is
// not cancelled with the request): the store and the queue must agree.
func (s *Service) Join(ctx context.Context, req room.JoinRequest) (sess room.Session, created bool, err error) {
	// The store call comes first and waits for no send: admission follows
	// the store's tickets, not the queue's order, so joins of one event
	// need not wait for each other.
	sess, created, err = s.st.Join(ctx, req)
	switch {
	case room.Refused(err):
		return room.Session{}, false, err
	case err != nil:
		return room.Session{}, false, fmt.Errorf("%w: %w", ErrStore, err)
	case sess.Enqueued || sess.Status != room.StatusWaiting:
		return sess, created, nil // the place it already holds, message and all
	}
	// A new session, or one whose earlier send never completed: the dedup
	// id (the session id) keeps a resend from doubling it.
	out := s.Groups.Outgoing(queue.Body{V: queue.BodyVersion, SessionID: sess.ID, EventID: sess.EventID, Seq: sess.Seq})
	ticket, err := s.sender.Enqueue(out)
	if err == nil {
		err = ticket.Wait()
	}
	if err != nil {
		if created {
			if aerr := s.st.Abort(ctx, sess.EventID, sess.ID); aerr != nil {
				err = errors.Join(err, fmt.Errorf("abort the session: %w", aerr))
			}
		}
		return room.Session{}, false, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	if err := s.st.MarkEnqueued(ctx, sess.EventID, sess.ID); err != nil {
		return room.Session{}, false, fmt.Errorf("%w: %w", ErrUnconfirmed, err)
	}
	sess.Enqueued = true
	return sess, created, nil
}
