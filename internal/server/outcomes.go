package server

import (
	"cmp"
	"errors"
	"net/http"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/intake"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/telemetry"
)

// answer is how the room answers one outcome of a join, in both of its
// voices: the API's problem and the waiting page's words. outcome is the
// one table from outcomes to answers, so the two never disagree on a
// status or on when to come back.
type answer struct {
	status int
	code   string // the API's problem code
	field  string
	metric string
	detail string // the API's words
	// The page's state, headline and words; at is a time the page shows
	// (in the reader's own time zone), atLabel what it is.
	state, headline, pageDetail string
	at                          time.Time
	atLabel                     string
	// retry is when to come back (Retry-After, the page's next try); 0: no
	// use coming back.
	retry time.Duration
	// log: the outcome is a fault worth a warning.
	log bool
}

var (
	errUnknownEvent = errors.New("unknown event")
	errRateLimited  = errors.New("too many joins from this address")
)

// outcome is the answer to a join's error; now is the room's time.
func outcome(err error, now time.Time) answer {
	var (
		notOpen  *room.NotOpenError
		ended    *room.EndedError
		rejected *room.RejectedError
	)
	switch {
	case errors.Is(err, room.ErrAlreadyJoined):
		return answer{status: http.StatusConflict, code: api.CodeAlreadyJoined, field: "userId", metric: telemetry.JoinAlreadyIn,
			detail:   "this user already holds a place in this event's line; only the client that joined can get it back, by sending the same Idempotency-Key",
			state:    "error",
			headline: "You already have a place in this line.", pageDetail: "Go back to the window or device where you joined."}
	case errors.Is(err, room.ErrLineFull):
		return answer{status: http.StatusServiceUnavailable, code: api.CodeLineFull, metric: telemetry.JoinLineFull,
			detail: "the line for this event is full; try again later",
			state:  "full", headline: "The line is full right now.", pageDetail: "This page tries again by itself.", retry: 10 * time.Second}
	case errors.As(err, &notOpen):
		opens := notOpen.OpensAt.UTC()
		return answer{status: http.StatusForbidden, code: api.CodeEventNotOpen, field: "eventId", metric: telemetry.JoinNotOpen,
			detail: "the line for this event opens at " + opens.Format(time.RFC3339) + "; join then",
			state:  "notopen", headline: "The line is not open yet.", pageDetail: "This page lets you in when it opens.",
			at: opens, atLabel: "The line opens at", retry: max(opens.Sub(now), time.Second)}
	case errors.As(err, &ended):
		ends := ended.EndsAt.UTC()
		return answer{status: http.StatusGone, code: api.CodeEventEnded, field: "eventId", metric: telemetry.JoinEnded,
			detail: "this event ended at " + ends.Format(time.RFC3339) + "; it takes no more joins",
			state:  "ended", headline: "This event has ended.", pageDetail: "It takes no one else.", at: ends, atLabel: "It closed at"}
	case errors.As(err, &rejected):
		return answer{status: http.StatusServiceUnavailable, code: api.CodeEventRejected, metric: telemetry.JoinRejected,
			detail: cmp.Or(rejected.Message, "this event takes no joins"),
			state:  "rejected", headline: cmp.Or(rejected.Message, "This event takes no one else."), pageDetail: "Thank you for your patience."}
	case errors.Is(err, errUnknownEvent):
		return answer{status: http.StatusNotFound, code: api.CodeUnknownEvent, field: "eventId", metric: telemetry.JoinUnknownEvent,
			detail: "no such event is open for joins",
			state:  "unknown", headline: "There is no such waiting room.", pageDetail: "Check the link you were given."}
	case errors.Is(err, errRateLimited):
		return answer{status: http.StatusTooManyRequests, code: api.CodeRateLimited, metric: telemetry.JoinRateLimited,
			detail: "too many joins from this address; try again after Retry-After",
			state:  "unavailable", headline: "Too many tries from your network.", pageDetail: "This page tries again by itself.", retry: 5 * time.Second}
	case errors.Is(err, intake.ErrQueue):
		return answer{status: http.StatusServiceUnavailable, code: api.CodeUnavailable, metric: telemetry.JoinQueueFailed, log: true,
			detail: "the admission queue cannot be reached; try again",
			state:  "unavailable", headline: "The waiting room is busy.", pageDetail: "This page tries again by itself.", retry: time.Second}
	case errors.Is(err, intake.ErrUnconfirmed):
		// A 202 must name a live session whose message is on the queue and
		// known to be. The client retries with its key.
		return answer{status: http.StatusServiceUnavailable, code: api.CodeUnavailable, metric: telemetry.JoinStoreFailed, log: true,
			detail: "the join could not be confirmed; try again with the same Idempotency-Key",
			state:  "unavailable", headline: "The waiting room is busy.", pageDetail: "This page tries again by itself.", retry: time.Second}
	}
	return answer{status: http.StatusServiceUnavailable, code: api.CodeUnavailable, metric: telemetry.JoinStoreFailed, log: true,
		detail: "the waiting room cannot take joins right now; try again",
		state:  "unavailable", headline: "The waiting room is busy.", pageDetail: "This page tries again by itself.", retry: 5 * time.Second}
}

// writeOutcome answers a join's error through the API.
func (s *Server) writeOutcome(w http.ResponseWriter, a answer) {
	s.metrics.Join(a.metric)
	if a.retry > 0 {
		w.Header().Set("Retry-After", retryAfter(a.retry))
	}
	p := newProblem(a.status, a.code, a.field, a.detail)
	switch a.code {
	case api.CodeEventNotOpen:
		p.OpensAt = &a.at
	case api.CodeEventEnded:
		p.EndsAt = &a.at
	}
	writeProblemBody(w, a.status, p)
}
