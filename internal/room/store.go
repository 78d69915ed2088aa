package room

import (
	"context"
	"time"
)

// Store keeps sessions and per-event counts. Every method is atomic with
// respect to every other call on any replica sharing the store: capacity is
// enforced here, so any number of granters stay safe.
//
// A store takes the time from its own clock (the room's one clock), never
// from its caller; every method first ends the sessions of the event it
// touches whose deadline has passed.
type Store interface {
	// Join creates a WAITING session, or hands back the live session the
	// (event, user) pair already holds, with created false, when the
	// request proves it made that join (JoinRequest.MayRejoin); otherwise
	// ErrAlreadyJoined. It refuses a new session with ErrLineFull while the
	// event's line is at MaxWaiting.
	Join(ctx context.Context, req JoinRequest) (s Session, created bool, err error)
	// MarkEnqueued records that the session's message is on the queue, and
	// wakes the event's granters (Freed) when the session heads the line;
	// ErrNotFound if the session is gone (aborted), in which case the join
	// must not be answered as accepted.
	MarkEnqueued(ctx context.Context, eventID, id string) error
	// Abort removes a WAITING session whose message never reached the queue,
	// so a failed join leaves nothing behind. Unknown ids are ignored.
	Abort(ctx context.Context, eventID, id string) error
	// Get returns the session, with its position while WAITING, or ErrNotFound.
	Get(ctx context.Context, id string) (Session, error)
	// Touch is a status poll: it counts as a sign of life for a WAITING
	// session, then returns the session like Get.
	Touch(ctx context.Context, id string) (Session, error)
	// Heartbeat keeps a WAITING or ACTIVE session alive; ErrEnded once it has ended.
	Heartbeat(ctx context.Context, id string) (Session, error)
	// Leave ends a live session and frees its slot at once. Leaving an ended
	// session changes nothing and returns it.
	Leave(ctx context.Context, id string) (Session, error)
	// Grant is called with a message of the event's admission queue, which
	// names the session id it was sent for (that session's message is
	// therefore on the queue: Grant records it as enqueued). It admits the
	// event's lowest-ticket WAITING session while the event has room:
	// admission follows ticket order whatever order the messages arrive
	// in, and a message is a durable wake-up for its event rather than a
	// pass for one session.
	Grant(ctx context.Context, eventID, id string) (GrantResult, error)
	// Sweep ends every session whose deadline has passed, in the events
	// that have live sessions, forgets events idle past their retention,
	// and returns how many sessions ended. One event's failure does not
	// stop the others.
	Sweep(ctx context.Context) (int, error)
	// Stats returns the event's counts.
	Stats(ctx context.Context, eventID string) (EventStats, error)
	// Events lists the ids of the events with live sessions, recently idle
	// ones and those with runtime settings, sorted.
	Events(ctx context.Context) ([]string, error)
	// Settings returns an event's runtime settings and whether it has any.
	Settings(ctx context.Context, eventID string) (Settings, bool, error)
	// PutSettings replaces an event's runtime settings; every replica applies
	// them at its next operation on the event, and granters holding the
	// event's line are woken (raised capacity admits at once).
	PutSettings(ctx context.Context, eventID string, s Settings) error
	// Shuffle returns the record of the event's last start (the pre-queue's
	// shuffle) and whether there was one.
	Shuffle(ctx context.Context, eventID string) (Shuffle, bool, error)
	// Audit returns at most max entries of the event's audit log from the
	// one numbered from (1-based), Seq set, in the one order every replica
	// sees; none past its end. The log lasts as long as the event.
	Audit(ctx context.Context, eventID string, from int64, max int) ([]AuditEntry, error)
	// Freed delivers the id of an event each time admission in it may
	// proceed: a slot frees (leave or expiry), its settings change, or the
	// lowest ticket's message is confirmed on the queue (a granter may be
	// Blocked on it), so a granter holding the event's messages admits at
	// once. Deliveries may coalesce; the channel closes on Close.
	Freed() <-chan string
	// Changes delivers, on every replica sharing the store, news of
	// WAITING sessions that stopped waiting (admitted by Grant, or ended)
	// and of events whose line changed as a whole (new settings, the
	// start's shuffle), so that status requests held for a change answer
	// at once. A join admitted at once is not news: its caller has the
	// answer. Deliveries may be dropped when the reader lags (a held
	// request then answers at its timeout); the channel closes on Close.
	Changes() <-chan Change
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources; safe to call twice.
	Close() error
}

