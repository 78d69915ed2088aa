// Package room holds the waiting room's domain: sessions, their lifecycle
// rules, input validation and the Store interface every backend implements.
package room

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wrctl/wrctl/internal/config"
)

// Status is where a session stands in its lifecycle.
type Status string

// The lifecycle is WAITING → ACTIVE → LEFT | EXPIRED, and WAITING → LEFT | EXPIRED.
const (
	StatusWaiting Status = "WAITING"
	StatusActive  Status = "ACTIVE"
	StatusLeft    Status = "LEFT"
	StatusExpired Status = "EXPIRED"
)

// Live reports whether the session still holds a place in line or a slot.
func (s Status) Live() bool { return s == StatusWaiting || s == StatusActive }

// EndReason says why a session ended.
type EndReason string

// Reasons a session ends; they label expiry metrics and appear in logs.
const (
	ReasonLeft      EndReason = "left"
	ReasonAbandoned EndReason = "abandoned"  // WAITING without a sign of life for waitingTTL
	ReasonHeartbeat EndReason = "heartbeat"  // ACTIVE without a heartbeat for heartbeatTTL
	ReasonMaxActive EndReason = "max_active" // ACTIVE for maxActive
	// ReasonEventEnded ends the WAITING sessions of an event past its endsAt.
	ReasonEventEnded EndReason = "event_ended"
	// ReasonRejected ends the WAITING sessions of an event whose queueing
	// method is reject (sold out).
	ReasonRejected EndReason = "rejected"
)

// Method is an event's queueing method.
type Method string

// Queueing methods.
const (
	// MethodFIFO admits in ticket order (the default).
	MethodFIFO Method = "fifo"
	// MethodRandom admits, each time, one of those waiting drawn uniformly: a lottery.
	MethodRandom Method = "random"
	// MethodPassthrough admits every join at once, without any cap: the room is open.
	MethodPassthrough Method = "passthrough"
	// MethodReject refuses joins with the event's message and ends the waiting sessions.
	MethodReject Method = "reject"
)

// Methods lists the queueing methods.
var Methods = []Method{MethodFIFO, MethodRandom, MethodPassthrough, MethodReject}

// ParseMethod reads a queueing method; "" is fifo.
func ParseMethod(s string) (Method, error) {
	if s == "" {
		return MethodFIFO, nil
	}
	for _, m := range Methods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("%q is not a queueing method (fifo, random, passthrough, reject)", s)
}

// Clock is the room's one clock. Every store takes its time from its own
// clock (for Redis, the server's TIME inside each script), never from the
// replica that calls it, so replicas with skewed clocks agree on deadlines.
type Clock func() time.Time

// Session is one user's place in one event's line.
type Session struct {
	ID      string
	EventID string
	UserID  string
	// Seq is the session's join sequence within its event, starting at 1.
	Seq    int64
	Status Status
	// Enqueued is set once the session's message is on the admission queue.
	Enqueued bool
	// Admission is the session's place in its event's order of admission
	// (1 for the first admitted), zero until ACTIVE: it audits fairness
	// without comparing timestamps.
	Admission int64
	CreatedAt time.Time
	// LastSeenAt is the last status poll or heartbeat.
	LastSeenAt  time.Time
	ActivatedAt time.Time
	// ExpiresAt is when the session ends without a sign of life: for a WAITING
	// session the abandonment deadline, for an ACTIVE one the earlier of the
	// heartbeat deadline and the maxActive limit.
	ExpiresAt time.Time
	EndedAt   time.Time
	EndReason EndReason
	// Position is 1 + the WAITING sessions of the event that joined earlier;
	// zero unless the session is WAITING.
	Position int64
	// AdmissionRate is the event's recent admissions per second, filled in
	// for a WAITING session; zero while nothing has been admitted.
	AdmissionRate float64
	// WaitingTTL is the event's effective waiting TTL, filled in for a
	// WAITING session so the poll interval it is given keeps it alive.
	WaitingTTL time.Duration
	// PreQueued is set for a WAITING session in the pre-queue: it joined
	// before the event's start and has no position until the shuffle.
	PreQueued bool
	// StartsAt is the event's start, filled in for a pre-queued session.
	StartsAt time.Time
	// Method is the event's queueing method, filled in for a WAITING
	// session: under random its position is no promise.
	Method Method
	// Paused is set for a WAITING session while its event's admission is
	// paused.
	Paused bool
	// Verified is set once a join for the session proved its user id with
	// a user token the site signed.
	Verified bool
}

