// Package server is the waiting room's HTTP API.
package server

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/telemetry"
	"github.com/wrctl/wrctl/internal/usertoken"
)

// Config tunes the API.
type Config struct {
	// PollInterval is the Retry-After given to a WAITING session, capped so a
	// client that follows it is never abandoned. Default 2s.
	PollInterval time.Duration
	// MaxBodyBytes bounds a request body. Default 4 KiB.
	MaxBodyBytes int64
	// ShutdownTimeout bounds the drain of in-flight requests. Default 10s.
	ShutdownTimeout time.Duration
	// TokenAudience, if set, is the aud claim of access tokens.
	TokenAudience string
	// AdminToken turns the admin API on; empty leaves it off.
	AdminToken string
	// JoinRatePerIP limits joins per second per client IP; 0 is off.
	JoinRatePerIP float64
	// JoinBurstPerIP is the token bucket's burst. Default 10.
	JoinBurstPerIP int
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MaxConcurrent caps API requests in flight; past it 503. 0 is no cap.
	// Held status requests count against it.
	MaxConcurrent int
	// MaxHeld caps the status requests held for a change (?wait=); past
	// it they are answered at once with Retry-After. Default 5000 (a few
	// tens of MB, and a burst of re-reads two cores absorb); negative
	// holds none.
	MaxHeld int
	// RefuseUnknownEvents answers joins to events neither configured nor
	// given settings through the admin API with 404.
	RefuseUnknownEvents bool
	// KnownEvents are the events configuration names.
	KnownEvents []string
	// MaxConns caps open connections; at the cap the longest-idle
	// keep-alive connection is closed for a new one. 0 is no cap.
	MaxConns int
	// MaxConnsPerAddr caps open connections per client address (the peer:
	// behind a load balancer, leave it 0, no cap).
	MaxConnsPerAddr int
	// UserTokens, if set, verifies user tokens the site signs (sub =
	// userId), sent as "Authorization: Bearer" on a join: a valid one hands
	// the user's live session back without the first join's key.
	UserTokens *usertoken.Verifier
	// TrustUserID hands a live session to any re-join with its userId, for
	// deployments where only the site's backend calls the API. Off by
	// default: a re-join must send the first join's Idempotency-Key.
	TrustUserID bool
	// Policies are the events' configured rules, against which the admin
	// API checks new settings (a schedule must stay in order); optional.
	Policies room.Policies
	// Page brands the waiting page (GET /wait/{event}).
	Page PageConfig
	// Gate, with an Upstream, puts the server in front of a site.
	Gate *gate.Config
	// PublicEvents are listed by GET /api/waiting-room/events even before
	// anyone joins them; other events are listed only while they have
	// sessions, so a scheduled drop is not revealed early.
	PublicEvents []string
}

func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 10
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.MaxHeld == 0 {
		c.MaxHeld = DefaultMaxHeld
	}
	if c.MaxConcurrent > 0 {
		// Held requests count against MaxConcurrent: hold at most half of
		// it, so requests that are not held still get through.
		c.MaxHeld = min(c.MaxHeld, c.MaxConcurrent/2)
	}
	if c.JoinBurstPerIP <= 0 {
		c.JoinBurstPerIP = 10
	}
}

// DefaultMaxHeld is MaxHeld's default.
const DefaultMaxHeld = 5000

// Joiner takes joins: the join protocol (internal/intake) behind the API.
type Joiner interface {
	Join(ctx context.Context, req room.JoinRequest) (room.Session, bool, error)
}

// Store is what the API reads and changes in the session store.
type Store interface {
	Touch(ctx context.Context, id string) (room.Session, error)
	Heartbeat(ctx context.Context, id string) (room.Session, error)
	Leave(ctx context.Context, id string) (room.Session, error)
	Stats(ctx context.Context, eventID string) (room.EventStats, error)
	Events(ctx context.Context) ([]string, error)
	Settings(ctx context.Context, eventID string) (room.Settings, bool, error)
	PutSettings(ctx context.Context, eventID string, s room.Settings) error
	Shuffle(ctx context.Context, eventID string) (room.Shuffle, bool, error)
	Audit(ctx context.Context, eventID string, from int64, max int) ([]room.AuditEntry, error)
	Ping(ctx context.Context) error
	// Get reads a session without touching it (the gate's checks).
	Get(ctx context.Context, id string) (room.Session, error)
}

