package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
)

// act performs one user's due action and queues the next.
func (r *Runner) act(ctx context.Context, idx int32) {
	u := &r.users[idx]
	scheduled := u.due
	switch u.state {
	case statePending:
		r.join(ctx, idx, u, scheduled)
	case stateWaiting:
		if r.cfg.StatusWait > 0 && r.cfg.PollInterval <= 0 {
			select {
			case r.holds <- struct{}{}:
				// A held request waits for the server, not for a worker.
				r.inflight.Add(1)
				go func() {
					defer func() { <-r.holds; r.inflight.Add(-1); r.signal() }()
					r.poll(ctx, idx, u, scheduled, r.cfg.StatusWait)
				}()
				return
			default:
			}
		}
		r.poll(ctx, idx, u, scheduled, 0)
	case stateActive:
		if time.Now().UnixNano() >= u.holdUntil {
			r.leave(ctx, u, scheduled)
		} else {
			r.heartbeat(ctx, idx, u, scheduled)
		}
	}
}
func (r *Runner) join(ctx context.Context, idx int32, u *user, scheduled int64) {
	started := time.Now()
	lag := started.Sub(time.Unix(0, scheduled))
	r.histMu.Lock()
	record(r.lag, lag)
	r.histMu.Unlock()
	if lag > r.cfg.LateAfter {
		r.late.Add(1)
	}
	// The user id doubles as the Idempotency-Key: it is unique to this run
	// and this user, as a real client's key is to its first join.
	userID := r.cfg.UserID(int(u.k))
	u.joinSent = true
	s, retry, err := r.c.JoinRetryAfter(ctx, r.cfg.EventID(int(u.event)), userID, userID)
	if r.measure(ctx, EndpointJoin, scheduled, http.StatusAccepted, err) {
		return
	}
	if err != nil {
		r.finish(u, endFailed)
		return
	}
	r.joined.Add(1)
	r.lastJoin.Store(time.Now().UnixNano())
	if s.Status == api.StatusWaiting {
		u.joinedAt = time.Now().UnixMicro()
	}
	u.session, u.ticket = s.SessionID, s.Ticket
	u.pre = s.Status == api.StatusWaiting && s.StartsAt != nil
	u.state = stateWaiting
	r.waiting.Add(1)
	if s.Status == api.StatusActive {
		r.admitted(idx, u, s)
		return
	}
	if u.abandon {
		r.waiting.Add(-1)
		r.finish(u, endAbandoned)
		return
	}
	if r.cfg.StatusWait > 0 && r.cfg.PollInterval <= 0 {
		r.next(idx, time.Now().UnixNano()) // a held status request: at once
		return
	}
	r.next(idx, time.Now().Add(r.pollDelay(retry)).UnixNano())
}

// poll asks for a waiting user's status, held by the server for up to
// hold when hold is positive; a held answer is followed by the next
// request at once.
func (r *Runner) poll(ctx context.Context, idx int32, u *user, scheduled int64, hold time.Duration) {
	var (
		s     api.Session
		retry time.Duration
		held  bool
		err   error
	)
	endpoint := EndpointStatus
	if hold > 0 {
		endpoint = EndpointWait
		s, retry, held, err = r.c.StatusHeld(ctx, u.session, hold)
	} else {
		s, retry, err = r.c.Status(ctx, u.session)
	}
	if r.measure(ctx, endpoint, scheduled, http.StatusOK, err) {
		return
	}
	if err != nil {
		var ae *client.APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
			r.waiting.Add(-1)
			r.finish(u, endFailed)
			return
		}
		r.next(idx, time.Now().Add(max(retry, time.Second)).UnixNano())
		return
	}
	switch {
	case s.Status == api.StatusActive:
		r.admitted(idx, u, s)
	case s.Ended():
		r.waiting.Add(-1)
		r.finish(u, endExpiredWaiting)
	case held:
		r.next(idx, time.Now().UnixNano())
	default:
		r.next(idx, time.Now().Add(r.pollDelay(retry)).UnixNano())
	}
}

// pollDelay is --poll-interval, or else the server's Retry-After.
func (r *Runner) pollDelay(retry time.Duration) time.Duration {
	if r.cfg.PollInterval > 0 {
		return r.cfg.PollInterval
	}
	if retry > 0 {
		return retry
	}
	return 2 * time.Second
}

