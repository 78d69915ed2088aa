package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/room"
)

// Config is wrctl serve's configuration, from flags, WRCTL_* environment,
// the config file and defaults.
type Config struct {
	Server ServerConfig
	Queue  QueueConfig
	AWS    AWSConfig
	Store  StoreConfig
	Room   RoomConfig
	Log    LogConfig
	Token  TokenConfig
	// UserToken says how to verify the site's user tokens.
	UserToken UserTokenConfig
	Admin     AdminConfig
	Limits    LimitsConfig
	// Events overrides room settings per event id (events.<id>.capacity).
	Events map[string]EventConfig
}

// ServerConfig is the server.* section.
type ServerConfig struct {
	// Addr is the listen address (server.addr, default :8080); port 0 picks a free port.
	Addr string
	// PollInterval is the Retry-After a WAITING client is told (server.pollInterval, default 2s).
	PollInterval time.Duration
	// ShutdownTimeout bounds the drain on SIGINT/SIGTERM (server.shutdownTimeout, default 10s).
	ShutdownTimeout time.Duration
	// MaxConcurrent caps API requests in flight, 503 past it; 0 is no cap
	// (server.maxConcurrent, default 10000).
	MaxConcurrent int
	// MaxConns caps open connections; at the cap the longest-idle keep-alive
	// connection is closed for a new one; 0 is no cap (server.maxConns,
	// default 20000, and never above the file-descriptor limit less 256).
	MaxConns int
	// MaxConnsPerAddr caps open connections per peer address; 0 is no cap
	// (server.maxConnsPerAddr, default 0: behind a load balancer every
	// connection comes from it).
	MaxConnsPerAddr int
}

// AdminConfig is the admin.* section.
type AdminConfig struct {
	// Token turns the admin API on, as a bearer token; prefer WRCTL_ADMIN_TOKEN
	// (admin.token, default empty: the admin API is off).
	Token string
}

// LimitsConfig is the limits.* section: abuse limits.
type LimitsConfig struct {
	// JoinRatePerIP limits joins per second per client IP, 429 past it; 0 is
	// off (limits.joinRatePerIP, default 0: a load test from one host must not trip it).
	JoinRatePerIP float64
	// JoinBurstPerIP is the burst of that token bucket (limits.joinBurstPerIP, default 10).
	JoinBurstPerIP int
	// TrustedProxies are CIDRs whose X-Forwarded-For names the client
	// (limits.trustedProxies, default none: the peer address is the client).
	TrustedProxies []netip.Prefix
}

// QueueConfig is the queue.* section.
type QueueConfig struct {
	// Backend is memory (embedded, one replica) or sqs (queue.backend, default memory).
	Backend string
	// URL of the SQS queue (queue.url); or give Name.
	URL string
	// Name of the SQS queue, resolved to its URL at start (queue.name).
	Name string
	// VisibilityTimeout hides a received message from other granters; held
	// messages are extended, a crashed replica's reappear after it
	// (queue.visibilityTimeout, default 30s).
	VisibilityTimeout time.Duration
}

// AWSConfig is the aws.* section.
type AWSConfig struct {
	// Region (aws.region); empty uses the AWS default chain.
	Region string
	// Endpoint overrides the SQS endpoint, e.g. an emulator (aws.endpoint).
	Endpoint string
}

// StoreConfig is the store.* section.
type StoreConfig struct {
	// Backend is memory (one replica) or redis (shared by replicas) (store.backend, default memory).
	Backend string
	Redis   RedisConfig
}

