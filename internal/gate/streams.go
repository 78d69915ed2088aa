package gate

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
)

// streams are the admitted requests in flight, by session: long ones
// (server-sent events, WebSockets, slow downloads) keep their session
// alive while they are open and are cut when it ends. A watcher runs
// while any is open, checking each of their sessions every Recheck, so
// its work follows the open streams, not the users ever seen.
type streams struct {
	g       *Gate
	mu      sync.Mutex
	next    uint64
	bySess  map[string]*sessionStreams
	running bool
}

type sessionStreams struct {
	expires time.Time // the token's expiry: the end while the store is out of reach
	cancel  map[uint64]context.CancelFunc
}

func newStreams(g *Gate) *streams {
	return &streams{g: g, bySess: map[string]*sessionStreams{}}
}

// add registers a request of the session c admits; the returned func
// deregisters it.
func (s *streams) add(c *accesstoken.Claims, cancel context.CancelFunc) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	n := s.next
	ss := s.bySess[c.SessionID]
	if ss == nil {
		ss = &sessionStreams{cancel: map[uint64]context.CancelFunc{}}
		s.bySess[c.SessionID] = ss
	}
	ss.expires = c.ExpiresAt.Time
	ss.cancel[n] = cancel
	if !s.running {
		s.running = true
		go s.watch()
	}
	return func() {
		cancel()
		s.mu.Lock()
		defer s.mu.Unlock()
		if ss := s.bySess[c.SessionID]; ss != nil {
			delete(ss.cancel, n)
			if len(ss.cancel) == 0 {
				delete(s.bySess, c.SessionID)
			}
		}
	}
}

// end cuts every open request of a session.
func (s *streams) end(id string) {
	s.mu.Lock()
	ss := s.bySess[id]
	delete(s.bySess, id)
	s.mu.Unlock()
	if ss != nil {
		for _, cancel := range ss.cancel {
			cancel()
		}
	}
}

// watch checks the sessions with open requests until none is left, each
// when it is due (its recheck, its heartbeat or its deadline, whichever
// comes first, so neither a long gate.recheck nor a short heartbeat TTL
// lets a session that only streams lapse): an ended one is cut; one the
// store cannot vouch for is cut at its token's expiry.
func (s *streams) watch() {
	wait := time.Duration(0)
	for {
		time.Sleep(wait) // until the next session is due
		s.mu.Lock()
		if len(s.bySess) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		ids := make(map[string]time.Time, len(s.bySess))
		for id, ss := range s.bySess {
			ids[id] = ss.expires
		}
		s.mu.Unlock()
		next := s.g.d.Now().Add(s.g.cfg.Recheck)
		for id, expires := range ids {
			now := s.g.d.Now()
			if due := s.g.due(id); now.Before(due) {
				next = minTime(next, due)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.g.cfg.Recheck)
			_, _, err := s.g.check(ctx, id, now)
			cancel()
			if errors.Is(err, errEnded) || (err != nil && !now.Before(expires)) {
				s.end(id)
				continue
			}
			next = minTime(next, s.g.due(id))
		}
		wait = max(next.Sub(s.g.d.Now()), minWatch)
	}
}

// minWatch spaces the watcher's rounds however soon a session is due.
const minWatch = 50 * time.Millisecond

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
