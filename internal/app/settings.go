package app

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
	"github.com/wrctl/wrctl/internal/server"
	"github.com/wrctl/wrctl/internal/usertoken"
)

// Settings is a room's configuration as an operator writes it, in flags,
// WRCTL_* variables or the config file. Each field's tags are the one
// description of the setting: key (the config file key, also the
// WRCTL_ variable), flag and default of `wrctl serve`, the group it is
// listed under in --help, and its usage line. Config turns it into what
// the room runs on.
type Settings struct {
	Addr            string        `key:"server.addr" flag:"addr" default:":8080" group:"HTTP" usage:"listen address; port 0 picks a free one and the bound address is logged"`
	PollInterval    time.Duration `key:"server.pollInterval" flag:"poll-interval" default:"2s" group:"HTTP" usage:"Retry-After given to WAITING clients"`
	ShutdownTimeout time.Duration `key:"server.shutdownTimeout" flag:"shutdown-timeout" default:"10s" group:"HTTP" usage:"how long SIGINT/SIGTERM waits for in-flight requests"`
	MaxConcurrent   int           `key:"server.maxConcurrent" flag:"max-concurrent-requests" default:"10000" group:"HTTP" usage:"API requests in flight at most; past it 503 with Retry-After (0: no cap)"`
	MaxHeld         int           `key:"server.maxHeld" flag:"max-held" default:"5000" group:"HTTP" usage:"status requests held for a change (?wait=) at most; past it they are answered at once with Retry-After (0: hold none); held requests count against server.maxConcurrent, and at most half of it are held"`
	MaxConns        int           `key:"server.maxConns" flag:"max-conns" default:"20000" group:"HTTP" usage:"open connections at most; at the cap the longest-idle keep-alive one is closed for a new one (0: no cap)"`
	MaxConnsPerAddr int           `key:"server.maxConnsPerAddr" flag:"max-conns-per-addr" default:"0" group:"HTTP" usage:"open connections per client address at most (0: no cap; keep 0 behind a load balancer)"`

	Queue             string        `key:"queue.backend" flag:"queue" default:"memory" group:"Queue" usage:"queue backend: memory (embedded, one replica) or sqs"`
	QueueURL          string        `key:"queue.url" flag:"queue-url" group:"Queue" usage:"SQS queue URL (with --queue sqs)"`
	QueueName         string        `key:"queue.name" flag:"queue-name" group:"Queue" usage:"SQS queue name, resolved to its URL at start (with --queue sqs)"`
	GroupsPerEvent    int           `key:"queue.groupsPerEvent" flag:"groups-per-event" default:"8" group:"Queue" usage:"FIFO message groups an event's wake-ups spread over: more lets more receives drain one hot event at once (1..1000; fairness comes from the store either way)"`
	VisibilityTimeout time.Duration `key:"queue.visibilityTimeout" flag:"visibility-timeout" default:"30s" group:"Queue" usage:"how long a received message stays hidden; a crashed replica's messages reappear after it"`
	Region            string        `key:"aws.region" flag:"region" group:"Queue" usage:"AWS region (default: the AWS default chain, e.g. AWS_REGION)"`
	SQSEndpoint       string        `key:"aws.endpoint" flag:"sqs-endpoint" group:"Queue" usage:"SQS endpoint URL, e.g. http://127.0.0.1:4566 for an emulator (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, then AWS)"`

	Store              string   `key:"store.backend" flag:"store" default:"memory" group:"Store" usage:"session store backend: memory (one replica) or redis (shared by all replicas)"`
	RedisAddr          []string `key:"store.redis.addr" flag:"redis-addr" default:"127.0.0.1:6379" group:"Store" usage:"Redis host:port; several comma-separated seeds mean Redis Cluster"`
	RedisCluster       bool     `key:"store.redis.cluster" flag:"redis-cluster" group:"Store" usage:"Redis Cluster with a single seed (e.g. an ElastiCache configuration endpoint)"`
	RedisUsername      string   `key:"store.redis.username" flag:"redis-username" group:"Store" usage:"Redis ACL user"`
	RedisPassword      string   `key:"store.redis.password" flag:"redis-password" group:"Store" usage:"Redis password (prefer WRCTL_STORE_REDIS_PASSWORD)"`
	RedisDB            int      `key:"store.redis.db" flag:"redis-db" default:"0" group:"Store" usage:"Redis database number (single node only)"`
	RedisTLS           bool     `key:"store.redis.tls" flag:"redis-tls" group:"Store" usage:"connect to Redis over TLS (ElastiCache in-transit encryption)"`
	RedisTLSCAFile     string   `key:"store.redis.tlsCAFile" flag:"redis-tls-ca-file" group:"Store" usage:"PEM CA bundle to trust for Redis TLS instead of the system roots"`
	RedisTLSServerName string   `key:"store.redis.tlsServerName" flag:"redis-tls-server-name" group:"Store" usage:"server name to verify in the Redis certificate"`
	RedisPrefix        string   `key:"store.redis.prefix" flag:"redis-prefix" default:"wrctl" group:"Store" usage:"prefix of every Redis key, so several rooms can share one Redis"`

	Capacity          int           `key:"room.capacity" flag:"capacity" default:"100" group:"Room" usage:"most ACTIVE sessions per event (events.<id>.capacity in the config file overrides it per event)"`
	HeartbeatTTL      time.Duration `key:"room.heartbeatTTL" flag:"heartbeat-ttl" default:"30s" group:"Room" usage:"an ACTIVE session without heartbeat for this long expires"`
	WaitingTTL        time.Duration `key:"room.waitingTTL" flag:"waiting-ttl" default:"60s" group:"Room" usage:"a WAITING session that neither polls nor heartbeats for this long is abandoned"`
	MaxActive         time.Duration `key:"room.maxActive" flag:"max-active" default:"15m" group:"Room" usage:"an ACTIVE session ends at this age whatever it does"`
	MaxWaiting        int           `key:"room.maxWaiting" flag:"max-waiting" default:"0" group:"Room" usage:"per event, refuse joins with 503 while this many wait (0: no limit)"`
	NewUsersPerMinute int           `key:"room.newUsersPerMinute" flag:"new-users-per-minute" default:"0" group:"Room" usage:"per event, admit at most this many a minute as well as the capacity cap, whichever binds; shared by every replica (0: no rate cap)"`
	QueueingMethod    string        `key:"room.queueingMethod" flag:"queueing-method" default:"fifo" group:"Room" usage:"how events admit unless set per event: fifo, random (a lottery), passthrough (no cap) or reject (joins get 503)"`
	QueueAll          bool          `key:"room.queueAll" flag:"queue-all" group:"Room" usage:"send every join through the queue, even one that finds nobody waiting and a free slot (by default it is admitted at once)"`
	UnknownEvents     string        `key:"room.unknownEvents" flag:"unknown-events" default:"accept" group:"Room" usage:"joins to events not configured nor set by the admin API: accept or refuse (404)"`
	EndedRetention    time.Duration `key:"room.endedRetention" flag:"ended-retention" default:"10m" group:"Room" usage:"an ended session answers status (LEFT or EXPIRED) this long, then 404"`
	EventRetention    time.Duration `key:"room.eventRetention" flag:"event-retention" default:"10m" group:"Room" usage:"an event with no live session and no runtime settings is forgotten (with its counters) after this long"`
	TrustUserID       bool          `key:"room.trustUserId" flag:"trust-user-id" group:"Room" usage:"hand a user's live session to any re-join with its userId, without the first join's Idempotency-Key (only when just the site's backend reaches the API)"`

	TokenSecret         string        `key:"token.secret" flag:"token-secret" group:"Token" usage:"HS256 secret for access tokens, at least 32 bytes (prefer WRCTL_TOKEN_SECRET)"`
	TokenKeyFile        string        `key:"token.ed25519KeyFile" flag:"token-key-file" group:"Token" usage:"Ed25519 private key (PEM PKCS #8) for EdDSA access tokens, published at /.well-known/jwks.json"`
	TokenAudience       string        `key:"token.audience" flag:"token-audience" group:"Token" usage:"aud claim of access tokens"`
	UserTokenSecret     string        `key:"userToken.secret" flag:"user-token-secret" group:"Token" usage:"HS256 secret of the user tokens the site signs (sub = userId): a join carrying one as Authorization: Bearer gets the user's place back without its Idempotency-Key (prefer WRCTL_USER_TOKEN_SECRET)"`
	UserTokenKeyFile    string        `key:"userToken.publicKeyFile" flag:"user-token-key-file" group:"Token" usage:"the site's Ed25519 public key (PEM) for EdDSA user tokens"`
	UserTokenIssuer     string        `key:"userToken.issuer" flag:"user-token-issuer" group:"Token" usage:"required iss of user tokens"`
	UserTokenAudience   string        `key:"userToken.audience" flag:"user-token-audience" group:"Token" usage:"required aud of user tokens"`
	AdminToken          string        `key:"admin.token" flag:"admin-token" group:"Limit and admin" usage:"bearer token of the admin API, at least 16 characters (prefer WRCTL_ADMIN_TOKEN; empty: admin API off)"`
	JoinRatePerIP       float64       `key:"limits.joinRatePerIP" flag:"join-rate-per-ip" default:"0" group:"Limit and admin" usage:"joins per second per client IP, 429 past it (0: off)"`
	JoinBurstPerIP      int           `key:"limits.joinBurstPerIP" flag:"join-burst-per-ip" default:"10" group:"Limit and admin" usage:"burst of the per-IP join limit"`
	TrustedProxies      []string      `key:"limits.trustedProxies" flag:"trusted-proxies" group:"Limit and admin" usage:"comma-separated CIDRs of proxies whose X-Forwarded-For names the client"`
	Upstream            string        `key:"gate.upstream" flag:"upstream" group:"Gate and waiting page" usage:"the site to put the waiting room in front of (http://origin:8080): requests with a valid access token are proxied to it, others get the waiting page"`
	GateEvent           string        `key:"gate.event" flag:"gate-event" group:"Gate and waiting page" usage:"with --upstream, the event guarding every path"`
	GateRoutes          []string      `key:"gate.routes" flag:"gate-route" group:"Gate and waiting page" usage:"with --upstream, PREFIX=EVENT guards the paths under PREFIX with EVENT (repeatable or comma-separated; the longest prefix wins; other paths pass unguarded)"`
	GateExclude         []string      `key:"gate.exclude" flag:"gate-exclude" group:"Gate and waiting page" usage:"path prefixes always proxied without a token (static assets, health checks)"`
	GateCaseInsensitive bool          `key:"gate.caseInsensitive" flag:"gate-case-insensitive" group:"Gate and waiting page" usage:"match --gate-route and --gate-exclude prefixes without regard to ASCII case, for sites that route that way (IIS); default case-sensitive, as nginx"`
	GateMaxConcurrent   int           `key:"gate.maxConcurrent" flag:"gate-max-concurrent" default:"10000" group:"Gate and waiting page" usage:"proxied requests in flight at most, apart from the API's limit; past it 503 (0: no cap)"`
	GateHeaderTimeout   time.Duration `key:"gate.responseHeaderTimeout" flag:"gate-response-header-timeout" default:"60s" group:"Gate and waiting page" usage:"how long the gate waits for the site's response headers; a streamed body then lasts as long as the session"`
	GateRecheck         time.Duration `key:"gate.recheck" flag:"gate-recheck" default:"1s" group:"Gate and waiting page" usage:"how often the gate asks the store whether a browsing session still holds its place: the longest a session that left or expired keeps passing (its streams and WebSockets are closed within it too)"`
	ReturnOrigins       []string      `key:"page.returnOrigins" flag:"return-origins" group:"Gate and waiting page" usage:"origins (https://shop.example.com) the waiting page may send admitted users back to, with the token as a parameter; paths on this site are always allowed"`
	PageTitle           string        `key:"page.title" flag:"page-title" group:"Gate and waiting page" usage:"the waiting page's title (default: page.siteName, else the event's id)"`
	PageSiteName        string        `key:"page.siteName" flag:"page-site-name" group:"Gate and waiting page" usage:"the site's name, which the waiting page's title shows (e.g. Acme Tickets)"`
	PageSiteURL         string        `key:"page.siteURL" flag:"page-site-url" group:"Gate and waiting page" usage:"the site's address, where the 'your turn' page's button leads a buyer who came without a return address"`
	PageMessage         string        `key:"page.message" flag:"page-message" group:"Gate and waiting page" usage:"a line under the title (e.g. the on-sale's name)"`
	PageColor           string        `key:"page.color" flag:"page-color" default:"#1f6feb" group:"Gate and waiting page" usage:"the page's accent colour (CSS)"`
	PageBackground      string        `key:"page.background" flag:"page-background" default:"#f6f8fa" group:"Gate and waiting page" usage:"the page's background colour (CSS)"`
	PageTemplate        string        `key:"page.template" flag:"page-template" group:"Gate and waiting page" usage:"an html/template file replacing the page (fields: see the README)"`
	LogLevel            string        `key:"log.level" flag:"log-level" default:"info" group:"Logging" usage:"log level: debug, info, warn or error"`
	LogFormat           string        `key:"log.format" flag:"log-format" default:"text" group:"Logging" usage:"log format: text or json"`

	// Events overrides room settings per event id; it is read from the
	// config file's events section (events.<id>.capacity) by ParseEvents.
	Events map[string]EventSettings
}