// RedisConfig is the store.redis.* section.
type RedisConfig struct {
	// Addr lists host:port seeds, comma-separated; two or more mean Redis
	// Cluster (store.redis.addr, default 127.0.0.1:6379).
	Addr []string
	// Cluster forces cluster mode with a single seed, e.g. an ElastiCache
	// configuration endpoint (store.redis.cluster, default false).
	Cluster bool
	// Username is the ACL user (store.redis.username).
	Username string
	// Password is the ACL or AUTH password; prefer WRCTL_STORE_REDIS_PASSWORD (store.redis.password).
	Password string
	// DB is the database number, single node only (store.redis.db, default 0).
	DB int
	// TLS turns on TLS, as ElastiCache in-transit encryption needs (store.redis.tls, default false).
	TLS bool
	// TLSCAFile trusts this PEM CA bundle instead of the system roots (store.redis.tlsCAFile).
	TLSCAFile string
	// TLSServerName overrides the name checked in the server certificate (store.redis.tlsServerName).
	TLSServerName string
	// Prefix starts every key, so several rooms share one Redis (store.redis.prefix, default wrctl).
	Prefix string
}

// RoomConfig is the room.* section: the default policy of every event.
type RoomConfig struct {
	// Capacity is the most ACTIVE sessions per event (room.capacity, default 100).
	Capacity int
	// HeartbeatTTL ends an ACTIVE session without heartbeat (room.heartbeatTTL, default 30s).
	HeartbeatTTL time.Duration
	// WaitingTTL abandons a silent WAITING session (room.waitingTTL, default 60s).
	WaitingTTL time.Duration
	// MaxActive ends an ACTIVE session at this age (room.maxActive, default 15m).
	MaxActive time.Duration
	// MaxWaiting refuses joins with 503 while an event has this many waiting;
	// 0 is no limit (room.maxWaiting, default 0).
	MaxWaiting int
	// UnknownEvents is accept (any event id opens a line) or refuse (joins
	// to events neither configured nor set through the admin API get 404)
	// (room.unknownEvents, default accept).
	UnknownEvents string
	// EndedRetention keeps an ended session answering status (LEFT or
	// EXPIRED) this long (room.endedRetention, default 10m).
	EndedRetention time.Duration
	// EventRetention keeps an event with no live session and no runtime
	// settings, with its counters, this long (room.eventRetention, default 10m).
	EventRetention time.Duration
	// TrustUserID hands a user's live session to any re-join with the same
	// userId, without the first join's Idempotency-Key: only for rooms whose
	// API only the site's backend reaches (room.trustUserId, default false).
	TrustUserID bool
}

// TokenConfig is the token.* section: how access tokens are signed.
type TokenConfig struct {
	// Secret signs HS256 tokens, at least 32 bytes; prefer WRCTL_TOKEN_SECRET (token.secret).
	Secret string
	// Ed25519KeyFile is a PEM PKCS #8 Ed25519 private key; tokens are EdDSA and
	// the public key is served at /.well-known/jwks.json (token.ed25519KeyFile).
	Ed25519KeyFile string
	// Audience, if set, is the aud claim (token.audience).
	Audience string
}

// UserTokenConfig is the userToken.* section: how the site signs the user
// tokens a join may carry (sub = userId) to prove it is the user; off when
// neither key is set.
type UserTokenConfig struct {
	// Secret is the HS256 secret shared with the site, at least 32 bytes;
	// prefer WRCTL_USER_TOKEN_SECRET (userToken.secret).
	Secret string
	// PublicKeyFile is the site's Ed25519 public key, PEM (userToken.publicKeyFile).
	PublicKeyFile string
	// Issuer, if set, must be the tokens' iss (userToken.issuer).
	Issuer string
	// Audience, if set, must be in the tokens' aud (userToken.audience).
	Audience string
}

// LogConfig is the log.* section.
type LogConfig struct {
	// Level is debug, info, warn or error (log.level, default info).
	Level string
	// Format is text or json (log.format, default text).
	Format string
}

// EventConfig overrides the room policy for one event.
type EventConfig struct {
	Capacity int `yaml:"capacity"`
}