// Change is one piece of news Store.Changes delivers.
type Change struct {
	EventID string
	// SessionID is the session that stopped waiting; empty for a change
	// of the whole event's line.
	SessionID string
	// Status is the session's new status (ACTIVE, LEFT or EXPIRED).
	Status Status
}

// Retention bounds what a store keeps of the past.
type Retention struct {
	// Ended keeps an ended session answering status (as LEFT or EXPIRED)
	// this long. Default 10m.
	Ended time.Duration
	// Event keeps an event with no live session and no runtime settings
	// (its counters, its place in the event list) this long. Default 10m.
	Event time.Duration
	// EnqueueGrace is how long a WAITING session may stay without its
	// message confirmed on the queue before Grant gives up on it: its join
	// was never answered (the replica died between the store and the
	// queue), and it must not block the line for ever. It must exceed the
	// time a join may spend sending its message. Default 30s.
	EnqueueGrace time.Duration
}

// WithDefaults fills in the zero fields.
func (r Retention) WithDefaults() Retention {
	if r.Ended <= 0 {
		r.Ended = 10 * time.Minute
	}
	if r.Event <= 0 {
		r.Event = 10 * time.Minute
	}
	if r.EnqueueGrace <= 0 {
		r.EnqueueGrace = 30 * time.Second
	}
	return r
}

// GrantOutcome is what Grant did.
type GrantOutcome int

// Grant outcomes. Admitted and Skipped mean the store has recorded the
// outcome and the message may be deleted; Full and Blocked mean hold it.
const (
	// Admitted: the event's lowest-ticket WAITING session became ACTIVE now.
	Admitted GrantOutcome = iota + 1
	// Skipped: nobody waits in the event; the message has no one left to
	// admit (its session was admitted through another message, or ended).
	Skipped
	// Full: the event is at capacity or paused; hold the message and try again.
	Full
	// Blocked: the lowest ticket's message is not yet confirmed on the
	// queue (its join is still sending); hold and try again shortly, so
	// that no later ticket overtakes it.
	Blocked
)

func (o GrantOutcome) String() string {
	switch o {
	case Admitted:
		return "admitted"
	case Blocked:
		return "blocked"
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
	// sessions ends on its own unless it heartbeats; when Blocked, when the
	// blocking session's grace runs out; zero if neither applies.
	RetryAt time.Time
}

// EventStats are one event's counts.
type EventStats struct {
	EventID string
	// Capacity and Paused are the effective settings.
	Capacity int
	Paused   bool
	// Policy is the event's effective policy, configured and runtime
	// settings merged by the store: the one source the admin API shows.
	Policy  Policy
	Active  int64
	Waiting int64
	// Joined counts every session ever created for the event.
	Joined   int64
	Admitted int64
	Left     int64
	Expired  int64
	// ExpiredBy splits Expired by reason (abandoned, heartbeat, max_active).
	ExpiredBy map[EndReason]int64
	// PeakActive is the most sessions ever ACTIVE at once, as the store
	// counted them at each admission. It is the store's own record, kept by
	// the code that enforces capacity, so it cannot reveal a breach of
	// that code: audits observe concurrency independently.
	PeakActive int64
	// AdmissionRate is the recent admissions per second (see Rate).
	AdmissionRate float64
	// PreQueued counts the WAITING sessions in the pre-queue (a part of
	// Waiting: they have no position until the start).
	PreQueued int64
	// Now is the room's time of the stats, to read the schedule by.
	Now time.Time
	// Shuffled is when the last start's shuffle ran, ShuffledCount how many
	// it ordered.
	Shuffled      time.Time
	ShuffledCount int64
}

// Phase is where the event stands in its schedule.
func (s EventStats) Phase() Phase { return s.Policy.Phase(s.Now) }

// Binding names the limit that holds admission back: "capacity" while the
// event is full, "rate" while people wait under a newUsersPerMinute cap
// with room to spare, "" when neither binds (nobody waits, the room is open,
// or it has not started: the start binds).
func (s EventStats) Binding() string {
	switch {
	case s.Policy.Method == MethodPassthrough, s.Phase() != PhaseLive:
		return ""
	case s.Active >= int64(s.Policy.Capacity) && s.Waiting > 0:
		return "capacity"
	case s.Policy.NewUsersPerMinute > 0 && s.Waiting > 0:
		return "rate"
	}
	return ""
}
