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

// watch checks the sessions with open requests every Recheck until none
// is left: an ended one is cut; one the store cannot vouch for is cut at
// its token's expiry.
func (s *streams) watch() {
	t := time.NewTicker(s.g.cfg.Recheck)
	defer t.Stop()
	for range t.C {
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
		for id, expires := range ids {
			now := s.g.d.Now()
			ctx, cancel := context.WithTimeout(context.Background(), s.g.cfg.Recheck)
			_, _, err := s.g.check(ctx, id, now)
			cancel()
			if errors.Is(err, errEnded) || (err != nil && !now.Before(expires)) {
				s.end(id)
			}
		}
	}
}