// EventSettings are one event's settings in the config file's events
// section: any of room's per-event settings (events.<id>.capacity, by the
// names of room.Table), and whether the event is public.
type EventSettings struct {
	room.Settings
	// Public lists the event in GET /api/waiting-room/events before anyone
	// joins it (its schedule included); other events are listed only while
	// they have sessions.
	Public bool
}

// FieldError is a setting that cannot work.
type FieldError struct {
	Key string // the config key, e.g. room.capacity, or events.<id>.capacity
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// FieldErrors are every setting that cannot work.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

// ParseEvents reads the events section of a config file, a setting at
// fault being a FieldError. It is read apart from the rest because event
// ids are case-sensitive.
func ParseEvents(yamlDoc []byte) (map[string]EventSettings, error) {
	var doc struct {
		Events map[string]map[string]yaml.Node `yaml:"events"`
	}
	if err := yaml.Unmarshal(yamlDoc, &doc); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	var errs FieldErrors
	out := make(map[string]EventSettings, len(doc.Events))
	for id, keys := range doc.Events {
		var e EventSettings
		for name, node := range keys {
			key := "events." + id + "." + name
			if err := e.set(name, node.Value); err != nil {
				errs = append(errs, &FieldError{Key: key, Msg: err.Error()})
			}
		}
		out[id] = e
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *FieldError) int { return strings.Compare(a.Key, b.Key) })
		return nil, errs
	}
	return out, nil
}

