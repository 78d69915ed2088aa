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
// WRCTL_* variables or the config file. Each field is one configuration
// key; its flag, default and description are `wrctl serve`'s (one table,
// in cmd/wrctl, written out in docs/configuration.md). Config turns it into
// what the room runs on.
type Settings struct {
	Addr            string
	PollInterval    time.Duration
	ShutdownTimeout time.Duration
	MaxConcurrent   int
	MaxHeld         int
	MaxConns        int
	MaxConnsPerAddr int

	Queue             string
	QueueURL          string
	QueueName         string
	GroupsPerEvent    int
	VisibilityTimeout time.Duration
	Region            string
	SQSEndpoint       string

	Store              string
	RedisAddr          []string
	RedisCluster       bool
	RedisUsername      string
	RedisPassword      string
	RedisDB            int
	RedisTLS           bool
	RedisTLSCAFile     string
	RedisTLSServerName string
	RedisPrefix        string

	Capacity          int
	HeartbeatTTL      time.Duration
	WaitingTTL        time.Duration
	MaxActive         time.Duration
	MaxWaiting        int
	NewUsersPerMinute int
	QueueingMethod    string
	QueueAll          bool
	UnknownEvents     string
	EndedRetention    time.Duration
	EventRetention    time.Duration
	TrustUserID       bool

	TokenSecret         string
	TokenKeyFile        string
	TokenAudience       string
	UserTokenSecret     string
	UserTokenKeyFile    string
	UserTokenIssuer     string
	UserTokenAudience   string
	AdminToken          string
	JoinRatePerIP       float64
	JoinBurstPerIP      int
	TrustedProxies      []string
	Upstream            string
	GateEvent           string
	GateRoutes          []string
	GateExclude         []string
	GateCaseInsensitive bool
	GateMaxConcurrent   int
	GateHeaderTimeout   time.Duration
	GateRecheck         time.Duration
	ReturnOrigins       []string
	PageTitle           string
	PageSiteName        string
	PageSiteURL         string
	PageMessage         string
	PageColor           string
	PageBackground      string
	PageTemplate        string
	LogLevel            string
	LogFormat           string

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
