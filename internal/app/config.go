package app

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/config"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
	"github.com/wrctl/wrctl/internal/server"
	"github.com/wrctl/wrctl/internal/usertoken"
)

// FieldError and FieldErrors name the settings that cannot work.
type (
	FieldError  = config.FieldError
	FieldErrors = config.FieldErrors
)

// Validate reports every setting that cannot work, as FieldErrors: each
// part's Config checks its own settings; the app checks those that span
// parts, the choice of backends, the keys and the events.
func (s Settings) Validate() error {
	var ck config.Check
	if s.Addr == "" {
		ck.Bad("server.addr", "must not be empty (e.g. :8080 or 127.0.0.1:0)")
	}
	ck.NotNegative("server.maxHeld", s.MaxHeld)
	proxies, err := s.trustedProxies()
	if err != nil {
		ck.Bad("limits.trustedProxies", "%v", err)
	}
	ck.Add("server", s.serverConfig(proxies).Validate())
	s.checkBackends(&ck)
	ck.Add("queue", s.granterConfig().Validate())
	if s.Store == "redis" {
		ck.Add("store.redis", s.redisConfig().Validate())
	}
	ck.Add("room", s.Policies().Default.ValidateDefault())
	ck.Add("room", s.retention().Validate())
	if s.UnknownEvents != "accept" && s.UnknownEvents != "refuse" {
		ck.Bad("room.unknownEvents", "must be accept or refuse, got %q", s.UnknownEvents)
	}
	s.checkTokens(&ck)
	if _, err := s.logLevel(); err != nil {
		ck.Bad("log.level", "%v", err)
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		ck.Bad("log.format", "must be text or json, got %q", s.LogFormat)
	}
	if g, err := s.gate(); err != nil {
		ck.Add("gate", err)
	} else if g != nil {
		ck.Add("gate", g.Validate())
	}
	if s.PageTemplate != "" {
		if _, err := template.ParseFiles(s.PageTemplate); err != nil {
			ck.Bad("page.template", "%v", err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.Events)) {
		if err := room.ValidateID(id); err != nil {
			ck.Bad("events."+id, "event id %v", err)
		}
		if err := s.Events[id].Validate(); err != nil {
			ck.Bad("events."+id, "%v", err)
		}
	}
	return ck.Err()
}

// checkBackends checks the queue and store chosen, and what each needs.
func (s Settings) checkBackends(ck *config.Check) {
	switch s.Queue {
	case "memory":
		if s.Store == "redis" {
			ck.Bad("queue.backend", "the memory queue lives in one process: a shared redis store needs --queue sqs")
		}
	case "sqs":
		if s.QueueURL == "" && s.QueueName == "" {
			ck.Bad("queue.backend", "sqs needs --queue-url (queue.url) or --queue-name (queue.name)")
		}
	default:
		ck.Bad("queue.backend", "must be memory or sqs, got %q", s.Queue)
	}
	switch s.Store {
	case "memory":
	case "redis":
		if (s.RedisTLSCAFile != "" || s.RedisTLSServerName != "") && !s.RedisTLS {
			ck.Bad("store.redis.tls", "--redis-tls-ca-file and --redis-tls-server-name need --redis-tls")
		}
	default:
		ck.Bad("store.backend", "must be memory or redis, got %q", s.Store)
	}
}

// checkTokens checks the keys of access and user tokens.
func (s Settings) checkTokens(ck *config.Check) {
	if s.TokenSecret != "" && s.TokenKeyFile != "" {
		ck.Bad("token.secret", "give --token-secret or --token-key-file, not both")
	}
	if s.TokenSecret != "" && len(s.TokenSecret) < accesstoken.MinSecretLen {
		ck.Bad("token.secret", "must be at least %d bytes, got %d (e.g. openssl rand -hex 32)", accesstoken.MinSecretLen, len(s.TokenSecret))
	}
	if s.UserTokenSecret != "" && s.UserTokenKeyFile != "" {
		ck.Bad("userToken.secret", "give --user-token-secret or --user-token-key-file, not both")
	}
	if s.UserTokenSecret != "" && len(s.UserTokenSecret) < accesstoken.MinSecretLen {
		ck.Bad("userToken.secret", "must be at least %d bytes, got %d", accesstoken.MinSecretLen, len(s.UserTokenSecret))
	}
}

// serverConfig is the HTTP API's part of the settings.
func (s Settings) serverConfig(proxies []netip.Prefix) server.Config {
	c := server.Config{
		PollInterval: s.PollInterval, ShutdownTimeout: s.ShutdownTimeout, TokenAudience: s.TokenAudience,
		AdminToken: s.AdminToken, JoinRatePerIP: s.JoinRatePerIP, JoinBurstPerIP: s.JoinBurstPerIP,
		TrustedProxies: proxies, MaxConcurrent: s.MaxConcurrent, MaxHeld: cmp.Or(s.MaxHeld, -1), MaxConns: s.MaxConns, MaxConnsPerAddr: s.MaxConnsPerAddr,
		RefuseUnknownEvents: s.UnknownEvents == "refuse", KnownEvents: slices.Collect(maps.Keys(s.Events)), TrustUserID: s.TrustUserID,
		Page: server.PageConfig{Title: s.PageTitle, SiteName: s.PageSiteName, SiteURL: s.PageSiteURL, Message: s.PageMessage, Color: s.PageColor,
			Background: s.PageBackground, ReturnOrigins: s.ReturnOrigins},
	}
	for _, id := range slices.Sorted(maps.Keys(s.Events)) {
		if s.Events[id].Public {
			c.PublicEvents = append(c.PublicEvents, id)
		}
	}
	return c
}

func (s Settings) granterConfig() granter.Config {
	return granter.Config{Visibility: s.VisibilityTimeout, Groups: queue.Groups(s.GroupsPerEvent)}
}

func (s Settings) redisConfig() *redisstore.Config {
	return &redisstore.Config{Addrs: s.RedisAddr, Cluster: s.RedisCluster, Username: s.RedisUsername,
		Password: s.RedisPassword, DB: s.RedisDB, Prefix: s.RedisPrefix}
}

func (s Settings) retention() room.Retention {
	return room.Retention{Ended: s.EndedRetention, Event: s.EventRetention}
}

// Config validates the settings and builds the room's Config, reading the
// key, CA and template files they name; a setting at fault is a *FieldError.
func (s Settings) Config(log *slog.Logger) (Config, error) {
	if err := s.Validate(); err != nil {
		return Config{}, err
	}
	proxies, _ := s.trustedProxies()
	c := Config{
		Addr:      s.Addr,
		Server:    s.serverConfig(proxies),
		Granter:   s.granterConfig(),
		Policies:  s.Policies(),
		Retention: s.retention(),
		Log:       log,
	}
	c.Server.Gate, _ = s.gate()
	if s.PageTemplate != "" {
		t, err := template.ParseFiles(s.PageTemplate)
		if err != nil {
			return c, &FieldError{Key: "page.template", Msg: err.Error()}
		}
		c.Server.Page.Template = t
	}
	if s.Queue == "sqs" {
		c.SQS = &SQSConfig{Client: sqsqueue.ClientConfig{Region: s.Region, Endpoint: s.SQSEndpoint, QueueURL: s.QueueURL}, URL: s.QueueURL, Name: s.QueueName}
	}
	var err error
	if s.Store == "redis" {
		c.Redis = s.redisConfig()
		if s.RedisTLS {
			if c.Redis.TLS, err = s.redisTLS(); err != nil {
				return c, err
			}
		}
	}
	if c.Signer, err = s.signer(); err != nil {
		return c, err
	}
	c.UserTokens, err = s.userTokens()
	return c, err
}

// signer signs access tokens with the configured key; nil: none configured.
func (s Settings) signer() (*accesstoken.Signer, error) {
	switch {
	case s.TokenSecret != "":
		return accesstoken.NewHS256Signer([]byte(s.TokenSecret))
	case s.TokenKeyFile != "":
		pem, err := readKey("token.ed25519KeyFile", s.TokenKeyFile)
		if err != nil {
			return nil, err
		}
		key, err := accesstoken.ParsePrivateKey(pem)
		if err != nil {
			return nil, &FieldError{Key: "token.ed25519KeyFile", Msg: s.TokenKeyFile + ": " + err.Error()}
		}
		return accesstoken.NewEd25519Signer(key), nil
	}
	return nil, nil
}

// userTokens verifies the site's user tokens; nil: none configured.
func (s Settings) userTokens() (*usertoken.Config, error) {
	uc := usertoken.Config{Issuer: s.UserTokenIssuer, Audience: s.UserTokenAudience}
	switch {
	case s.UserTokenSecret != "":
		uc.Secret = []byte(s.UserTokenSecret)
		return &uc, nil
	case s.UserTokenKeyFile != "":
		pub, err := readKey("userToken.publicKeyFile", s.UserTokenKeyFile)
		if err != nil {
			return nil, err
		}
		if uc.PublicKey, err = accesstoken.ParsePublicKey(pub); err != nil {
			return nil, &FieldError{Key: "userToken.publicKeyFile", Msg: s.UserTokenKeyFile + ": " + err.Error()}
		}
		return &uc, nil
	}
	return nil, nil
}

func readKey(key, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{Key: key, Msg: err.Error()}
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
			return nil, &FieldError{Key: "store.redis.tlsCAFile", Msg: s.RedisTLSCAFile + ": no PEM certificates in it"}
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

func (s Settings) gate() (*gate.Config, error) {
	if s.Upstream == "" {
		if s.GateEvent != "" || len(s.GateRoutes) > 0 {
			return nil, &FieldError{Key: "gate.upstream", Msg: "--gate-event and --gate-route need --upstream, the site to guard"}
		}
		return nil, nil
	}
	u, err := url.Parse(s.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FieldError{Key: "gate.upstream", Msg: fmt.Sprintf("%q is not an http(s) URL such as http://127.0.0.1:3000", s.Upstream)}
	}
	g := &gate.Config{Upstream: u, Exclude: s.GateExclude, CaseInsensitive: s.GateCaseInsensitive, MaxConcurrent: s.GateMaxConcurrent,
		ResponseHeaderTimeout: s.GateHeaderTimeout, Recheck: s.GateRecheck}
	for _, p := range s.GateExclude {
		if !plainPrefix(p) {
			return nil, &FieldError{Key: "gate.exclude", Msg: fmt.Sprintf("%q: want a plain path prefix such as /static/ (no dot segments, encoding or backslashes)", p)}
		}
	}
	if s.GateEvent != "" {
		if err := room.ValidateID(s.GateEvent); err != nil {
			return nil, &FieldError{Key: "gate.event", Msg: "event id " + err.Error()}
		}
		g.Routes = append(g.Routes, gate.Route{Prefix: "/", Event: s.GateEvent})
	}
	for _, rt := range s.GateRoutes {
		prefix, event, ok := strings.Cut(rt, "=")
		if !ok || !plainPrefix(prefix) || room.ValidateID(event) != nil {
			return nil, &FieldError{Key: "gate.routes", Msg: fmt.Sprintf("%q: want PREFIX=EVENT with a plain path prefix, e.g. /shop=launch-2026", rt)}
		}
		g.Routes = append(g.Routes, gate.Route{Prefix: prefix, Event: event})
	}
	if len(g.Routes) == 0 {
		return nil, &FieldError{Key: "gate.event", Msg: "--upstream needs the event guarding the site: --gate-event EVENT, or --gate-route PREFIX=EVENT"}
	}
	return g, nil
}

// plainPrefix reports whether a route or exclusion prefix is a path the
// gate can compare normalised paths with: already in normal form.
func plainPrefix(p string) bool {
	n, err := gate.Normalize(p)
	return err == nil && (n == p || n+"/" == p) && !strings.Contains(p, "%")
}