// set reads one key of an event's section.
func (e *EventSettings) set(name, text string) error {
	if name == "public" {
		b, err := strconv.ParseBool(text)
		e.Public = b
		if err != nil {
			return fmt.Errorf("%q is not true or false", text)
		}
		return nil
	}
	st, ok := room.SettingNamed(name)
	if !ok || st.Name != name {
		var names []string
		for _, s := range room.Table() {
			names = append(names, s.Name)
		}
		return fmt.Errorf("unknown setting (an event takes %s and public)", strings.Join(names, ", "))
	}
	if err := st.Parse(&e.Settings, text, time.Time{}); err != nil {
		return err
	}
	if !st.IsSet(e.Settings) && st.Kind != room.KindSwitch {
		return fmt.Errorf("%q would keep the room's value: leave the key out instead", text)
	}
	return nil
}

// Validate reports every setting that cannot work, as FieldErrors.
func (s Settings) Validate() error {
	var errs FieldErrors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	positive := func(key string, d, floor time.Duration) {
		if d < floor {
			bad(key, "must be at least %s, got %s", floor, d)
		}
	}
	notNegative := func(key string, n int) {
		if n < 0 {
			bad(key, "must not be negative, got %d", n)
		}
	}
	if s.Addr == "" {
		bad("server.addr", "must not be empty (e.g. :8080 or 127.0.0.1:0)")
	}
	positive("server.pollInterval", s.PollInterval, time.Millisecond)
	positive("server.shutdownTimeout", s.ShutdownTimeout, time.Millisecond)
	notNegative("server.maxConcurrent", s.MaxConcurrent)
	notNegative("server.maxConns", s.MaxConns)
	notNegative("server.maxHeld", s.MaxHeld)
	notNegative("server.maxConnsPerAddr", s.MaxConnsPerAddr)
	switch s.Queue {
	case "memory":
		if s.Store == "redis" {
			bad("queue.backend", "the memory queue lives in one process: a shared redis store needs --queue sqs")
		}
	case "sqs":
		if s.QueueURL == "" && s.QueueName == "" {
			bad("queue.backend", "sqs needs --queue-url (queue.url) or --queue-name (queue.name)")
		}
	default:
		bad("queue.backend", "must be memory or sqs, got %q", s.Queue)
	}
	if s.GroupsPerEvent < 1 || s.GroupsPerEvent > queue.MaxGroupsPerEvent {
		bad("queue.groupsPerEvent", "must be 1..%d, got %d", queue.MaxGroupsPerEvent, s.GroupsPerEvent)
	}
	if v := s.VisibilityTimeout; v < 2*time.Second || v > 12*time.Hour {
		bad("queue.visibilityTimeout", "must be between 2s and 12h, got %s", v)
	}
	switch s.Store {
	case "memory":
	case "redis":
		if len(s.RedisAddr) == 0 {
			bad("store.redis.addr", "redis needs at least one host:port")
		}
		for _, a := range s.RedisAddr {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad("store.redis.addr", "%q is not host:port", a)
			}
		}
		if s.RedisDB < 0 || (s.RedisDB != 0 && (len(s.RedisAddr) > 1 || s.RedisCluster)) {
			bad("store.redis.db", "must be 0 with Redis Cluster and never negative, got %d", s.RedisDB)
		}
		if s.RedisPrefix == "" || strings.ContainsAny(s.RedisPrefix, "{} ") {
			bad("store.redis.prefix", "must be non-empty without braces or spaces, got %q", s.RedisPrefix)
		}
		if (s.RedisTLSCAFile != "" || s.RedisTLSServerName != "") && !s.RedisTLS {
			bad("store.redis.tls", "--redis-tls-ca-file and --redis-tls-server-name need --redis-tls")
		}
	default:
		bad("store.backend", "must be memory or redis, got %q", s.Store)
	}
	if s.Capacity < 1 {
		bad("room.capacity", "must be at least 1, got %d", s.Capacity)
	}
	positive("room.heartbeatTTL", s.HeartbeatTTL, time.Second)
	positive("room.maxActive", s.MaxActive, time.Second)
	if s.WaitingTTL < room.MinWaitingTTL {
		bad("room.waitingTTL", "must be at least %s so a client polling every third of it (at most once a second) is never abandoned, got %s", room.MinWaitingTTL, s.WaitingTTL)
	}
	positive("room.endedRetention", s.EndedRetention, time.Second)
	positive("room.eventRetention", s.EventRetention, time.Second)
	notNegative("room.maxWaiting", s.MaxWaiting)
	notNegative("room.newUsersPerMinute", s.NewUsersPerMinute)
	if _, err := room.ParseMethod(s.QueueingMethod); err != nil {
		bad("room.queueingMethod", "%v", err)
	}
	if s.UnknownEvents != "accept" && s.UnknownEvents != "refuse" {
		bad("room.unknownEvents", "must be accept or refuse, got %q", s.UnknownEvents)
	}
	if s.TokenSecret != "" && s.TokenKeyFile != "" {
		bad("token.secret", "give --token-secret or --token-key-file, not both")
	}
	if s.TokenSecret != "" && len(s.TokenSecret) < accesstoken.MinSecretLen {
		bad("token.secret", "must be at least %d bytes, got %d (e.g. openssl rand -hex 32)", accesstoken.MinSecretLen, len(s.TokenSecret))
	}
	if s.UserTokenSecret != "" && s.UserTokenKeyFile != "" {
		bad("userToken.secret", "give --user-token-secret or --user-token-key-file, not both")
	}
	if s.UserTokenSecret != "" && len(s.UserTokenSecret) < accesstoken.MinSecretLen {
		bad("userToken.secret", "must be at least %d bytes, got %d", accesstoken.MinSecretLen, len(s.UserTokenSecret))
	}
	if s.AdminToken != "" && len(s.AdminToken) < 16 {
		bad("admin.token", "must be at least 16 characters, got %d (e.g. openssl rand -hex 24)", len(s.AdminToken))
	}
	if s.JoinRatePerIP < 0 {
		bad("limits.joinRatePerIP", "must not be negative, got %v", s.JoinRatePerIP)
	}
	if s.JoinBurstPerIP < 1 {
		bad("limits.joinBurstPerIP", "must be at least 1, got %d", s.JoinBurstPerIP)
	}
	if _, err := s.trustedProxies(); err != nil {
		bad("limits.trustedProxies", "%v", err)
	}
	if _, err := s.logLevel(); err != nil {
		bad("log.level", "%v", err)
	}
	if _, err := s.gate(); err != nil {
		errs = append(errs, err.(*FieldError))
	}
	for _, o := range s.ReturnOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("page.returnOrigins", "%q is not an origin such as https://shop.example.com", o)
		}
	}
	if u, err := url.Parse(s.PageSiteURL); s.PageSiteURL != "" && (err != nil || !(u.Scheme == "" && strings.HasPrefix(u.Path, "/") && u.Host == "") &&
		!((u.Scheme == "https" || u.Scheme == "http") && u.Host != "")) {
		bad("page.siteURL", "%q is not an http(s) URL or a path such as https://shop.example.com/ or /", s.PageSiteURL)
	}
	if s.PageTemplate != "" {
		if _, err := template.ParseFiles(s.PageTemplate); err != nil {
			bad("page.template", "%v", err)
		}
	}
	for key, c := range map[string]string{"page.color": s.PageColor, "page.background": s.PageBackground} {
		if !cssColor(c) {
			bad(key, "%q is not a CSS colour such as #1f6feb or rebeccapurple", c)
		}
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		bad("log.format", "must be text or json, got %q", s.LogFormat)
	}
	for _, id := range slices.Sorted(maps.Keys(s.Events)) {
		if err := room.ValidateID(id); err != nil {
			bad("events."+id, "event id %v", err)
		}
		if err := s.Events[id].Validate(); err != nil {
			bad("events."+id, "%v", err)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Policies are the events' rules the settings describe.
func (s Settings) Policies() room.StaticPolicies {
	p := room.StaticPolicies{Default: room.Policy{Capacity: s.Capacity, HeartbeatTTL: s.HeartbeatTTL,
		WaitingTTL: s.WaitingTTL, MaxActive: s.MaxActive, MaxWaiting: s.MaxWaiting, NewUsersPerMinute: s.NewUsersPerMinute,
		Method: room.Method(s.QueueingMethod), QueueAll: s.QueueAll}}
	for id, e := range s.Events {
		if e.Settings != (room.Settings{}) {
			if p.Events == nil {
				p.Events = map[string]room.Settings{}
			}
			p.Events[id] = e.Settings
		}
	}
	return p
}

// Logger writes the logs the settings ask for to w.
func (s Settings) Logger(w io.Writer) *slog.Logger {
	level, _ := s.logLevel()
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Config validates the settings and builds the room's Config, reading the
// key and CA files they name; a setting at fault is a *FieldError.
func (s Settings) Config(log *slog.Logger) (Config, error) {
	if err := s.Validate(); err != nil {
		return Config{}, err
	}
	proxies, _ := s.trustedProxies()
	c := Config{
		Addr: s.Addr,
		Server: server.Config{
			PollInterval: s.PollInterval, ShutdownTimeout: s.ShutdownTimeout, TokenAudience: s.TokenAudience,
			AdminToken: s.AdminToken, JoinRatePerIP: s.JoinRatePerIP, JoinBurstPerIP: s.JoinBurstPerIP,
			TrustedProxies: proxies, MaxConcurrent: s.MaxConcurrent, MaxHeld: cmp.Or(s.MaxHeld, -1), MaxConns: s.MaxConns, MaxConnsPerAddr: s.MaxConnsPerAddr,
			RefuseUnknownEvents: s.UnknownEvents == "refuse", KnownEvents: slices.Collect(maps.Keys(s.Events)), TrustUserID: s.TrustUserID,
		},
		Granter:   granter.Config{Visibility: s.VisibilityTimeout, Groups: queue.Groups(s.GroupsPerEvent)},
		Policies:  s.Policies(),
		Retention: room.Retention{Ended: s.EndedRetention, Event: s.EventRetention},
		Log:       log,
	}
	c.Server.Gate, _ = s.gate()
	c.Server.Page = server.PageConfig{Title: s.PageTitle, SiteName: s.PageSiteName, SiteURL: s.PageSiteURL, Message: s.PageMessage, Color: s.PageColor,
		Background: s.PageBackground, ReturnOrigins: s.ReturnOrigins}
	for _, id := range slices.Sorted(maps.Keys(s.Events)) {
		if s.Events[id].Public {
			c.Server.PublicEvents = append(c.Server.PublicEvents, id)
		}
	}
	if s.PageTemplate != "" {
		t, err := template.ParseFiles(s.PageTemplate)
		if err != nil {
			return c, &FieldError{"page.template", err.Error()}
		}
		c.Server.Page.Template = t
	}
	if s.Queue == "sqs" {
		c.SQS = &SQSConfig{Client: sqsqueue.ClientConfig{Region: s.Region, Endpoint: s.SQSEndpoint, QueueURL: s.QueueURL}, URL: s.QueueURL, Name: s.QueueName}
	}
	var err error
	if s.Store == "redis" {
		c.Redis = &redisstore.Config{Addrs: s.RedisAddr, Cluster: s.RedisCluster, Username: s.RedisUsername,
			Password: s.RedisPassword, DB: s.RedisDB, Prefix: s.RedisPrefix}
		if s.RedisTLS {
			if c.Redis.TLS, err = s.redisTLS(); err != nil {
				return c, err
			}
		}
	}
	switch {
	case s.TokenSecret != "":
		if c.Signer, err = accesstoken.NewHS256Signer([]byte(s.TokenSecret)); err != nil {
			return c, err
		}
	case s.TokenKeyFile != "":
		pem, err := readKey("token.ed25519KeyFile", s.TokenKeyFile)
		if err != nil {
			return c, err
		}
		key, err := accesstoken.ParsePrivateKey(pem)
		if err != nil {
			return c, &FieldError{"token.ed25519KeyFile", s.TokenKeyFile + ": " + err.Error()}
		}
		c.Signer = accesstoken.NewEd25519Signer(key)
	}
	uc := usertoken.Config{Issuer: s.UserTokenIssuer, Audience: s.UserTokenAudience}
	switch {
	case s.UserTokenSecret != "":
		uc.Secret = []byte(s.UserTokenSecret)
		c.UserTokens = &uc
	case s.UserTokenKeyFile != "":
		pub, err := readKey("userToken.publicKeyFile", s.UserTokenKeyFile)
		if err != nil {
			return c, err
		}
		if uc.PublicKey, err = accesstoken.ParsePublicKey(pub); err != nil {
			return c, &FieldError{"userToken.publicKeyFile", s.UserTokenKeyFile + ": " + err.Error()}
		}
		c.UserTokens = &uc
	}
	return c, nil
}

func readKey(key, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{key, err.Error()}
	}
	return b, nil
}

func (s Settings) redisTLS() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.RedisTLSServerName}
	if s.RedisTLSCAFile != "" {
		pem, err := readKey("store.redis.tlsCAFile", s.RedisTLSCAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &FieldError{"store.redis.tlsCAFile", s.RedisTLSCAFile + ": no PEM certificates in it"}
		}
	}
	return tc, nil
}

