package server

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// MaxWait is the longest a status request is held: under the idle timeout
// of the usual load balancers (60s), and never past the session's own
// LongestPoll, so a held request keeps the session alive as a poll would.
const MaxWait = 30 * time.Second

// waitParam reads how long a status request may be held for a change:
// ?wait=25s (or seconds, ?wait=25), else the Prefer header's wait=25 (RFC
// 7240, seconds). A bad ?wait is refused with 400 and changes nothing; a
// Prefer the server cannot read is ignored, as RFC 7240 asks.
func waitParam(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	if r.URL.RawQuery == "" && len(r.Header["Prefer"]) == 0 {
		return 0, true // a plain poll: nothing to parse
	}
	if v, ok := r.URL.Query()["wait"]; ok {
		d, err := parseWait(v[0])
		if len(v) > 1 || err != nil {
			writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "wait",
				"wait must be one duration between 0s and "+MaxWait.String()+" (e.g. wait=25s or wait=25); longer is held "+MaxWait.String())
			return 0, false
		}
		return min(d, MaxWait), true
	}
	for _, line := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(strings.SplitN(pref, ";", 2)[0]), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`)); err == nil && n >= 0 {
				return min(time.Duration(n)*time.Second, MaxWait), true
			}
		}
	}
	return 0, true
}

// parseWait reads a wait as a Go duration or whole seconds; a duration
// past MaxWait is taken as MaxWait.
func parseWait(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, strconv.ErrRange
		}
		return time.Duration(min(n, int(MaxWait/time.Second))) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, strconv.ErrSyntax
	}
	return d, nil
}

// register takes a place among the held requests for a status request of
// a WAITING session, to be held until news of it (admitted, ended, its
// line changed, its place moved by a step) or for the returned wait: at
// most the asked one and the session's LongestPoll, so the hold keeps the
// session alive as a poll would. ok is false when the replica holds as
// many as it may: answer at once, as without wait.
func (s *Server) register(sess *room.Session, wait time.Duration) (wt *waiter, _ time.Duration, ok bool) {
	if wt, ok = s.held.hold(sess); !ok {
		return nil, 0, false
	}
	wait = min(wait, room.LongestPoll(sess.WaitingTTL))
	now := s.Now()
	if sess.PreQueued && sess.StartsAt.After(now) && sess.StartsAt.Sub(now) < wait {
		// The draw gives the pre-queue its places: come back just after
		// it, spread over a second so the pre-queue does not come at once.
		wait = sess.StartsAt.Sub(now) + rand.N(time.Second)
	}
	return wt, wait, true
}

// holdOn holds a registered request for up to wait, then releases its
// place; the caller then reads the session again (a poll). It returns how
// long it held, or the request's context error if the client went away.
func (s *Server) holdOn(w http.ResponseWriter, r *http.Request, wt *waiter, wait time.Duration) (time.Duration, error) {
	defer s.held.release(wt)
	s.metrics.Held(1)
	defer s.metrics.Held(-1)
	// The request's deadlines cover the hold: the read deadline, too, or
	// the server's watch on the connection would cancel it.
	rc := http.NewResponseController(w)
	end := time.Now().Add(wait)
	rc.SetReadDeadline(end.Add(apiReadTimeout))
	rc.SetWriteDeadline(end.Add(apiWriteTimeout))
	t := time.NewTimer(wait)
	defer t.Stop()
	start := time.Now()
	select {
	case <-wt.ch:
	case <-t.C:
	case <-r.Context().Done():
		return 0, r.Context().Err()
	}
	return max(time.Since(start), time.Nanosecond), nil
}

// preferenceApplied tells the client its request was held for wait.
func preferenceApplied(w http.ResponseWriter, held time.Duration) {
	w.Header().Set("Preference-Applied", "wait="+strconv.Itoa(int(held.Round(time.Second)/time.Second)))
}
