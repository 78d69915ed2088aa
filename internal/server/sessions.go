package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/telemetry"
)

func toAPI(s room.Session) api.Session {
	out := api.Session{
		SessionID: s.ID,
		EventID:   s.EventID,
		UserID:    s.UserID,
		Status:    string(s.Status),
		Ticket:    s.Seq,
		Admission: s.Admission,
		CreatedAt: s.CreatedAt.UTC(),
		EndReason: string(s.EndReason),
	}
	if s.Status == room.StatusWaiting {
		if s.Method != "" && s.Method != room.MethodFIFO {
			out.QueueingMethod = string(s.Method)
		}
		switch {
		case s.PreQueued:
			t := s.StartsAt.UTC()
			out.StartsAt = &t // no place until the start's draw
		case s.Method == room.MethodRandom:
			// A lottery: no place in line to promise.
		default:
			p := s.Position
			out.Position = &p
			if w, ok := room.EstimatedWait(s.Position, s.AdmissionRate); ok {
				sec := math.Round(w.Seconds()*10) / 10
				out.EstimatedWaitSeconds = &sec
			}
		}
	}
	if !s.ActivatedAt.IsZero() {
		t := s.ActivatedAt.UTC()
		out.ActivatedAt = &t
	}
	if s.Status.Live() {
		t := s.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	if !s.EndedAt.IsZero() {
		t := s.EndedAt.UTC()
		out.EndedAt = &t
	}
	return out
}

type joinRequest struct {
	EventID *string `json:"eventId"`
	UserID  *string `json:"userId"`
}

// join is POST /api/waiting-room/sessions.
func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	if s.limiter != nil {
		if ok, wait := s.limiter.allow(s.clientIP(r), s.Now()); !ok {
			a := outcome(errRateLimited, s.Now())
			a.retry = wait
			s.writeOutcome(w, a)
			return
		}
	}
	req, ok := s.decodeJoin(w, r)
	if !ok {
		return
	}
	if s.cfg.RefuseUnknownEvents && !s.known(r, *req.EventID) {
		s.writeOutcome(w, outcome(errUnknownEvent, s.Now()))
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	trusted, ok := s.userProven(w, r, *req.UserID)
	if !ok {
		return
	}
	// Once validated, a join runs to the end even if the client goes away:
	// the store and the queue must agree.
	jr := room.JoinRequest{EventID: *req.EventID, UserID: *req.UserID, Key: key, Trusted: trusted || s.cfg.TrustUserID, Verified: trusted}
	sess, created, err := s.intake.Join(context.WithoutCancel(r.Context()), jr)
	if err != nil {
		a := outcome(err, s.Now())
		if a.log {
			s.log.Warn("join", "event", jr.EventID, "err", err)
		}
		s.writeOutcome(w, a)
		return
	}
	if created {
		s.metrics.Join(telemetry.JoinCreated)
		if sess.Status == room.StatusActive {
			s.metrics.AdmittedAtJoin()
		}
		s.log.Debug("joined", "event", sess.EventID, "ticket", sess.Seq, "status", sess.Status)
	} else {
		s.metrics.Join(telemetry.JoinExisting)
	}
	s.writeSession(w, http.StatusAccepted, sess, true)
}

// known reports whether joins to the event are accepted when unknown events
// are refused: configured, or given settings through the admin API.
func (s *Server) known(r *http.Request, eventID string) bool {
	if slices.Contains(s.cfg.KnownEvents, eventID) {
		return true
	}
	_, ok, err := s.st.Settings(r.Context(), eventID)
	return err == nil && ok
}

// decodeJoin reads and validates a join body, answering the problem itself.
func (s *Server) decodeJoin(w http.ResponseWriter, r *http.Request) (joinRequest, bool) {
	var req joinRequest
	if !s.decodeBody(w, r, &req, "eventId and userId") {
		return req, false
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"eventId", req.EventID}, {"userId", req.UserID}} {
		if f.v == nil {
			writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, f.name, f.name+" is required")
			return req, false
		}
		if err := room.ValidateID(*f.v); err != nil {
			writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, f.name, f.name+" "+err.Error())
			return req, false
		}
	}
	return req, true
}