// loadConfig reads Config from v; values that cannot parse are usage errors.
func loadConfig(v *viper.Viper) (Config, error) {
	var c Config
	var errs []string
	str := func(key string) string { return strings.TrimSpace(v.GetString(key)) }
	dur := func(key string) time.Duration {
		raw := v.Get(key)
		if d, ok := raw.(time.Duration); ok {
			return d
		}
		d, err := time.ParseDuration(fmt.Sprint(raw))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a duration (e.g. 30s, 5m)", flagFor(key), fmt.Sprint(raw)))
		}
		return d
	}
	num := func(key string) int {
		raw := strings.TrimSpace(fmt.Sprint(v.Get(key)))
		n, err := strconv.Atoi(raw)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a whole number", flagFor(key), raw))
		}
		return n
	}
	c.Server = ServerConfig{Addr: str("server.addr"), PollInterval: dur("server.pollInterval"), ShutdownTimeout: dur("server.shutdownTimeout"), MaxConcurrent: num("server.maxConcurrent"),
		MaxConns: num("server.maxConns"), MaxConnsPerAddr: num("server.maxConnsPerAddr")}
	c.Admin = AdminConfig{Token: v.GetString("admin.token")}
	c.Limits = LimitsConfig{JoinBurstPerIP: num("limits.joinBurstPerIP")}
	if rate, err := strconv.ParseFloat(strings.TrimSpace(fmt.Sprint(v.Get("limits.joinRatePerIP"))), 64); err != nil {
		errs = append(errs, flagFor("limits.joinRatePerIP")+": not a number of joins per second")
	} else {
		c.Limits.JoinRatePerIP = rate
	}
	for _, cidr := range splitList(v.Get("limits.trustedProxies")) {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			if a, aerr := netip.ParseAddr(cidr); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			errs = append(errs, flagFor("limits.trustedProxies")+": "+strconv.Quote(cidr)+" is not a CIDR (e.g. 10.0.0.0/8) or an address")
			continue
		}
		c.Limits.TrustedProxies = append(c.Limits.TrustedProxies, p)
	}
	c.Queue = QueueConfig{Backend: str("queue.backend"), URL: str("queue.url"), Name: str("queue.name"), VisibilityTimeout: dur("queue.visibilityTimeout")}
	c.AWS = AWSConfig{Region: str("aws.region"), Endpoint: str("aws.endpoint")}
	c.Store = StoreConfig{Backend: str("store.backend"), Redis: RedisConfig{
		Addr:          splitList(v.Get("store.redis.addr")),
		Cluster:       v.GetBool("store.redis.cluster"),
		Username:      str("store.redis.username"),
		Password:      v.GetString("store.redis.password"),
		DB:            num("store.redis.db"),
		TLS:           v.GetBool("store.redis.tls"),
		TLSCAFile:     str("store.redis.tlsCAFile"),
		TLSServerName: str("store.redis.tlsServerName"),
		Prefix:        str("store.redis.prefix"),
	}}
	c.Room = RoomConfig{Capacity: num("room.capacity"), HeartbeatTTL: dur("room.heartbeatTTL"), WaitingTTL: dur("room.waitingTTL"),
		MaxActive: dur("room.maxActive"), MaxWaiting: num("room.maxWaiting"), UnknownEvents: str("room.unknownEvents"),
		TrustUserID: v.GetBool("room.trustUserId"), EndedRetention: dur("room.endedRetention"), EventRetention: dur("room.eventRetention")}
	c.Log = LogConfig{Level: str("log.level"), Format: str("log.format")}
	c.Token = TokenConfig{Secret: v.GetString("token.secret"), Ed25519KeyFile: str("token.ed25519KeyFile"), Audience: str("token.audience")}
	c.UserToken = UserTokenConfig{Secret: v.GetString("userToken.secret"), PublicKeyFile: str("userToken.publicKeyFile"),
		Issuer: str("userToken.issuer"), Audience: str("userToken.audience")}
	if len(errs) > 0 {
		return c, usageError{fmt.Errorf("%s", strings.Join(errs, "; "))}
	}
	events, err := readEvents(v.ConfigFileUsed())
	if err != nil {
		return c, err
	}
	c.Events = events
	return c, c.Validate()
}