func (s Settings) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, cidr := range s.TrustedProxies {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			a, aerr := netip.ParseAddr(cidr)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8) or an address", cidr)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

func (s Settings) logLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s.LogLevel)
	}
	return l, nil
}

// Describe is the one-line summary of what the room runs on, for the log.
func (s Settings) Describe() (queueDesc, storeDesc string) {
	queueDesc, storeDesc = "memory", "memory"
	if s.Queue == "sqs" {
		queueDesc = s.QueueURL
		if queueDesc == "" {
			queueDesc = s.QueueName
		}
	}
	if s.Store == "redis" {
		storeDesc = "redis " + strings.Join(s.RedisAddr, ",") + " prefix " + s.RedisPrefix
	}
	return queueDesc, storeDesc
}

// gate is the gate the settings describe: nil without an upstream.
func (s Settings) gate() (*gate.Config, error) {
	if s.Upstream == "" {
		if s.GateEvent != "" || len(s.GateRoutes) > 0 {
			return nil, &FieldError{"gate.upstream", "--gate-event and --gate-route need --upstream, the site to guard"}
		}
		return nil, nil
	}
	u, err := url.Parse(s.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FieldError{"gate.upstream", fmt.Sprintf("%q is not an http(s) URL such as http://127.0.0.1:3000", s.Upstream)}
	}
	g := &gate.Config{Upstream: u, Exclude: s.GateExclude, CaseInsensitive: s.GateCaseInsensitive, MaxConcurrent: s.GateMaxConcurrent,
		ResponseHeaderTimeout: s.GateHeaderTimeout, Recheck: s.GateRecheck}
	for _, p := range s.GateExclude {
		if !plainPrefix(p) {
			return nil, &FieldError{"gate.exclude", fmt.Sprintf("%q: want a plain path prefix such as /static/ (no dot segments, encoding or backslashes)", p)}
		}
	}
	if s.GateEvent != "" {
		if err := room.ValidateID(s.GateEvent); err != nil {
			return nil, &FieldError{"gate.event", "event id " + err.Error()}
		}
		g.Routes = append(g.Routes, gate.Route{Prefix: "/", Event: s.GateEvent})
	}
	for _, rt := range s.GateRoutes {
		prefix, event, ok := strings.Cut(rt, "=")
		if !ok || !plainPrefix(prefix) || room.ValidateID(event) != nil {
			return nil, &FieldError{"gate.routes", fmt.Sprintf("%q: want PREFIX=EVENT with a plain path prefix, e.g. /shop=launch-2026", rt)}
		}
		g.Routes = append(g.Routes, gate.Route{Prefix: prefix, Event: event})
	}
	if s.GateMaxConcurrent < 0 {
		return nil, &FieldError{"gate.maxConcurrent", fmt.Sprintf("must not be negative, got %d", s.GateMaxConcurrent)}
	}
	if s.GateHeaderTimeout < time.Second {
		return nil, &FieldError{"gate.responseHeaderTimeout", fmt.Sprintf("must be at least 1s, got %s", s.GateHeaderTimeout)}
	}
	if s.GateRecheck < 100*time.Millisecond || s.GateRecheck > time.Minute {
		return nil, &FieldError{"gate.recheck", fmt.Sprintf("must be between 100ms and 1m, got %s", s.GateRecheck)}
	}
	if len(g.Routes) == 0 {
		return nil, &FieldError{"gate.event", "--upstream needs the event guarding the site: --gate-event EVENT, or --gate-route PREFIX=EVENT"}
	}
	return g, nil
}

// plainPrefix reports whether a route or exclusion prefix is a path the
// gate can compare normalised paths with: already in normal form.
func plainPrefix(p string) bool {
	n, err := gate.Normalize(p)
	return err == nil && (n == p || n+"/" == p) && !strings.Contains(p, "%")
}

// cssColor accepts the colours a page setting may hold: #rgb, #rrggbb,
// #rrggbbaa or a colour name; nothing that could end the CSS value.
func cssColor(c string) bool {
	if c == "" {
		return true
	}
	if c[0] == '#' {
		if n := len(c) - 1; n != 3 && n != 4 && n != 6 && n != 8 {
			return false
		}
		_, err := strconv.ParseUint(c[1:], 16, 64)
		return err == nil
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
