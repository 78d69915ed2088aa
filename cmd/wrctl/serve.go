package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
	"github.com/wrctl/wrctl/internal/server"
	"github.com/wrctl/wrctl/internal/usertoken"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the waiting room: the HTTP API and the granter",
		Long: `Run the waiting room: the HTTP API and the granter in one process.

With no configuration at all it runs on the embedded memory queue and memory
store: one replica, nothing to set up, sessions lost on restart. With
--queue sqs it admits from an SQS queue (FIFO keeps join order; create one
with 'wrctl queue create').

SIGINT or SIGTERM stops accepting requests, drains the ones in flight and
makes held queue messages visible again for other replicas.`,
		Example: `  # Embedded defaults on :8080
  wrctl serve

  # On SQS, with 500 people inside at once
  wrctl serve --queue sqs --queue-name wrctl-waiting.fifo --capacity 500

  # Against a local emulator or LocalStack, on a free port
  wrctl serve --addr 127.0.0.1:0 --queue sqs --queue-name wrctl-waiting.fifo \
    --sqs-endpoint http://127.0.0.1:4566

  # Per-event capacities and everything else from a file
  wrctl serve --config configs/wrctl.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := newViper(cmd)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(v)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.String("addr", ":8080", "listen address; port 0 picks a free one and the bound address is logged")
	f.Duration("poll-interval", 2*time.Second, "Retry-After given to WAITING clients")
	f.Duration("shutdown-timeout", 10*time.Second, "how long SIGINT/SIGTERM waits for in-flight requests")
	f.String("queue", "memory", "queue backend: memory (embedded, one replica) or sqs")
	f.String("queue-url", "", "SQS queue URL (with --queue sqs)")
	f.String("queue-name", "", "SQS queue name, resolved to its URL at start (with --queue sqs)")
	f.Duration("visibility-timeout", 30*time.Second, "how long a received message stays hidden; a crashed replica's messages reappear after it")
	f.String("region", "", "AWS region (default: the AWS default chain, e.g. AWS_REGION)")
	f.String("sqs-endpoint", "", "SQS endpoint URL, e.g. http://127.0.0.1:4566 for an emulator or LocalStack")
	f.String("store", "memory", "session store backend: memory (one replica) or redis (shared by all replicas)")
	f.String("redis-addr", "127.0.0.1:6379", "Redis host:port; several comma-separated seeds mean Redis Cluster")
	f.Bool("redis-cluster", false, "Redis Cluster with a single seed (e.g. an ElastiCache configuration endpoint)")
	f.String("redis-username", "", "Redis ACL user")
	f.String("redis-password", "", "Redis password (prefer WRCTL_STORE_REDIS_PASSWORD)")
	f.Int("redis-db", 0, "Redis database number (single node only)")
	f.Bool("redis-tls", false, "connect to Redis over TLS (ElastiCache in-transit encryption)")
	f.String("redis-tls-ca-file", "", "PEM CA bundle to trust for Redis TLS instead of the system roots")
	f.String("redis-tls-server-name", "", "server name to verify in the Redis certificate")
	f.String("redis-prefix", "wrctl", "prefix of every Redis key, so several rooms can share one Redis")
	f.Int("capacity", 100, "most ACTIVE sessions per event (events.<id>.capacity in the config file overrides it per event)")
	f.Duration("heartbeat-ttl", 30*time.Second, "an ACTIVE session without heartbeat for this long expires")
	f.Duration("waiting-ttl", 60*time.Second, "a WAITING session that neither polls nor heartbeats for this long is abandoned")
	f.Duration("max-active", 15*time.Minute, "an ACTIVE session ends at this age whatever it does")
	f.Int("max-concurrent-requests", 10000, "API requests in flight at most; past it 503 with Retry-After (0: no cap)")
	f.Int("max-conns", 20000, "open connections at most; at the cap the longest-idle keep-alive one is closed for a new one (0: no cap)")
	f.Int("max-conns-per-addr", 0, "open connections per client address at most (0: no cap; keep 0 behind a load balancer)")
	f.Int("max-waiting", 0, "per event, refuse joins with 503 while this many wait (0: no limit)")
	f.String("unknown-events", "accept", "joins to events not configured nor set by the admin API: accept or refuse (404)")
	f.Duration("ended-retention", 10*time.Minute, "an ended session answers status (LEFT or EXPIRED) this long, then 404")
	f.Duration("event-retention", 10*time.Minute, "an event with no live session and no runtime settings is forgotten (with its counters) after this long")
	f.Bool("trust-user-id", false, "hand a user's live session to any re-join with its userId, without the first join's Idempotency-Key (only when just the site's backend reaches the API)")
	f.String("admin-token", "", "bearer token of the admin API, at least 16 characters (prefer WRCTL_ADMIN_TOKEN; empty: admin API off)")
	f.Float64("join-rate-per-ip", 0, "joins per second per client IP, 429 past it (0: off)")
	f.Int("join-burst-per-ip", 10, "burst of the per-IP join limit")
	f.String("trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client")
	f.String("token-secret", "", "HS256 secret for access tokens, at least 32 bytes (prefer WRCTL_TOKEN_SECRET)")
	f.String("user-token-secret", "", "HS256 secret of the user tokens the site signs (sub = userId): a join carrying one as Authorization: Bearer gets the user's place back without its Idempotency-Key (prefer WRCTL_USER_TOKEN_SECRET)")
	f.String("user-token-key-file", "", "the site's Ed25519 public key (PEM) for EdDSA user tokens")
	f.String("user-token-issuer", "", "required iss of user tokens")
	f.String("user-token-audience", "", "required aud of user tokens")
	f.String("token-key-file", "", "Ed25519 private key (PEM PKCS #8) for EdDSA access tokens, published at /.well-known/jwks.json")
	f.String("token-audience", "", "aud claim of access tokens")
	f.String("log-level", "info", "log level: debug, info, warn or error")
	f.String("log-format", "text", "log format: text or json")
	groupFlags(cmd, []flagGroup{
		{"HTTP flags", []string{"addr", "poll-interval", "shutdown-timeout", "max-concurrent-requests", "max-conns", "max-conns-per-addr"}},
		{"Queue flags", []string{"queue", "queue-url", "queue-name", "visibility-timeout", "region", "sqs-endpoint"}},
		{"Store flags", []string{"store", "redis-addr", "redis-cluster", "redis-username", "redis-password", "redis-db", "redis-tls", "redis-tls-ca-file", "redis-tls-server-name", "redis-prefix"}},
		{"Room flags", []string{"capacity", "heartbeat-ttl", "waiting-ttl", "max-active", "max-waiting", "unknown-events", "ended-retention", "event-retention", "trust-user-id"}},
		{"Token flags", []string{"token-secret", "token-key-file", "token-audience", "user-token-secret", "user-token-key-file", "user-token-issuer", "user-token-audience"}},
		{"Limit and admin flags", []string{"admin-token", "join-rate-per-ip", "join-burst-per-ip", "trusted-proxies"}},
		{"Logging flags", []string{"log-level", "log-format"}},
	})
	return cmd
}

func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	level, _ := parseLevel(cfg.Level)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve turns cfg into an app.Config and runs the app until ctx is cancelled.
func serve(ctx context.Context, cfg Config, logw io.Writer) error {
	log := newLogger(cfg.Log, logw)
	ac, err := appConfig(cfg, log)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, ac)
	switch {
	case errors.Is(err, app.ErrListen):
		return usagef("--addr %s: %v", cfg.Server.Addr, err)
	case errors.Is(err, app.ErrQueue) && cfg.Queue.URL == "":
		return fmt.Errorf("--queue-name %s: %w (create it with 'wrctl queue create --name %s')", cfg.Queue.Name, err, cfg.Queue.Name)
	case errors.Is(err, app.ErrStore):
		return fmt.Errorf("--redis-addr %s: %w", strings.Join(cfg.Store.Redis.Addr, ","), err)
	case err != nil:
		return err
	}
	if cfg.Queue.Backend == "memory" && cfg.Store.Backend == "memory" {
		log.Info("running on the embedded defaults: memory queue and memory store (single replica only; sessions are lost on restart)")
	}
	queueDesc, storeDesc := "memory", "memory"
	if cfg.Queue.Backend == "sqs" {
		queueDesc = cmp.Or(cfg.Queue.URL, cfg.Queue.Name)
	}
	if cfg.Store.Backend == "redis" {
		storeDesc = "redis " + strings.Join(cfg.Store.Redis.Addr, ",") + " prefix " + cfg.Store.Redis.Prefix
	}
	log.Info("listening", "addr", a.Addr(), "queue", queueDesc, "store", storeDesc, "capacity", cfg.Room.Capacity, "version", version)
	err = a.Run(ctx)
	log.Info("stopped")
	return err
}

// appConfig builds the app's configuration, reading the key files named.
func appConfig(cfg Config, log *slog.Logger) (app.Config, error) {
	ac := app.Config{
		Addr: cfg.Server.Addr,
		Server: server.Config{
			PollInterval:        cfg.Server.PollInterval,
			ShutdownTimeout:     cfg.Server.ShutdownTimeout,
			TokenAudience:       cfg.Token.Audience,
			AdminToken:          cfg.Admin.Token,
			JoinRatePerIP:       cfg.Limits.JoinRatePerIP,
			JoinBurstPerIP:      cfg.Limits.JoinBurstPerIP,
			TrustedProxies:      cfg.Limits.TrustedProxies,
			MaxConcurrent:       cfg.Server.MaxConcurrent,
			MaxConns:            cfg.Server.MaxConns,
			MaxConnsPerAddr:     cfg.Server.MaxConnsPerAddr,
			RefuseUnknownEvents: cfg.Room.UnknownEvents == "refuse",
			KnownEvents:         slices.Collect(maps.Keys(cfg.Events)),
			TrustUserID:         cfg.Room.TrustUserID,
		},
		Granter:   granter.Config{Visibility: cfg.Queue.VisibilityTimeout},
		Policies:  cfg.Policies(),
		Retention: room.Retention{Ended: cfg.Room.EndedRetention, Event: cfg.Room.EventRetention},
		Log:       log,
	}
	if cfg.Queue.Backend == "sqs" {
		ac.SQS = &app.SQSConfig{Client: sqsqueue.ClientConfig{Region: cfg.AWS.Region, Endpoint: cfg.AWS.Endpoint, QueueURL: cfg.Queue.URL}, URL: cfg.Queue.URL, Name: cfg.Queue.Name}
	}
	if cfg.Store.Backend == "redis" {
		rc, err := redisConfig(cfg.Store.Redis)
		if err != nil {
			return ac, err
		}
		ac.Redis = &rc
	}
	var err error
	if ac.Signer, err = newSigner(cfg.Token); err != nil {
		return ac, err
	}
	if ac.UserTokens, err = userTokenConfig(cfg.UserToken); err != nil {
		return ac, err
	}
	return ac, nil
}

// newSigner builds the access-token signer from the configured key; nil
// when none is configured.
func newSigner(cfg TokenConfig) (*accesstoken.Signer, error) {
	switch {
	case cfg.Secret != "":
		return accesstoken.NewHS256Signer([]byte(cfg.Secret))
	case cfg.Ed25519KeyFile != "":
		pem, err := os.ReadFile(cfg.Ed25519KeyFile)
		if err != nil {
			return nil, usagef("--token-key-file: %v", err)
		}
		priv, err := accesstoken.ParsePrivateKey(pem)
		if err != nil {
			return nil, usagef("--token-key-file %s: %v", cfg.Ed25519KeyFile, err)
		}
		return accesstoken.NewEd25519Signer(priv), nil
	}
	return nil, nil // the app generates a key of its own, and says so
}

// userTokenConfig reads the site's user-token settings; nil when off.
func userTokenConfig(cfg UserTokenConfig) (*usertoken.Config, error) {
	uc := usertoken.Config{Issuer: cfg.Issuer, Audience: cfg.Audience}
	switch {
	case cfg.Secret != "":
		uc.Secret = []byte(cfg.Secret)
	case cfg.PublicKeyFile != "":
		pem, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, usagef("--user-token-key-file: %v", err)
		}
		if uc.PublicKey, err = accesstoken.ParsePublicKey(pem); err != nil {
			return nil, usagef("--user-token-key-file %s: %v", cfg.PublicKeyFile, err)
		}
	default:
		return nil, nil
	}
	return &uc, nil
}

// redisConfig builds the Redis store's configuration, reading the CA file.
func redisConfig(r RedisConfig) (redisstore.Config, error) {
	rc := redisstore.Config{Addrs: r.Addr, Cluster: r.Cluster, Username: r.Username, Password: r.Password, DB: r.DB, Prefix: r.Prefix}
	if r.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: r.TLSServerName}
		if r.TLSCAFile != "" {
			pem, err := os.ReadFile(r.TLSCAFile)
			if err != nil {
				return rc, usagef("--redis-tls-ca-file: %v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return rc, usagef("--redis-tls-ca-file %s: no PEM certificates in it", r.TLSCAFile)
			}
		}
		rc.TLS = tc
	}
	return rc, nil
}
