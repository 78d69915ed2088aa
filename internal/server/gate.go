package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// GateConfig puts the waiting room in front of a site: requests with a
// valid access token for their event are proxied to Upstream, any other
// gets the waiting page.
type GateConfig struct {
	// Upstream is the site's origin.
	Upstream *url.URL
	// Routes map path prefixes to the events guarding them; the longest
	// prefix wins. A path on no route is proxied without a token.
	Routes []GateRoute
	// Exclude are path prefixes always proxied without a token (static
	// assets, the origin's health checks).
	Exclude []string
	// HeartbeatEvery bounds the store writes a browsing user causes: a
	// proxied request is the session's heartbeat at most this often.
	// Default 5s.
	HeartbeatEvery time.Duration
}

// GateRoute guards the paths under Prefix with Event.
type GateRoute struct{ Prefix, Event string }

// Headers the origin receives with a proxied request, set by the gate only.
const (
	HeaderUser    = "X-Wrctl-User-Id"
	HeaderSession = "X-Wrctl-Session-Id"
	HeaderEvent   = "X-Wrctl-Event-Id"
)

// gate is the reverse proxy in front of the site.
type gate struct {
	s        *Server
	cfg      GateConfig
	routes   []GateRoute // longest prefix first
	proxy    *httputil.ReverseProxy
	verifier *accesstoken.Verifier
	// beats remembers when each session's next heartbeat through the gate
	// is due, so a user's many requests cost one store write every
	// HeartbeatEvery (sooner when the heartbeat TTL is short); an LRU, so
	// it stays bounded whatever the number of users.
	beats *lru.Cache[string, time.Time]
	// verified caches the claims of tokens whose signature was checked,
	// until they expire: a browsing user's requests cost one signature
	// check per token, not one each. Bounded like beats.
	verified *lru.Cache[string, *accesstoken.Claims]
}

type claimsKey struct{}

// gateBeats bounds the sessions whose last heartbeat the gate remembers.
const gateBeats = 100_000

func newGate(s *Server, cfg GateConfig) *gate {
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 5 * time.Second
	}
	routes := slices.Clone(cfg.Routes)
	slices.SortStableFunc(routes, func(a, b GateRoute) int { return len(b.Prefix) - len(a.Prefix) })
	var opts []accesstoken.Option
	if s.cfg.TokenAudience != "" {
		opts = append(opts, accesstoken.WithAudience(s.cfg.TokenAudience))
	}
	g := &gate{s: s, cfg: cfg, routes: routes, verifier: s.signer.Verifier(opts...)}
	g.beats, _ = lru.New[string, time.Time](gateBeats)
	g.verified, _ = lru.New[string, *accesstoken.Claims](gateBeats)
	// Connections to the origin are kept for reuse: under load a proxy that
	// keeps two (the default) opens a connection for nearly every request.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	g.proxy = &httputil.ReverseProxy{
		Transport: tr,
		Rewrite:   g.rewrite,
		// FlushInterval stays 0: ReverseProxy flushes streaming responses
		// (server-sent events, a body of unknown length) after every write
		// by itself, and buffers the rest, which saves a write per chunk.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				s.log.Warn("gate: the origin did not answer", "err", err)
			}
			writeProblem(w, http.StatusBadGateway, api.CodeUnavailable, "", "the site behind the waiting room did not answer")
		},
	}
	return g
}

// route is the event guarding path, or "" when none does.
func (g *gate) route(path string) string {
	for _, p := range g.cfg.Exclude {
		if strings.HasPrefix(path, p) {
			return ""
		}
	}
	for _, rt := range g.routes {
		if strings.HasPrefix(path, rt.Prefix) {
			return rt.Event
		}
	}
	return ""
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := g.route(r.URL.Path)
	if event == "" {
		g.proxy.ServeHTTP(w, r)
		return
	}
	if c, ok := g.admitted(w, r, event); ok {
		g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Retry-After", "5")
		writeProblem(w, http.StatusServiceUnavailable, api.CodeUnauthorized, "",
			"this site is behind a waiting room: open "+r.URL.Path+" in a browser to take a place in line")
		return
	}
	g.s.servePage(w, r, event, r.URL.RequestURI())
}

// admitted checks the request's access token for event and counts the
// request as the session's heartbeat (at most every HeartbeatEvery),
// renewing the token cookie with the session's new deadline. A session
// that has ended is no longer admitted, whatever its token says.
func (g *gate) admitted(w http.ResponseWriter, r *http.Request, event string) (*accesstoken.Claims, bool) {
	c, err := r.Cookie(TokenCookie)
	if err != nil {
		return nil, false
	}
	now := g.s.Now()
	claims, ok := g.verified.Get(c.Value)
	if !ok || !now.Before(claims.ExpiresAt.Time) {
		if claims, err = g.verifier.Verify(r.Context(), c.Value); err != nil {
			return nil, false
		}
		g.verified.Add(c.Value, claims)
	}
	if claims.EventID != event {
		return nil, false
	}
	if due, ok := g.beats.Get(claims.SessionID); ok && now.Before(due) {
		return claims, true
	}
	sess, err := g.s.st.Heartbeat(r.Context(), claims.SessionID)
	switch {
	case errors.Is(err, room.ErrEnded), errors.Is(err, room.ErrNotFound):
		g.beats.Remove(claims.SessionID)
		return nil, false
	case err != nil:
		// The store is out of reach: the token is valid and recent, so the
		// user stays in; the next request tries the heartbeat again.
		g.s.log.Warn("gate: heartbeat", "err", err)
		return claims, true
	}
	// Due again within a third of what is left, so two lost requests in a
	// row do not end a session that is browsing.
	g.beats.Add(claims.SessionID, now.Add(min(g.cfg.HeartbeatEvery, sess.ExpiresAt.Sub(now)/3)))
	if tok, err := g.s.accessToken(sess); err == nil {
		g.s.setCookie(w, r, TokenCookie, tok, sess.ExpiresAt.Sub(now)+time.Minute)
	}
	return claims, true
}

// rewrite sends a request on to the origin: with the X-Forwarded headers,
// the user, session and event of an admitted request (never the client's
// own claims to them), and without the waiting room's cookies.
func (g *gate) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.cfg.Upstream)
	pr.SetXForwarded() // the origin reads the public host in X-Forwarded-Host
	h := pr.Out.Header
	h.Del(HeaderUser)
	h.Del(HeaderSession)
	h.Del(HeaderEvent)
	if c, ok := pr.In.Context().Value(claimsKey{}).(*accesstoken.Claims); ok {
		h.Set(HeaderUser, c.UserID())
		h.Set(HeaderSession, c.SessionID)
		h.Set(HeaderEvent, c.EventID)
	}
	var kept []string
	for _, c := range pr.In.Cookies() {
		if c.Name != TokenCookie && c.Name != sessionCookie && c.Name != uidCookie {
			kept = append(kept, c.Name+"="+c.Value)
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}