// Pinger is a dependency whose reachability /readyz reports.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are what the server works with.
type Deps struct {
	Store  Store
	Intake Joiner
	// Queue is the admission queue, for readiness only.
	Queue Pinger
	// Signer signs the access tokens of ACTIVE sessions.
	Signer  *accesstoken.Signer
	Metrics *telemetry.Metrics
	Log     *slog.Logger
	// Changes are the store's news (room.Store.Changes), which wake held
	// status requests; nil: they answer at their timeout.
	Changes <-chan room.Change
}

// Server serves the API over a store and an intake.
type Server struct {
	cfg     Config
	st      Store
	intake  Joiner
	q       Pinger
	log     *slog.Logger
	metrics *telemetry.Metrics
	signer  *accesstoken.Signer
	limiter *ipLimiter
	tokens  *tokenCache
	gate    *gate.Gate
	held    *held
	// inflight caps API requests in flight (MaxConcurrent); nil is no cap.
	inflight chan struct{}
	// room serves the room's own routes (the gate hands them over).
	room http.Handler
	// pseudonyms keys the pseudonyms of browser ids and the reference
	// codes of sessions.
	pseudonyms []byte
	// Now is the clock; time.Now unless a test sets it.
	Now func() time.Time
}

// New returns a server.
func New(cfg Config, d Deps) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, st: d.Store, intake: d.Intake, q: d.Queue, signer: d.Signer, metrics: d.Metrics, log: d.Log, Now: time.Now,
		tokens: newTokenCache(tokenCacheSize), held: newHeld(cfg.MaxHeld)}
	if d.Changes != nil {
		go s.held.listen(d.Changes)
	}
	if cfg.JoinRatePerIP > 0 {
		s.limiter = newIPLimiter(cfg.JoinRatePerIP, cfg.JoinBurstPerIP, 0)
	}
	if cfg.MaxConcurrent > 0 {
		s.inflight = make(chan struct{}, cfg.MaxConcurrent)
	}
	s.pseudonyms = s.signer.DeriveKey("browser pseudonyms")
	if cfg.Gate != nil && cfg.Gate.Upstream != nil {
		gc := *cfg.Gate
		gc.Reserved = reservedPaths
		// The gate and the signer read one clock: no leeway for skew, so a
		// token passes no longer than its own expiry.
		opts := []accesstoken.Option{accesstoken.WithLeeway(0)}
		if cfg.TokenAudience != "" {
			opts = append(opts, accesstoken.WithAudience(cfg.TokenAudience))
		}
		s.gate = gate.New(gc, gate.Deps{Sessions: d.Store, Room: gateRoom{s}, Verifier: s.signer.Verifier(opts...),
			Log: d.Log, Trusted: s.trusted, Now: func() time.Time { return s.Now() }})
	}
	return s
}

// reservedPaths are what the room serves itself in front of a site.
var reservedPaths = []string{"/api/waiting-room/", "/api/admin/", "/wait/", api.JWKSPath, "/healthz", "/readyz", "/metrics"}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	return s.routes()
}

// routes registers every route: the API at a glance. Methods are checked in
// the handlers so that a wrong one gets a problem body too.
func (s *Server) routes() http.Handler {
	apiMux, mux := http.NewServeMux(), http.NewServeMux()
	for _, rt := range s.routeTable() {
		h := rt.handler
		if h == nil {
			h = s.methods(rt.methods)
		}
		if rt.probe {
			mux.HandleFunc(rt.pattern, h)
		} else {
			apiMux.HandleFunc(rt.pattern, h)
		}
	}
	apiMux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, api.CodeNotFound, "", "no such resource")
	})
	// Probes and metrics stay reachable when the API is at its limit.
	mux.Handle("/", s.limitConcurrency(apiMux))
	s.room = mux
	if s.gate != nil {
		// In front of a site, the gate sees every request first: it decides
		// on the normalised path whether the room or the site serves it.
		return s.observe(s.gate)
	}
	return s.observe(mux)
}

// A route is a path the room serves and the methods it answers.
type route struct {
	pattern string
	methods map[string]http.HandlerFunc
	// handler, if set, dispatches the methods in allow itself.
	handler http.HandlerFunc
	allow   []string
	// probe routes stay outside the API's concurrency limit.
	probe bool
}