// admitted records a user's first sight of ACTIVE and plans its stay.
func (r *Runner) admitted(idx int32, u *user, s api.Session) {
	now := time.Now()
	r.waiting.Add(-1)
	r.active.Add(1)
	u.state = stateActive
	r.admits.Add(1)
	r.inside[u.event].Add(1)
	u.seen = now.UnixMicro()
	u.admission = s.Admission
	if s.ActivatedAt != nil {
		u.activated = s.ActivatedAt.UnixMicro()
	}
	r.histMu.Lock()
	record(r.ttA, now.Sub(time.Unix(0, u.joinAt)))
	r.histMu.Unlock()
	u.holdUntil = now.Add(u.hold).UnixNano()
	r.next(idx, min(u.holdUntil, now.Add(r.cfg.HeartbeatInterval).UnixNano()))
}
func (r *Runner) heartbeat(ctx context.Context, idx int32, u *user, scheduled int64) {
	err := r.c.Heartbeat(ctx, u.session)
	// 409: the session ended (its TTL passed): an answer, not a failure.
	if r.measure(ctx, EndpointHeartbeat, scheduled, http.StatusNoContent, err, http.StatusConflict) {
		return
	}
	var ae *client.APIError
	if errors.As(err, &ae) && (ae.StatusCode == http.StatusConflict || ae.StatusCode == http.StatusNotFound) {
		u.left = time.Now().UnixMicro()
		r.active.Add(-1)
		r.inside[u.event].Add(-1)
		r.finish(u, endExpiredActive)
		return
	}
	now := time.Now()
	r.next(idx, min(u.holdUntil, now.Add(r.cfg.HeartbeatInterval).UnixNano()))
}
func (r *Runner) leave(ctx context.Context, u *user, scheduled int64) {
	// Out of the client-side count before the request: the server may admit
	// the next user the moment it answers.
	u.left = time.Now().UnixMicro()
	r.active.Add(-1)
	r.inside[u.event].Add(-1)
	err := r.c.Leave(ctx, u.session)
	if r.measure(ctx, EndpointLeave, scheduled, http.StatusNoContent, err) {
		return // cut short: still ACTIVE, so leaveOpen sends the leave again
	}
	r.finish(u, endLeft)
}
func (r *Runner) finish(u *user, how uint8) {
	u.state = stateDone
	u.ended = how
	r.done.Add(1)
}

// measure records a request's latency from its scheduled time, its status
// code (okCode when it succeeded) and, unless its status is one of
// expected (answers of the protocol, not failures), its error by message.
// It reports true when the run was cut short under the request.
func (r *Runner) measure(ctx context.Context, endpoint string, scheduled int64, okCode int, err error, expected ...int) bool {
	if err != nil && ctx.Err() != nil {
		return true
	}
	d := time.Since(time.Unix(0, scheduled))
	code, msg := okCode, ""
	var ae *client.APIError
	switch {
	case err == nil:
	case errors.As(err, &ae):
		code = ae.StatusCode
		if !slices.Contains(expected, code) {
			msg = err.Error()
		}
	default:
		code, msg = 0, errorMessage(err)
	}
	r.histMu.Lock()
	defer r.histMu.Unlock()
	r.counts[endpoint]++
	record(r.hists[endpoint], d)
	record(r.ivHists[endpoint], d)
	if code > 0 {
		r.status[endpoint][strconv.Itoa(code)]++
	}
	if msg != "" {
		addError(r.errs[endpoint], msg, 1)
		r.errors.Add(1)
	}
	return false
}

// maxErrorMessages bounds the distinct messages kept per endpoint; the
// rest are counted together.
const maxErrorMessages = 20

// otherErrors is the message the rest are counted under.
const otherErrors = "(other errors)"

func addError(errs map[string]int64, msg string, n int64) {
	if _, ok := errs[msg]; !ok && len(errs) >= maxErrorMessages {
		msg = otherErrors
	}
	errs[msg] += n
}

// errorMessage is a request error without what differs between requests
// (the URL with its session id), so equal errors group together.
func errorMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}
