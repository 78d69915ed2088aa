// Package api holds the HTTP API's wire types, shared by the server and the
// client: the WaitingRoomSession, the problem body and the paths.
package api

import (
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Paths of the API.
const (
	SessionsPath = "/api/waiting-room/sessions"
	JWKSPath     = "/.well-known/jwks.json"
)

// EventAuditPath is the path of an event's audit log.
func EventAuditPath(eventID string) string { return "/api/waiting-room/events/" + eventID + "/audit" }

// EventStatsPath is the path of an event's stats.
func EventStatsPath(eventID string) string { return "/api/waiting-room/events/" + eventID + "/stats" }

// SessionPath is the path of one session, with an optional custom method
// (":heartbeat", ":leave").
func SessionPath(id, method string) string {
	if method != "" {
		return SessionsPath + "/" + id + ":" + method
	}
	return SessionsPath + "/" + id
}

// Session statuses.
const (
	StatusWaiting = "WAITING"
	StatusActive  = "ACTIVE"
	StatusLeft    = "LEFT"
	StatusExpired = "EXPIRED"
)

// Session is the WaitingRoomSession.
type Session struct {
	SessionID string `json:"sessionId"`
	EventID   string `json:"eventId"`
	UserID    string `json:"userId"`
	// Status is WAITING, ACTIVE, LEFT or EXPIRED.
	Status string `json:"status"`
	// Ticket is the session's join sequence number in its event: the line's
	// order. Admission follows it exactly, whatever replica took the join.
	Ticket int64 `json:"ticket"`
	// Admission is the session's place in the event's order of admission
	// (1 for the first admitted); absent until ACTIVE.
	Admission int64 `json:"admission,omitempty"`
	// Position is 1 for the next in line; null unless WAITING, in the
	// pre-queue (before the event's start) and under the random method.
	Position *int64 `json:"position"`
	// StartsAt is the event's start, for a session in the pre-queue: its
	// place is drawn then.
	StartsAt *time.Time `json:"startsAt,omitempty"`
	// QueueingMethod is the event's queueing method while WAITING (fifo,
	// random, passthrough).
	QueueingMethod string `json:"queueingMethod,omitempty"`
	// EstimatedWaitSeconds is position ÷ the recent admission rate; null
	// unless WAITING and something has been admitted.
	EstimatedWaitSeconds *float64   `json:"estimatedWaitSeconds"`
	CreatedAt            time.Time  `json:"createdAt"`
	ActivatedAt          *time.Time `json:"activatedAt"`
	// ExpiresAt is when a live session ends without a sign of life.
	ExpiresAt *time.Time `json:"expiresAt"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	// EndReason is left, abandoned, heartbeat, max_active, event_ended or
	// rejected once ended.
	EndReason string `json:"endReason,omitempty"`
	// AccessToken is a signed JWT for the protected site; only while ACTIVE.
	AccessToken string `json:"accessToken,omitempty"`
}

// Ended reports whether the session is LEFT or EXPIRED.
func (s Session) Ended() bool { return s.Status == StatusLeft || s.Status == StatusExpired }

// EventStats are one event's counts, read-only.
type EventStats struct {
	EventID  string `json:"eventId"`
	Capacity int    `json:"capacity"`
	// NewUsersPerMinute is the event's cap on admissions per minute (0: none).
	NewUsersPerMinute int   `json:"newUsersPerMinute"`
	Active            int64 `json:"active"`
	Waiting           int64 `json:"waiting"`
	// Joined counts every session ever created for the event; Admitted every
	// admission; Left and Expired the sessions that ended so.
	Joined   int64 `json:"joined"`
	Admitted int64 `json:"admitted"`
	Left     int64 `json:"left"`
	Expired  int64 `json:"expired"`
	// PeakActive is the most sessions the store ever held ACTIVE at once.
	PeakActive int64 `json:"peakActive"`
	// AdmissionRate is recent admissions per second.
	AdmissionRate float64 `json:"admissionRate"`
	// Paused is true while admission is paused (admin API).
	Paused bool `json:"paused"`
	// EstimatedWaitSeconds is what a newcomer would wait; null while unknown.
	EstimatedWaitSeconds *float64 `json:"estimatedWaitSeconds"`
	// Phase is where the event stands in its schedule: scheduled (before
	// opensAt), prequeue (before startsAt), live or ended.
	Phase string `json:"phase"`
	// The schedule, each null when not set.
	OpensAt  *time.Time `json:"opensAt"`
	StartsAt *time.Time `json:"startsAt"`
	EndsAt   *time.Time `json:"endsAt"`
	// QueueingMethod is fifo, random, passthrough or reject.
	QueueingMethod string `json:"queueingMethod"`
	// PreQueued counts the waiting sessions in the pre-queue (part of Waiting).
	PreQueued int64 `json:"preQueued"`
	// Binding is the limit holding admission back: capacity, rate or "".
	Binding string `json:"binding"`
	// ShuffledAt is when the pre-queue was shuffled at the last start,
	// ShuffledCount how many it ordered.
	ShuffledAt    *time.Time `json:"shuffledAt,omitempty"`
	ShuffledCount int64      `json:"shuffledCount,omitempty"`
	// Now is the server's time of these figures, for countdowns.
	Now time.Time `json:"now"`
}

// Shuffle is GET /api/admin/events/{event}/shuffle: the record of the
// event's last start, to audit its random order.
type Shuffle struct {
	EventID  string    `json:"eventId"`
	At       time.Time `json:"at"`
	StartsAt time.Time `json:"startsAt"`
	// Algorithm names how Seed gives Order.
	Algorithm string `json:"algorithm"`
	Seed      string `json:"seed"`
	// Order lists the pre-queued sessions' tickets in their drawn order.
	Order []int64 `json:"order"`
}

// ShuffleAlgorithm describes how a shuffle's seed gives its order.
const ShuffleAlgorithm = "Fisher–Yates over the pre-queue's tickets in ascending order, for i from n-1 down to 1 swapping i with j = IntN(i+1) of Go's math/rand/v2 ChaCha8 keyed with the 32-byte seed; the seed is drawn from crypto/rand"

// EventList is GET /api/waiting-room/events.
type EventList struct {
	Events []EventStats `json:"events"`
	// Total is how many events exist; Events may hold fewer (limit).
	Total int `json:"total"`
}

// EventsPath lists every event's stats.
const EventsPath = "/api/waiting-room/events"

// JoinRequest is the body of a join.
type JoinRequest struct {
	EventID string `json:"eventId"`
	UserID  string `json:"userId"`
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Code is a stable, machine-readable reason.
	Code string `json:"code,omitempty"`
	// Field names the input at fault, when there is one.
	Field string `json:"field,omitempty"`
	// OpensAt, for event_not_open, is when the line opens; EndsAt, for
	// event_ended, when the event ended.
	OpensAt *time.Time `json:"opensAt,omitempty"`
	EndsAt  *time.Time `json:"endsAt,omitempty"`
}

// Problem codes.
const (
	CodeInvalidInput     = "invalid_input"
	CodeMalformedJSON    = "malformed_json"
	CodeBodyTooLarge     = "body_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeSessionEnded     = "session_ended"
	CodeUnavailable      = "unavailable"
	CodeOverloaded       = "overloaded"
	CodeRateLimited      = "rate_limited"
	CodeLineFull         = "line_full"
	CodeUnknownEvent     = "unknown_event"
	CodeUnauthorized     = "unauthorized"
	CodeAlreadyJoined    = "already_joined"
	CodeBadUserToken     = "invalid_user_token"
	CodeAdminOff         = "admin_api_off"
	CodeEventNotOpen     = "event_not_open"
	CodeEventEnded       = "event_ended"
	CodeEventRejected    = "event_rejected"
)

// AdminEventsPath is the admin API's collection of event settings.
const AdminEventsPath = "/api/admin/events"

// AdminShufflePath is the record of an event's last start.
func AdminShufflePath(eventID string) string { return AdminEventsPath + "/" + eventID + "/shuffle" }

// EventSettings are an event's settings as the admin API reads and writes
// them: room.Settings is their one definition (names, kinds, docs), and
// writes them as JSON with durations as "30s" and times in RFC 3339 (null
// when unset).
type EventSettings = room.Settings

// AdminEvent is one event in the admin API: its runtime settings, the
// policy in force (configuration with the settings applied) and its counts.
type AdminEvent struct {
	EventID   string        `json:"eventId"`
	Settings  EventSettings `json:"settings"`
	Effective EventSettings `json:"effective"`
	Stats     EventStats    `json:"stats"`
}
