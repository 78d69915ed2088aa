// Package gate puts the waiting room in front of a site that cannot
// change its code: a reverse proxy that lets through only requests with a
// valid access token for the event guarding their path, and sends page
// visitors without one to the waiting page.
//
// It decides on the path the site routes on (Normalize) and forwards that
// same path, passes the site only the identity it vouches for, keeps
// shared caches off admitted responses, has its own concurrency limit and
// deadlines apart from the API's, and stops passing a session's requests,
// open streams and WebSockets included, within Recheck of its end.
package gate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/config"
	"github.com/wrctl/wrctl/internal/room"
)

// TokenCookie carries the access token to the guarded site.
const TokenCookie = CookiePrefix + "token"

// Config says what the gate guards and how.
type Config struct {
	// Upstream is the site's origin.
	Upstream *url.URL
	// Routes map path prefixes to the events guarding them; the longest
	// prefix wins. A path on no route is proxied without a token.
	Routes []Route
	// Exclude are path prefixes always proxied without a token (static
	// assets, the origin's health checks).
	Exclude []string
	// CaseInsensitive matches routes and exclusions without regard to the
	// case of ASCII letters, for sites that route that way (IIS, a
	// case-insensitive file system). Default: case-sensitive, as nginx.
	CaseInsensitive bool
	// Reserved are path prefixes the waiting room itself serves (its API,
	// the waiting page, probes): they go to Deps.Room, never the site.
	Reserved []string
	// HeartbeatEvery bounds the heartbeat writes a browsing user causes: a
	// proxied request is the session's heartbeat at most this often
	// (sooner when its deadline is near). Default 5s.
	HeartbeatEvery time.Duration
	// Recheck is the longest a session that ended (left, expired, ended on
	// another replica) keeps passing the gate; its open streams and
	// WebSockets are closed within it too. Default 1s.
	Recheck time.Duration
	// MaxConcurrent caps proxied requests in flight, apart from the API's
	// cap; past it 503 with Retry-After. 0 is no cap.
	MaxConcurrent int
	// ResponseHeaderTimeout bounds the wait for the site's response
	// headers; a streamed body then runs as long as the session. Default 60s.
	ResponseHeaderTimeout time.Duration
	// RetryAfter is what a request that is not a page visit is told to
	// wait. Default 5s.
	RetryAfter time.Duration
}

// Route guards the paths under Prefix with Event.
type Route struct{ Prefix, Event string }

func (c *Config) defaults() {
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = 5 * time.Second
	}
	if c.Recheck <= 0 {
		c.Recheck = time.Second
	}
	if c.ResponseHeaderTimeout <= 0 {
		c.ResponseHeaderTimeout = 60 * time.Second
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
}

// Sessions is what the gate reads and keeps alive in the session store.
type Sessions interface {
	Get(ctx context.Context, id string) (room.Session, error)
	Heartbeat(ctx context.Context, id string) (room.Session, error)
}

// Room is the waiting room behind the gate.
type Room interface {
	// ServeHTTP serves the room's own paths (Config.Reserved).
	http.Handler
	// Page answers a page visitor of event without a valid token: the
	// waiting page, which takes a place in line only when join is set.
	// When the visitor is admitted (at once, in an empty room, or its
	// session is ACTIVE already), it answers nothing, sets the token
	// cookie on w and returns the token's claims: the gate lets the very
	// request through.
	Page(w http.ResponseWriter, r *http.Request, event, returnTo string, join bool) *accesstoken.Claims
	// Renew gives the browser the token of its session, just heartbeated.
	Renew(w http.ResponseWriter, r *http.Request, sess room.Session)
}