// session serves /api/waiting-room/sessions/{id}[:method].
func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("seg")
	id, method, hasMethod := strings.Cut(seg, ":")
	if !room.ValidSessionID(id) {
		writeProblem(w, http.StatusNotFound, api.CodeNotFound, "", "no such session")
		return
	}
	var handle func(http.ResponseWriter, *http.Request, string)
	want := http.MethodPost
	switch method {
	case "":
		if hasMethod {
			writeProblem(w, http.StatusNotFound, api.CodeNotFound, "", "unknown session method \"\": use :heartbeat or :leave")
			return
		}
		handle, want = s.status, http.MethodGet
	case "heartbeat":
		handle = s.heartbeat
	case "leave":
		handle = s.leave
	default:
		writeProblem(w, http.StatusNotFound, api.CodeNotFound, "", fmt.Sprintf("unknown session method %q: use :heartbeat or :leave", method))
		return
	}
	if r.Method != want && !(want == http.MethodGet && r.Method == http.MethodHead) {
		methodNotAllowed(w, r, want)
		return
	}
	handle(w, r, id)
}

// status answers a status request: at once, or with ?wait= held for a
// change. Each step is a function of its own, so that a held request's
// goroutine waits on a shallow stack (it shrinks back to its idle size).
func (s *Server) status(w http.ResponseWriter, r *http.Request, id string) {
	switch wait, ok := waitParam(w, r); {
	case !ok:
	case wait > 0:
		s.statusHeld(w, r, id, wait)
	default:
		s.statusNow(w, r, id, 0)
	}
}

// statusNow answers with the session as it stands (a poll), saying how
// long the request was held first, if it was.
func (s *Server) statusNow(w http.ResponseWriter, r *http.Request, id string, held time.Duration) {
	sess, err := s.st.Touch(r.Context(), id)
	if !s.storeOK(w, err) {
		return
	}
	if held > 0 {
		preferenceApplied(w, held)
	}
	s.writeSession(w, http.StatusOK, sess, false)
}

// statusHeld takes a first look (a poll): a WAITING session's request is
// held, then answered with the session as it stands; any other is answered
// at once, as is a request past the replica's cap of held ones.
func (s *Server) statusHeld(w http.ResponseWriter, r *http.Request, id string, wait time.Duration) {
	wt, wait := s.firstLook(w, r, id, wait)
	if wt == nil {
		return
	}
	held, err := s.holdOn(w, r, wt, wait)
	if err != nil {
		return // the client went away
	}
	s.statusNow(w, r, id, held)
}

// firstLook polls the session and registers a WAITING one's request to be
// held for up to the returned wait; otherwise it answers and returns nil.
func (s *Server) firstLook(w http.ResponseWriter, r *http.Request, id string, wait time.Duration) (*waiter, time.Duration) {
	sess, err := s.st.Touch(r.Context(), id)
	if !s.storeOK(w, err) {
		return nil, 0
	}
	if sess.Status == room.StatusWaiting {
		if wt, wait, ok := s.register(&sess, wait); ok {
			return wt, wait
		}
	}
	s.writeSession(w, http.StatusOK, sess, false)
	return nil, 0
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, id string) {
	sess, err := s.st.Heartbeat(r.Context(), id)
	if errors.Is(err, room.ErrEnded) {
		writeProblem(w, http.StatusConflict, api.CodeSessionEnded, "", fmt.Sprintf("the session has ended (%s)", sess.Status))
		return
	}
	if !s.storeOK(w, err) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request, id string) {
	_, err := s.st.Leave(r.Context(), id)
	if !s.storeOK(w, err) {
		return
	}
	if s.gate != nil {
		s.gate.Forget(id) // its requests through this replica's gate stop at once
	}
	w.WriteHeader(http.StatusNoContent)
}