// routeTable is every route of the room, in one place.
func (s *Server) routeTable() []route {
	get := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: h}
	}
	return []route{
		{pattern: api.SessionsPath, methods: map[string]http.HandlerFunc{http.MethodPost: s.join}},
		// {seg} is ID or ID:heartbeat / ID:leave: ServeMux wildcards match
		// whole segments only, so the custom-method suffix is split off in
		// the handler.
		{pattern: api.SessionsPath + "/{seg}", handler: s.session, allow: []string{http.MethodGet, http.MethodPost}},
		{pattern: api.EventsPath, methods: get(s.events)},
		{pattern: api.EventsPath + "/{event}/stats", methods: get(s.eventStats)},
		{pattern: api.EventsPath + "/{event}/audit", methods: get(s.eventAudit)},
		{pattern: api.AdminEventsPath, methods: get(s.admin(s.adminEvents))},
		{pattern: api.AdminEventsPath + "/{event}", methods: map[string]http.HandlerFunc{
			http.MethodGet: s.admin(s.adminEventGet),
			http.MethodPut: s.admin(s.adminEventPut),
		}},
		{pattern: api.AdminEventsPath + "/{event}/shuffle", methods: get(s.admin(s.adminShuffle))},
		{pattern: api.JWKSPath, methods: get(s.jwks)},
		{pattern: "/wait/{event}", methods: get(s.waitPage)},
		{pattern: "/wait/{event}/status", methods: get(s.waitStatus)},
		{pattern: "/healthz", methods: get(s.healthz), probe: true},
		{pattern: "/readyz", methods: get(s.readyz), probe: true},
		{pattern: "/metrics", methods: get(func(w http.ResponseWriter, r *http.Request) { s.metrics.Handler().ServeHTTP(w, r) }), probe: true},
	}
}

// Routes lists every route the room serves as "METHOD /pattern", for the
// API's description (docs/openapi.yaml) and the test that holds it to them.
func Routes() []string {
	var out []string
	for _, rt := range (&Server{}).routeTable() {
		methods := rt.allow
		if methods == nil {
			methods = slices.Sorted(maps.Keys(rt.methods))
		}
		for _, m := range methods {
			out = append(out, m+" "+rt.pattern)
		}
	}
	return out
}

// methods dispatches on the request method; any other gets 405 with Allow.
// HEAD is served by GET.
func (s *Server) methods(h map[string]http.HandlerFunc) http.HandlerFunc {
	allow := slices.Sorted(maps.Keys(h))
	return func(w http.ResponseWriter, r *http.Request) {
		if f, ok := h[r.Method]; ok {
			f(w, r)
			return
		}
		if f, ok := h[http.MethodGet]; ok && r.Method == http.MethodHead {
			f(w, r)
			return
		}
		methodNotAllowed(w, r, allow...)
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow ...string) {
	list := strings.Join(allow, ", ")
	w.Header().Set("Allow", list)
	writeProblem(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "", r.Method+" is not allowed here; use "+list)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// jwks publishes the public key access tokens are signed with (none for a
// shared secret), so a protected site verifies them without calling back.
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, s.signer.JWKS())
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok", "queue": "ok"}
	ready := true
	if err := s.st.Ping(ctx); err != nil {
		checks["store"], ready = err.Error(), false
	}
	if err := s.q.Ping(ctx); err != nil {
		checks["queue"], ready = err.Error(), false
	}
	if !ready {
		w.Header().Set("Retry-After", "1")
		writeProblemBody(w, http.StatusServiceUnavailable, struct {
			api.Problem
			Checks map[string]string `json:"checks"`
		}{newProblem(http.StatusServiceUnavailable, api.CodeUnavailable, "", "a dependency cannot be reached"), checks})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

// Run serves on ln until ctx is cancelled, then stops accepting and drains
// in-flight requests within the shutdown timeout.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	// Read and write deadlines are set per request: the API's by
	// limitConcurrency, none on what the gate proxies (a stream or a
	// WebSocket lasts as long as its session).
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.held.close) // held status requests answer now
	if s.cfg.MaxConns > 0 || s.cfg.MaxConnsPerAddr > 0 {
		lim := newConnLimiter(s.cfg.MaxConns, s.cfg.MaxConnsPerAddr)
		ln = lim.listener(ln)
		srv.ConnState = lim.connState
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