// Deps are what the gate works with.
type Deps struct {
	Sessions Sessions
	Room     Room
	// Verifier checks access tokens.
	Verifier *accesstoken.Verifier
	Log      *slog.Logger
	// Trusted reports whether a peer is a proxy in front of the gate whose
	// X-Forwarded-* headers are kept and appended to; nil trusts none.
	Trusted func(netip.Addr) bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Gate is the reverse proxy in front of the site.
type Gate struct {
	cfg    Config
	d      Deps
	routes []Route // longest prefix first
	proxy  *httputil.ReverseProxy
	sem    chan struct{}
	// verified caches the claims of tokens whose signature was checked,
	// until they expire: a browsing user's requests cost one signature
	// check per token. checks remembers, per session, when the store last
	// vouched for it and when its next heartbeat is due. Both are LRUs, so
	// they stay bounded whatever the number of users.
	verified *lru.Cache[string, *accesstoken.Claims]
	checks   *lru.Cache[string, check]
	open     *streams
}

// check is what the gate knows of a session: when the store last vouched
// for it (at), when its next heartbeat is due, and its deadline as the
// store gave it; due is the earliest of at+Recheck and the other two.
type check struct {
	at, beatDue, expires time.Time
}

// cacheSize bounds the tokens and sessions the gate remembers.
const cacheSize = 100_000

// New returns a gate.
func New(cfg Config, d Deps) *Gate {
	cfg.defaults()
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Trusted == nil {
		d.Trusted = func(netip.Addr) bool { return false }
	}
	routes := slices.Clone(cfg.Routes)
	slices.SortStableFunc(routes, func(a, b Route) int { return len(b.Prefix) - len(a.Prefix) })
	g := &Gate{cfg: cfg, d: d, routes: routes}
	g.verified, _ = lru.New[string, *accesstoken.Claims](cacheSize)
	g.checks, _ = lru.New[string, check](cacheSize)
	g.open = newStreams(g)
	if cfg.MaxConcurrent > 0 {
		g.sem = make(chan struct{}, cfg.MaxConcurrent)
	}
	// Connections to the origin are kept for reuse: under load a proxy that
	// keeps two (the default) opens a connection for nearly every request.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	tr.ResponseHeaderTimeout = cfg.ResponseHeaderTimeout
	g.proxy = &httputil.ReverseProxy{
		Transport:      tr,
		Rewrite:        g.rewrite,
		ModifyResponse: g.modifyResponse,
		// FlushInterval stays 0: ReverseProxy flushes streaming responses
		// (server-sent events, a body of unknown length) after every write
		// by itself, and buffers the rest.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				d.Log.Warn("gate: the origin did not answer", "err", err)
			}
			api.WriteProblem(w, http.StatusBadGateway, api.NewProblem(http.StatusBadGateway, api.CodeUnavailable, "",
				"the site behind the waiting room did not answer"))
		},
	}
	return g
}

// Route is the event guarding the normalised path, or "" when none does.
func (g *Gate) Route(clean string) string {
	for _, p := range g.cfg.Exclude {
		if under(clean, p, g.cfg.CaseInsensitive) {
			return ""
		}
	}
	for _, rt := range g.routes {
		if under(clean, rt.Prefix, g.cfg.CaseInsensitive) {
			return rt.Event
		}
	}
	return ""
}

func (g *Gate) reserved(clean string) bool {
	for _, p := range g.cfg.Reserved {
		if under(clean, p, false) {
			return true
		}
	}
	return false
}

// request is what the gate decided about a request it forwards.
type request struct {
	path   string
	claims *accesstoken.Claims
}

type requestKey struct{}

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clean, err := Normalize(r.URL.EscapedPath())
	if err != nil {
		api.WriteProblem(w, http.StatusBadRequest, api.NewProblem(http.StatusBadRequest, api.CodeAmbiguousPath, "path",
			"the path has encoded dot segments, slashes or backslashes, or a second layer of encoding; ask for the plain path"))
		return
	}
	if g.reserved(clean) {
		g.d.Room.ServeHTTP(w, r)
		return
	}
	event := g.Route(clean)
	if event == "" {
		g.forward(w, r, request{path: clean})
		return
	}
	if c, ok := g.admitted(w, r, event); ok {
		g.forward(w, r, request{path: clean, claims: c})
		return
	}
	switch Classify(r, clean) {
	case Machine:
		Refuse(w, g.cfg.RetryAfter, "this site is behind a waiting room: open it in a browser to take a place in line")
	default:
		if c := g.d.Room.Page(w, r, event, returnTo(clean, r.URL.RawQuery), Classify(r, clean) == PageVisit); c != nil {
			g.forward(w, r, request{path: clean, claims: c})
		}
	}
}

// Refuse answers a request without a token that is not a page visit: a
// 503 problem (waiting_room) with Retry-After, and no session.
func Refuse(w http.ResponseWriter, retry time.Duration, detail string) {
	w.Header().Set("Retry-After", api.RetryAfter(retry))
	api.WriteProblem(w, http.StatusServiceUnavailable, api.NewProblem(http.StatusServiceUnavailable, api.CodeWaitingRoom, "", detail))
}

func returnTo(clean, query string) string {
	u := url.URL{Path: clean, RawQuery: query}
	return u.RequestURI()
}

