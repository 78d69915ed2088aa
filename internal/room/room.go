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
)

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

// Settings are an event's settings changed at runtime (the admin API),
// persisted in the store so every replica applies them. A zero field keeps
// the configured value.
type Settings struct {
	Capacity     int           `json:"capacity,omitempty"`
	HeartbeatTTL time.Duration `json:"heartbeatTTL,omitempty"`
	WaitingTTL   time.Duration `json:"waitingTTL,omitempty"`
	MaxActive    time.Duration `json:"maxActive,omitempty"`
	MaxWaiting   int           `json:"maxWaiting,omitempty"`
	// NewUsersPerMinute caps admissions per minute (see Policy).
	NewUsersPerMinute int  `json:"newUsersPerMinute,omitempty"`
	Paused            bool `json:"paused,omitempty"`
}

// With returns the policy with the settings' non-zero fields applied.
func (p Policy) With(s Settings) Policy {
	if s.Capacity > 0 {
		p.Capacity = s.Capacity
	}
	if s.HeartbeatTTL > 0 {
		p.HeartbeatTTL = s.HeartbeatTTL
	}
	if s.WaitingTTL > 0 {
		p.WaitingTTL = s.WaitingTTL
	}
	if s.MaxActive > 0 {
		p.MaxActive = s.MaxActive
	}
	if s.MaxWaiting > 0 {
		p.MaxWaiting = s.MaxWaiting
	}
	if s.NewUsersPerMinute > 0 {
		p.NewUsersPerMinute = s.NewUsersPerMinute
	}
	p.Paused = p.Paused || s.Paused
	return p
}

// Validate reports the first setting that cannot work.
func (s Settings) Validate() error {
	switch {
	case s.Capacity < 0 || s.MaxWaiting < 0 || s.NewUsersPerMinute < 0:
		return errors.New("capacity, maxWaiting and newUsersPerMinute must not be negative")
	case s.HeartbeatTTL < 0 || s.WaitingTTL < 0 || s.MaxActive < 0:
		return errors.New("durations must not be negative")
	case s.HeartbeatTTL > 0 && s.HeartbeatTTL < time.Second, s.MaxActive > 0 && s.MaxActive < time.Second:
		return errors.New("durations must be at least 1s")
	case s.WaitingTTL > 0 && s.WaitingTTL < MinWaitingTTL:
		return fmt.Errorf("waitingTTL %v is too short: a waiting client polls at most once a second and needs margin, so it must be at least %v", s.WaitingTTL, MinWaitingTTL)
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
)

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