// storeOK answers a store error and reports whether there was none.
func (s *Server) storeOK(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, room.ErrNotFound):
		writeProblem(w, http.StatusNotFound, api.CodeNotFound, "", "no such session")
	default:
		s.log.Warn("store", "err", err)
		unavailable(w, time.Second, "the session store cannot be reached; try again")
	}
	return false
}

func (s *Server) writeSession(w http.ResponseWriter, status int, sess room.Session, location bool) {
	h := w.Header()
	h.Set("Cache-Control", "no-store") // the session id is the user's bearer secret
	if location {
		h.Set("Location", api.SessionsPath+"/"+sess.ID)
	}
	if sess.Status == room.StatusWaiting {
		h.Set("Retry-After", retryAfter(s.pollInterval(sess)))
	}
	out := toAPI(sess)
	if sess.Status == room.StatusActive {
		tok, err := s.accessToken(sess)
		if err != nil {
			s.log.Error("sign access token", "err", err)
			unavailable(w, time.Second, "the access token could not be signed; try again")
			return
		}
		out.AccessToken = tok
	}
	writeJSON(w, status, out)
}

// userProven checks the user token a join may carry (when the operator
// configured user tokens): a valid token for this userId proves the caller
// is the user. It answers the problem itself for a bad token.
func (s *Server) userProven(w http.ResponseWriter, r *http.Request, userID string) (bool, bool) {
	if s.cfg.UserTokens == nil || r.Header.Get("Authorization") == "" {
		return false, true
	}
	tok, ok := bearer(r)
	sub, err := s.cfg.UserTokens.Subject(tok)
	switch {
	case !ok || err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="wrctl-join", error="invalid_token"`)
		writeProblem(w, http.StatusUnauthorized, api.CodeBadUserToken, "Authorization", "the user token is not valid: it must be a bearer JWT signed by the site, unexpired, with sub = userId")
		return false, false
	case sub != userID:
		writeProblem(w, http.StatusForbidden, api.CodeBadUserToken, "userId", "the user token was signed for another user")
		return false, false
	}
	return true, true
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// idempotencyKey reads the optional Idempotency-Key header (the IETF
// draft's convention): the proof a re-join gives that it made the first
// join. It answers the problem itself when the key is malformed.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return "", true
	}
	key := vals[0]
	if len(vals) > 1 || key == "" || len(key) > MaxIdempotencyKey || !printableASCII(key) {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "Idempotency-Key",
			fmt.Sprintf("Idempotency-Key must be one header of 1–%d printable ASCII characters", MaxIdempotencyKey))
		return "", false
	}
	return key, true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// pollInterval is how long a WAITING client may wait before its next poll.
// In the pre-queue, each answer draws it at random between half and all of
// the longest interval that keeps the session alive: the polls of the many
// who joined before the start spread out instead of landing together at
// the start, and none comes later than the waiting TTL allows.
func (s *Server) pollInterval(sess room.Session) time.Duration {
	if sess.PreQueued {
		longest := room.PollInterval(max(s.cfg.PollInterval, sess.WaitingTTL/3), sess.WaitingTTL)
		return longest/2 + rand.N(longest/2+1)
	}
	return room.WaitingPollInterval(s.cfg.PollInterval, sess.WaitingTTL, sess.Position, sess.AdmissionRate)
}

// accessToken is an ACTIVE session's token, signed once per change of the
// session. It is issued at the store's time of the last change to the
// session, the same clock its expiry comes from: a replica whose own clock
// is skewed cannot mint a token that is not yet valid, or expired.
func (s *Server) accessToken(sess room.Session) (string, error) {
	return s.tokens.get(sess, func() (string, error) { return s.signer.Sign(*s.claims(sess)) })
}

// claims are what an ACTIVE session's access token says.
func (s *Server) claims(sess room.Session) *accesstoken.Claims {
	c := accesstoken.NewClaims(sess.ID, sess.EventID, sess.UserID, sess.LastSeenAt, sess.ExpiresAt)
	c.Verified = sess.Verified
	if s.cfg.TokenAudience != "" {
		c.Audience = []string{s.cfg.TokenAudience}
	}
	return &c
}