// JoinRequest asks for a place in an event's line.
type JoinRequest struct {
	EventID, UserID string
	// Key is the caller's proof that it made the first join (its
	// Idempotency-Key): a re-join with the same key gets the live session
	// back. Stores keep only its hash.
	Key string
	// Trusted hands the live session over without a key: the caller proved
	// it is the user (a site-signed user token), or the operator trusts
	// userId outright.
	Trusted bool
	// Verified says the caller proved it is the user with a user token the
	// site signed: the session's user id is then the site's, not a claim.
	Verified bool
}

// HashKey is the form in which a store keeps a join's key.
func HashKey(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// MayRejoin reports whether a re-join proves it owns a session joined with
// the key whose hash is keyHash.
func (r JoinRequest) MayRejoin(keyHash string) bool {
	if r.Trusted {
		return true
	}
	return r.Key != "" && keyHash != "" && subtle.ConstantTimeCompare([]byte(HashKey(r.Key)), []byte(keyHash)) == 1
}

// Policy is the set of rules one event runs under.
type Policy struct {
	// Capacity is the most ACTIVE sessions the event may have at once.
	Capacity int
	// HeartbeatTTL ends an ACTIVE session that has not heartbeated for this long.
	HeartbeatTTL time.Duration
	// WaitingTTL abandons a WAITING session that showed no sign of life for this long.
	WaitingTTL time.Duration
	// MaxActive ends an ACTIVE session at this age whatever it does.
	MaxActive time.Duration
	// MaxWaiting refuses joins while this many sessions wait; 0 is no limit.
	MaxWaiting int
	// NewUsersPerMinute caps admissions per minute as well as Capacity caps
	// sessions at once, whichever binds; 0 is no cap. It is a token bucket
	// in the store, shared by every replica, holding a second's worth.
	NewUsersPerMinute int
	// Paused stops admission and keeps the line.
	Paused bool
	// OpensAt, StartsAt and EndsAt are the event's schedule, each optional
	// (zero): joins are refused before OpensAt; joins before StartsAt wait
	// in the pre-queue, shuffled at StartsAt ahead of later joins, and no
	// one is admitted before it; joins are refused from EndsAt, when the
	// WAITING sessions end.
	OpensAt, StartsAt, EndsAt time.Time
	// Method is the queueing method; "" is fifo.
	Method Method
	// Message is what refused joins are told under the reject method
	// (e.g. "Sold out").
	Message string
	// QueueAll sends every join through the line, even when nobody waits
	// and a slot is free; by default such a join is admitted at once.
	QueueAll bool
}

// ValidateDefault reports every setting of p, the room's default policy,
// that cannot work, by its configuration key (room.capacity), as
// config.FieldErrors.
func (p Policy) ValidateDefault() error {
	var ck config.Check
	if p.Capacity < 1 {
		ck.Bad("room.capacity", "must be at least 1, got %d", p.Capacity)
	}
	ck.AtLeast("room.heartbeatTTL", p.HeartbeatTTL, time.Second)
	ck.AtLeast("room.maxActive", p.MaxActive, time.Second)
	if p.WaitingTTL < MinWaitingTTL {
		ck.Bad("room.waitingTTL", "must be at least %s so a client polling every third of it (at most once a second) is never abandoned, got %s", MinWaitingTTL, p.WaitingTTL)
	}
	ck.NotNegative("room.maxWaiting", p.MaxWaiting)
	ck.NotNegative("room.newUsersPerMinute", p.NewUsersPerMinute)
	if _, err := ParseMethod(string(p.Method)); err != nil {
		ck.Bad("room.queueingMethod", "%v", err)
	}
	return ck.Err()
}

// Validate reports the retention settings that cannot work.
func (r Retention) Validate() error {
	var ck config.Check
	ck.AtLeast("room.endedRetention", r.Ended, time.Second)
	ck.AtLeast("room.eventRetention", r.Event, time.Second)
	return ck.Err()
}

// Phase is where an event stands in its schedule.
type Phase string

// Phases of an event's schedule.
const (
	// PhaseScheduled: before OpensAt; joins are refused.
	PhaseScheduled Phase = "scheduled"
	// PhasePreQueue: joins wait in the pre-queue until StartsAt.
	PhasePreQueue Phase = "prequeue"
	// PhaseLive: admission runs.
	PhaseLive Phase = "live"
	// PhaseEnded: from EndsAt; joins are refused.
	PhaseEnded Phase = "ended"
)

// Phase is where the event stands at now.
func (p Policy) Phase(now time.Time) Phase {
	switch {
	case !p.EndsAt.IsZero() && !now.Before(p.EndsAt):
		return PhaseEnded
	case !p.OpensAt.IsZero() && now.Before(p.OpensAt):
		return PhaseScheduled
	case !p.StartsAt.IsZero() && now.Before(p.StartsAt):
		return PhasePreQueue
	}
	return PhaseLive
}

// Closed reports whether the event's line is closed at now: ended, or
// rejecting under the reject method. Its WAITING sessions end.
func (p Policy) Closed(now time.Time) (EndReason, bool) {
	switch {
	case p.Phase(now) == PhaseEnded:
		return ReasonEventEnded, true
	case p.Method == MethodReject:
		return ReasonRejected, true
	}
	return "", false
}

// JoinError is why the policy refuses a join at now, or nil.
func (p Policy) JoinError(now time.Time) error {
	switch p.Phase(now) {
	case PhaseScheduled:
		return &NotOpenError{OpensAt: p.OpensAt}
	case PhaseEnded:
		return &EndedError{EndsAt: p.EndsAt}
	}
	if p.Method == MethodReject {
		return &RejectedError{Message: p.Message}
	}
	return nil
}

// CapRate is an observed admission rate (per second) as the policy lets it
// go on: never above NewUsersPerMinute, so the estimated wait follows
// whichever limit binds. An unknown rate (0) stays unknown.
func (p Policy) CapRate(perSecond float64) float64 {
	if limit := float64(p.NewUsersPerMinute) / 60; p.NewUsersPerMinute > 0 && perSecond > limit {
		return limit
	}
	return perSecond
}

// Bucket is a token bucket of admissions: Tokens at At (Unix ms).
type Bucket struct {
	Tokens float64
	At     int64
}

// Take refills the bucket at perMinute to now and takes one admission; when
// none is there yet, ok is false and retry is when one will be. A zero
// bucket starts full. It holds a second's worth, at least one.
func (b *Bucket) Take(perMinute int, now int64) (ok bool, retry int64) {
	burst := max(1, float64(perMinute)/60)
	if b.At == 0 {
		b.Tokens, b.At = burst, now
	}
	b.Tokens = min(burst, b.Tokens+float64(max(now-b.At, 0))*float64(perMinute)/60000)
	b.At = now
	if b.Tokens < 1 {
		return false, now + int64(math.Ceil((1-b.Tokens)*60000/float64(perMinute)))
	}
	b.Tokens--
	return true, 0
}

// Validate reports the first setting that cannot work: a negative count or
// duration of any setting, then the rules of particular ones.
func (s Settings) Validate() error {
	for _, set := range table {
		switch v := set.Get(s).(type) {
		case int:
			if v < 0 {
				return fmt.Errorf("%s must not be negative, got %d", set.Name, v)
			}
		case time.Duration:
			if v < 0 {
				return fmt.Errorf("%s must not be negative, got %s", set.Name, v)
			}
		case string:
			if len(v) > MaxMessageLen {
				return fmt.Errorf("%s is %d bytes long; at most %d", set.Name, len(v), MaxMessageLen)
			}
		}
	}
	switch {
	case s.HeartbeatTTL > 0 && s.HeartbeatTTL < time.Second, s.MaxActive > 0 && s.MaxActive < time.Second:
		return errors.New("durations must be at least 1s")
	case s.WaitingTTL > 0 && s.WaitingTTL < MinWaitingTTL:
		return fmt.Errorf("waitingTTL %v is too short: a waiting client polls at most once a second and needs margin, so it must be at least %v", s.WaitingTTL, MinWaitingTTL)
	}
	if _, err := ParseMethod(string(s.Method)); err != nil {
		return fmt.Errorf("queueingMethod: %w", err)
	}
	return ValidateSchedule(s.OpensAt, s.StartsAt, s.EndsAt)
}

// MaxMessageLen bounds an event's message, and any text setting.
const MaxMessageLen = 500

// ValidateSchedule checks that the set times of a schedule come in order:
// opensAt ≤ startsAt < endsAt.
func ValidateSchedule(opens, starts, ends time.Time) error {
	switch {
	case !opens.IsZero() && !starts.IsZero() && starts.Before(opens):
		return fmt.Errorf("startsAt %s is before opensAt %s", starts.Format(time.RFC3339), opens.Format(time.RFC3339))
	case !starts.IsZero() && !ends.IsZero() && !ends.After(starts):
		return fmt.Errorf("endsAt %s is not after startsAt %s", ends.Format(time.RFC3339), starts.Format(time.RFC3339))
	case !opens.IsZero() && !ends.IsZero() && !ends.After(opens):
		return fmt.Errorf("endsAt %s is not after opensAt %s", ends.Format(time.RFC3339), opens.Format(time.RFC3339))
	}
	return nil
}

// MinWaitingTTL is the shortest waiting TTL a client can honour: it is
// told to poll every WaitingTTL/3, and polls at most once a second.
const MinWaitingTTL = 3 * time.Second

// PollInterval is how long a WAITING client may wait before its next poll
// and still be alive: at most a third of the waiting TTL, so two lost
// polls in a row do not abandon it, and at least a second.
func PollInterval(preferred, waitingTTL time.Duration) time.Duration {
	d := preferred
	if waitingTTL > 0 {
		d = min(d, waitingTTL/3)
	}
	return max(d, time.Second)
}

// WaitingPollInterval is PollInterval adapted to where a WAITING session
// stands: someone far back in line polls less often, so the polls per
// admitted user fall as the line grows. With an estimated wait, a twentieth of
// it; without one, the preferred interval stretched by the position (one
// more interval per thousand ahead). Never under the preferred interval
// and never over a third of the waiting TTL, so it stays alive.
func WaitingPollInterval(preferred, waitingTTL time.Duration, position int64, perSecond float64) time.Duration {
	d := preferred
	if wait, ok := EstimatedWait(position, perSecond); ok {
		d = max(d, wait/20)
	} else if position > 1 {
		d = preferred + preferred*time.Duration(min(position-1, 1_000_000))/1000
	}
	return PollInterval(d, waitingTTL)
}

// LongestPoll is the longest a WAITING session of an event with this
// waiting TTL is ever asked to wait before its next status request: a
// Retry-After (PollInterval, rounded up to the second as the header is) or
// a held status request. A third of the TTL, at least a second, rounded up
// to the second. The Redis store's scripts compute it as well
// (longest_poll in redisstore/scripts.go): a change here is made there too.
func LongestPoll(waitingTTL time.Duration) time.Duration {
	d := max(waitingTTL/3, time.Second)
	return (d + time.Second - 1).Truncate(time.Second)
}

// FirstDeadline is the deadline of a WAITING session admitted at activated
// that last polled at seen. A client that obeys Retry-After learns of its
// admission only at its next status request, which may be due up to
// LongestPoll after seen: the first deadline covers that request with a
// whole heartbeat TTL after it, so obeying the server never costs the
// place. MaxActive still caps it. The Redis store's activate script
// computes the same (redisstore/scripts.go): a change here is made there
// too.
func (p Policy) FirstDeadline(activated, seen time.Time) time.Time {
	due := seen.Add(LongestPoll(p.WaitingTTL))
	if due.Before(activated) {
		due = activated
	}
	return p.ActiveDeadline(activated, due)
}

// LiveAt is when admission may start: the later of OpensAt and StartsAt
// (zero when neither is set).
func (p Policy) LiveAt() time.Time {
	if p.OpensAt.After(p.StartsAt) {
		return p.OpensAt
	}
	return p.StartsAt
}

// ActiveDeadline is when an ACTIVE session last seen at seen ends.
func (p Policy) ActiveDeadline(activated, seen time.Time) time.Time {
	hb := seen.Add(p.HeartbeatTTL)
	if limit := activated.Add(p.MaxActive); limit.Before(hb) {
		return limit
	}
	return hb
}

// ActiveEndReason says which limit ended an ACTIVE session at deadline.
func (p Policy) ActiveEndReason(activated, deadline time.Time) EndReason {
	if !deadline.Before(activated.Add(p.MaxActive)) {
		return ReasonMaxActive
	}
	return ReasonHeartbeat
}

// Policies gives the policy of each event.
type Policies interface {
	Policy(eventID string) Policy
}

// StaticPolicies is a default policy with per-event capacity overrides from
// configuration.
type StaticPolicies struct {
	Default Policy
	// Capacity overrides Default.Capacity per event id.
	Capacity map[string]int
	// NewUsersPerMinute overrides Default.NewUsersPerMinute per event id.
	NewUsersPerMinute map[string]int
	// Events overrides whole settings per event id (the config file's
	// schedule, method and message), applied like runtime settings.
	Events map[string]Settings
}

// Policy returns the event's policy.
func (s StaticPolicies) Policy(eventID string) Policy {
	p := s.Default
	if c, ok := s.Capacity[eventID]; ok {
		p.Capacity = c
	}
	if n, ok := s.NewUsersPerMinute[eventID]; ok {
		p.NewUsersPerMinute = n
	}
	if e, ok := s.Events[eventID]; ok {
		p = p.With(e)
	}
	return p
}

// Errors a Store returns.
var (
	ErrNotFound = errors.New("session not found")
	ErrEnded    = errors.New("session has ended")
	// ErrLineFull refuses a join while the event's line is at MaxWaiting.
	ErrLineFull = errors.New("the line is full")
	// ErrAlreadyJoined refuses a re-join that cannot prove it made the
	// first join: the live session is neither named nor touched.
	ErrAlreadyJoined = errors.New("the user already holds a place in this line")
	// ErrNotOpen, ErrEventEnded and ErrRejected refuse joins by the event's
	// schedule or method; the errors that carry them are NotOpenError,
	// EndedError and RejectedError.
	ErrNotOpen    = errors.New("the line is not open yet")
	ErrEventEnded = errors.New("the event has ended")
	ErrRejected   = errors.New("the event takes no joins")
)

// Refused reports whether a join's error is the rules refusing it (the line
// is full, the user holds a place, the schedule or the method says no):
// the store's answer, to pass on to the user, not a failure.
func Refused(err error) bool {
	for _, r := range []error{ErrLineFull, ErrAlreadyJoined, ErrNotOpen, ErrEventEnded, ErrRejected} {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// NotOpenError refuses a join before the event's pre-queue opens.
type NotOpenError struct{ OpensAt time.Time }

func (e *NotOpenError) Error() string {
	return "the line opens at " + e.OpensAt.UTC().Format(time.RFC3339)
}

// Unwrap makes errors.Is(err, ErrNotOpen) hold.
func (e *NotOpenError) Unwrap() error { return ErrNotOpen }

// EndedError refuses a join from the event's end.
type EndedError struct{ EndsAt time.Time }

func (e *EndedError) Error() string {
	return "the event ended at " + e.EndsAt.UTC().Format(time.RFC3339)
}

// Unwrap makes errors.Is(err, ErrEventEnded) hold.
func (e *EndedError) Unwrap() error { return ErrEventEnded }

// RejectedError refuses a join under the reject method, with the event's message.
type RejectedError struct{ Message string }

func (e *RejectedError) Error() string {
	if e.Message == "" {
		return ErrRejected.Error()
	}
	return e.Message
}

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectedError) Unwrap() error { return ErrRejected }

// NewSessionID returns a 128-bit random id, hex encoded: the session id is
// the user's bearer secret, so it must be unguessable.
func NewSessionID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// ValidSessionID reports whether id has the shape NewSessionID gives.
func ValidSessionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// MaxIDLen is the longest event or user id accepted.
const MaxIDLen = 64

// ValidateID checks an event or user id: 1–64 characters of [A-Za-z0-9._:-].
func ValidateID(id string) error {
	if id == "" {
		return errors.New("must not be empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("must be at most %d characters, got %d", MaxIDLen, len(id))
	}
	for i, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("character %q at offset %d is not allowed (use A-Z a-z 0-9 . _ : -)", c, i)
		}
	}
	return nil
}