// forward proxies a request to the site under the gate's own limit, with
// no deadline but the site's response headers' and, for an admitted
// request, the session's life.
func (g *Gate) forward(w http.ResponseWriter, r *http.Request, req request) {
	if g.sem != nil {
		select {
		case g.sem <- struct{}{}:
			defer func() { <-g.sem }()
		default:
			w.Header().Set("Retry-After", "1")
			api.WriteProblem(w, http.StatusServiceUnavailable, api.NewProblem(http.StatusServiceUnavailable, api.CodeOverloaded, "",
				"the gate is at its limit of requests in flight; try again"))
			return
		}
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	ctx := context.WithValue(r.Context(), requestKey{}, &req)
	if req.claims != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer g.open.add(req.claims, cancel)()
	}
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// admitted checks the request's access token for event, and that the
// store still holds its session ACTIVE (at most every Recheck), counting
// the request as the session's heartbeat at most every HeartbeatEvery and
// renewing the token cookie then. While the store cannot be reached, a
// token that verified passes until its own expiry, and none is minted.
func (g *Gate) admitted(w http.ResponseWriter, r *http.Request, event string) (*accesstoken.Claims, bool) {
	c, err := r.Cookie(TokenCookie)
	if err != nil {
		return nil, false
	}
	now := g.d.Now()
	claims, ok := g.verified.Get(c.Value)
	if !ok || !now.Before(claims.ExpiresAt.Time) {
		if claims, err = g.d.Verifier.Verify(r.Context(), c.Value); err != nil {
			return nil, false
		}
		g.verified.Add(c.Value, claims)
	}
	if claims.EventID != event {
		return nil, false
	}
	if now.Before(g.due(claims.SessionID)) {
		return claims, true
	}
	sess, beat, err := g.check(r.Context(), claims.SessionID, now)
	switch {
	case errors.Is(err, errEnded):
		return nil, false
	case err != nil:
		return claims, true
	}
	if beat {
		g.d.Room.Renew(w, r, sess)
	}
	return claims, true
}

var errEnded = errors.New("session ended")

// due is when the store must next be asked about a session: its recheck,
// its next heartbeat or its deadline, whichever comes first; now for a
// session not checked yet.
func (g *Gate) due(id string) time.Time {
	st, ok := g.checks.Get(id)
	if !ok {
		return time.Time{}
	}
	return minTime(minTime(st.at.Add(g.cfg.Recheck), st.beatDue), st.expires)
}

// check asks the store about a session: a heartbeat when one is due (or
// the session's deadline has come, so the store decides on its own
// clock), else a read. errEnded says the session no longer passes; any
// other error is the store's, and the session keeps passing on its token.
func (g *Gate) check(ctx context.Context, id string, now time.Time) (room.Session, bool, error) {
	st, _ := g.checks.Get(id)
	beat := !now.Before(st.beatDue) || !now.Before(st.expires)
	var (
		sess room.Session
		err  error
	)
	if beat {
		sess, err = g.d.Sessions.Heartbeat(ctx, id)
	} else {
		sess, err = g.d.Sessions.Get(ctx, id)
	}
	switch {
	case errors.Is(err, room.ErrEnded), errors.Is(err, room.ErrNotFound), err == nil && sess.Status != room.StatusActive:
		g.Forget(id)
		return sess, false, errEnded
	case err != nil:
		if ctx.Err() == nil {
			g.d.Log.Warn("gate: session check", "err", err)
		}
		// The store is out of reach: ask again after Recheck, not at every
		// request (due reads all three times).
		next := now.Add(g.cfg.Recheck)
		st.at, st.beatDue, st.expires = now, next, next
		g.checks.Add(id, st)
		return sess, false, err
	}
	st.at, st.expires = now, sess.ExpiresAt
	if beat {
		// Due again within a third of what is left, so two lost requests in
		// a row do not end a session that is browsing.
		st.beatDue = now.Add(min(g.cfg.HeartbeatEvery, sess.ExpiresAt.Sub(now)/3))
	}
	g.checks.Add(id, st)
	return sess, beat, nil
}

// Forget stops passing a session that ended (it left through this
// replica): its open streams close and its next request is checked anew.
func (g *Gate) Forget(id string) {
	g.checks.Remove(id)
	g.open.end(id)
}

// rewrite sends a request on to the origin: on the normalised path, with
// the X-Forwarded headers, the user, session and event of an admitted
// request (never the client's own claims to them), and without the
// waiting room's cookies.
func (g *Gate) rewrite(pr *httputil.ProxyRequest) {
	req := pr.In.Context().Value(requestKey{}).(*request)
	pr.SetURL(g.cfg.Upstream)
	pr.Out.URL.Path = strings.TrimSuffix(g.cfg.Upstream.Path, "/") + req.path
	pr.Out.URL.RawPath = ""
	h := pr.Out.Header
	scrub(h)
	forwarded(h, pr.In.Header, pr.In.RemoteAddr, pr.In.Host, pr.In.TLS != nil, g.d.Trusted)
	stripCookies(h)
	if c := req.claims; c != nil {
		h.Set(HeaderUser, c.UserID())
		h.Set(HeaderSession, c.SessionID)
		h.Set(HeaderEvent, c.EventID)
		verified := "false"
		if c.Verified {
			verified = "true"
		}
		h.Set(HeaderUserVerified, verified)
	}
}

func (g *Gate) modifyResponse(resp *http.Response) error {
	if req, ok := resp.Request.Context().Value(requestKey{}).(*request); ok && req.claims != nil &&
		resp.StatusCode != http.StatusSwitchingProtocols {
		privateResponse(resp.Header)
	}
	return nil
}

// Validate reports every setting of c that cannot work, by its
// configuration key, as config.FieldErrors.
func (c Config) Validate() error {
	var ck config.Check
	ck.NotNegative("gate.maxConcurrent", c.MaxConcurrent)
	ck.AtLeast("gate.responseHeaderTimeout", c.ResponseHeaderTimeout, time.Second)
	ck.Between("gate.recheck", c.Recheck, 100*time.Millisecond, time.Minute)
	return ck.Err()
}
