package room

import (
	"context"
	"time"
)

// Store keeps sessions and per-event counts. Every method is atomic with
// respect to every other call on any replica sharing the store: capacity is
// enforced here, so any number of granters stay safe.
//
// Methods take the current time from the caller so that the lifecycle rules
// are testable without sleeping; every method first ends the sessions whose
// deadline has passed.
type Store interface {
	// Join creates a WAITING session for (eventID, userID), or returns the
	// live session that pair already holds with created false. It refuses a
	// new session with ErrLineFull while the event's line is at MaxWaiting.
	Join(ctx context.Context, eventID, userID string, now time.Time) (s Session, created bool, err error)
	// MarkEnqueued records that the session's message is on the queue.
	MarkEnqueued(ctx context.Context, eventID, id string) error
	// Abort removes a WAITING session whose message never reached the queue,
	// so a failed join leaves nothing behind. Unknown ids are ignored.
	Abort(ctx context.Context, eventID, id string) error
	// Get returns the session, with its position while WAITING, or ErrNotFound.
	Get(ctx context.Context, id string, now time.Time) (Session, error)
	// Touch is a status poll: it counts as a sign of life for a WAITING
	// session, then returns the session like Get.
	Touch(ctx context.Context, id string, now time.Time) (Session, error)
	// Heartbeat keeps a WAITING or ACTIVE session alive; ErrEnded once it has ended.
	Heartbeat(ctx context.Context, id string, now time.Time) (Session, error)
	// Leave ends a live session and frees its slot at once. Leaving an ended
	// session changes nothing and returns it.
	Leave(ctx context.Context, id string, now time.Time) (Session, error)
	// Grant decides the fate of a session whose message reached the head of
	// the queue: admit it while the event has room, skip it if it ended.
	Grant(ctx context.Context, eventID, id string, now time.Time) (GrantResult, error)
	// Sweep ends every session whose deadline has passed and returns how many.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Stats returns the event's counts.
	Stats(ctx context.Context, eventID string, now time.Time) (EventStats, error)
	// Events lists the ids of the events anyone has joined or that have
	// settings, sorted.
	Events(ctx context.Context) ([]string, error)
	// Settings returns an event's runtime settings and whether it has any.
	Settings(ctx context.Context, eventID string) (Settings, bool, error)
	// PutSettings replaces an event's runtime settings; every replica applies
	// them at its next operation on the event, and granters holding the
	// event's line are woken (raised capacity admits at once).
	PutSettings(ctx context.Context, eventID string, s Settings) error
	// Freed delivers the id of an event each time one of its slots frees
	// (leave or expiry), so a granter holding that event's head can admit it
	// at once. Deliveries may coalesce; the channel closes on Close.
	Freed() <-chan string
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources; safe to call twice.
	Close() error
}

// GrantOutcome is what Grant did.
type GrantOutcome int

// Grant outcomes. Every outcome but Full means the store has recorded the
// session's fate and its message may be deleted.
const (
	// Admitted: the session became ACTIVE now.
	Admitted GrantOutcome = iota + 1
	// AlreadyActive: a redelivered message of a session admitted before.
	AlreadyActive
	// Skipped: the session ended while waiting, or is unknown.
	Skipped
	// Full: the event is at capacity; hold the message and try again.
	Full
)

func (o GrantOutcome) String() string {
	switch o {
	case Admitted:
		return "admitted"
	case AlreadyActive:
		return "already_active"
	case Skipped:
		return "skipped"
	case Full:
		return "full"
	}
	return "unknown"
}

// GrantResult is Grant's answer.
type GrantResult struct {
	Outcome GrantOutcome
	Session Session
	// RetryAt, when Full, is the earliest time one of the event's ACTIVE
	// sessions ends on its own unless it heartbeats; zero if none will.
	RetryAt time.Time
}

// EventStats are one event's counts.
type EventStats struct {
	EventID string
	// Capacity and Paused are the effective settings.
	Capacity int
	Paused   bool
	Active   int64
	Waiting  int64
	// Joined counts every session ever created for the event.
	Joined   int64
	Admitted int64
	Left     int64
	Expired  int64
	// ExpiredBy splits Expired by reason (abandoned, heartbeat, max_active).
	ExpiredBy map[EndReason]int64
	// PeakActive is the most sessions ever ACTIVE at once, as the store saw
	// it at each admission: the capacity audit.
	PeakActive int64
	// AdmissionRate is the recent admissions per second (see Rate).
	AdmissionRate float64
}