// unknownKeys refuses a config file key no command reads: a typo such as
// room.capcity would otherwise be ignored silently during an on-sale.
func unknownKeys(v *viper.Viper) error {
	if v.ConfigFileUsed() == "" {
		return nil
	}
	known := map[string]bool{}
	for k := range configKeys {
		known[strings.ToLower(k)] = true
	}
	var bad []string
	for _, k := range v.AllKeys() {
		if !known[k] && !strings.HasPrefix(k, "events.") {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return usagef("--config %s: unknown key(s) %s (see configs/wrctl.yaml for every key)", v.ConfigFileUsed(), strings.Join(bad, ", "))
	}
	return nil
}

// readEvents reads the events section of the config file itself: viper
// folds keys to lower case, and event ids are case-sensitive.
func readEvents(path string) (map[string]EventConfig, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--config %s: %v", path, err)
	}
	var doc struct {
		Events map[string]EventConfig `yaml:"events"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, usagef("--config %s: events: %v", path, err)
	}
	return doc.Events, nil
}

// Validate reports every setting that cannot work, naming its flag and key.
func (c Config) Validate() error {
	var errs []string
	bad := func(key, format string, a ...any) {
		errs = append(errs, flagFor(key)+": "+fmt.Sprintf(format, a...))
	}
	if c.Server.Addr == "" {
		bad("server.addr", "must not be empty (e.g. :8080 or 127.0.0.1:0)")
	}
	if c.Server.PollInterval <= 0 {
		bad("server.pollInterval", "must be positive, got %s", c.Server.PollInterval)
	}
	if c.Server.ShutdownTimeout <= 0 {
		bad("server.shutdownTimeout", "must be positive, got %s", c.Server.ShutdownTimeout)
	}
	switch c.Queue.Backend {
	case "memory":
	case "sqs":
		if c.Queue.URL == "" && c.Queue.Name == "" {
			bad("queue.backend", "sqs needs --queue-url (queue.url) or --queue-name (queue.name)")
		}
	default:
		bad("queue.backend", "must be memory or sqs, got %q", c.Queue.Backend)
	}
	if v := c.Queue.VisibilityTimeout; v < 2*time.Second || v > 12*time.Hour {
		bad("queue.visibilityTimeout", "must be between 2s and 12h, got %s", v)
	}
	switch c.Store.Backend {
	case "memory":
	case "redis":
		r := c.Store.Redis
		if len(r.Addr) == 0 {
			bad("store.redis.addr", "redis needs at least one host:port")
		}
		for _, a := range r.Addr {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad("store.redis.addr", "%q is not host:port", a)
			}
		}
		if r.DB < 0 || (r.DB != 0 && (len(r.Addr) > 1 || r.Cluster)) {
			bad("store.redis.db", "must be 0 with Redis Cluster and never negative, got %d", r.DB)
		}
		if r.Prefix == "" || strings.ContainsAny(r.Prefix, "{} ") {
			bad("store.redis.prefix", "must be non-empty without braces or spaces, got %q", r.Prefix)
		}
		if (r.TLSCAFile != "" || r.TLSServerName != "") && !r.TLS {
			bad("store.redis.tls", "--redis-tls-ca-file and --redis-tls-server-name need --redis-tls")
		}
	default:
		bad("store.backend", "must be memory or redis, got %q", c.Store.Backend)
	}
	if c.Queue.Backend == "memory" && c.Store.Backend == "redis" {
		bad("queue.backend", "the memory queue lives in one process: a shared redis store needs --queue sqs")
	}
	if c.Room.Capacity < 1 {
		bad("room.capacity", "must be at least 1, got %d", c.Room.Capacity)
	}
	for key, d := range map[string]time.Duration{"room.heartbeatTTL": c.Room.HeartbeatTTL, "room.waitingTTL": c.Room.WaitingTTL, "room.maxActive": c.Room.MaxActive} {
		if d < time.Second {
			bad(key, "must be at least 1s, got %s", d)
		}
	}
	for key, d := range map[string]time.Duration{"room.endedRetention": c.Room.EndedRetention, "room.eventRetention": c.Room.EventRetention} {
		if d < time.Second {
			bad(key, "must be at least 1s, got %s", d)
		}
	}
	if c.Room.WaitingTTL >= time.Second && c.Room.WaitingTTL < room.MinWaitingTTL {
		bad("room.waitingTTL", "must be at least %s so a client polling every third of it (at most once a second) is never abandoned, got %s", room.MinWaitingTTL, c.Room.WaitingTTL)
	}
	if c.Room.MaxWaiting < 0 {
		bad("room.maxWaiting", "must not be negative, got %d", c.Room.MaxWaiting)
	}
	if c.Room.UnknownEvents != "accept" && c.Room.UnknownEvents != "refuse" {
		bad("room.unknownEvents", "must be accept or refuse, got %q", c.Room.UnknownEvents)
	}
	if c.Server.MaxConns < 0 {
		bad("server.maxConns", "must not be negative, got %d", c.Server.MaxConns)
	}
	if c.Server.MaxConnsPerAddr < 0 {
		bad("server.maxConnsPerAddr", "must not be negative, got %d", c.Server.MaxConnsPerAddr)
	}
	if c.Server.MaxConcurrent < 0 {
		bad("server.maxConcurrent", "must not be negative, got %d", c.Server.MaxConcurrent)
	}
	if c.Limits.JoinRatePerIP < 0 {
		bad("limits.joinRatePerIP", "must not be negative, got %v", c.Limits.JoinRatePerIP)
	}
	if c.Limits.JoinBurstPerIP < 1 {
		bad("limits.joinBurstPerIP", "must be at least 1, got %d", c.Limits.JoinBurstPerIP)
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		bad("admin.token", "must be at least 16 characters, got %d (e.g. openssl rand -hex 24)", len(c.Admin.Token))
	}
	if c.Token.Secret != "" && c.Token.Ed25519KeyFile != "" {
		bad("token.secret", "give --token-secret or --token-key-file, not both")
	}
	if c.Token.Secret != "" && len(c.Token.Secret) < accesstoken.MinSecretLen {
		bad("token.secret", "must be at least %d bytes, got %d (e.g. openssl rand -hex 32)", accesstoken.MinSecretLen, len(c.Token.Secret))
	}
	if c.UserToken.Secret != "" && c.UserToken.PublicKeyFile != "" {
		bad("userToken.secret", "give --user-token-secret or --user-token-key-file, not both")
	}
	if c.UserToken.Secret != "" && len(c.UserToken.Secret) < accesstoken.MinSecretLen {
		bad("userToken.secret", "must be at least %d bytes, got %d", accesstoken.MinSecretLen, len(c.UserToken.Secret))
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	for id, e := range c.Events {
		if err := room.ValidateID(id); err != nil {
			errs = append(errs, fmt.Sprintf("events.%s: event id %v", id, err))
		}
		if e.Capacity < 1 {
			errs = append(errs, fmt.Sprintf("events.%s.capacity: must be at least 1, got %d", id, e.Capacity))
		}
	}
	if len(errs) > 0 {
		return usageError{fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))}
	}
	return nil
}

// Policies returns the room policies the configuration describes.
func (c Config) Policies() room.StaticPolicies {
	p := room.StaticPolicies{
		Default: room.Policy{Capacity: c.Room.Capacity, HeartbeatTTL: c.Room.HeartbeatTTL, WaitingTTL: c.Room.WaitingTTL, MaxActive: c.Room.MaxActive, MaxWaiting: c.Room.MaxWaiting},
	}
	if len(c.Events) > 0 {
		p.Capacity = make(map[string]int, len(c.Events))
		for id, e := range c.Events {
			p.Capacity[id] = e.Capacity
		}
	}
	return p
}

// splitList reads a list given as a YAML list or a comma-separated string.
func splitList(v any) []string {
	var raw []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			raw = append(raw, fmt.Sprint(e))
		}
	case []string:
		raw = x
	default:
		raw = strings.Split(fmt.Sprint(x), ",")
	}
	var out []string
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}
