// Package app is a whole waiting room in one value: the session store, the
// admission queue, the HTTP API and the granter, wired from a typed Config.
// `wrctl serve` is flags → Config → New → Run; tests and programs that
// embed wrctl do the same on 127.0.0.1:0.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/intake"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/memstore"
	"github.com/wrctl/wrctl/internal/room/redisstore"
	"github.com/wrctl/wrctl/internal/server"
	"github.com/wrctl/wrctl/internal/telemetry"
	"github.com/wrctl/wrctl/internal/usertoken"
)

// Errors New wraps, so a caller can say which setting is at fault.
var (
	ErrListen = errors.New("listen")
	ErrQueue  = errors.New("open the admission queue")
	ErrStore  = errors.New("open the session store")
)

// Config is everything a waiting room runs on.
type Config struct {
	// Addr is the listen address; port 0 picks a free one (see Addr).
	Addr string
	// Server tunes the HTTP API. MaxConns is kept under the open-file limit.
	Server server.Config
	// Granter tunes admission.
	Granter granter.Config
	// Policies are the events' configured rules.
	Policies room.Policies
	// Retention bounds what the store keeps of the past.
	Retention room.Retention

	// Queue: the embedded memory queue unless SQS is set.
	SQS *SQSConfig
	// Redis, if set, is the shared store; otherwise the embedded memory store.
	Redis *redisstore.Config

	// Signer signs access tokens; nil generates an Ed25519 key at start
	// (tokens then verify against this replica only, and a warning says so).
	Signer *accesstoken.Signer
	// UserTokens, if set, verifies the site's user tokens.
	UserTokens *usertoken.Config

	// Store and Queue, if set, are used as they are instead of opening
	// the configured ones (embedding, tests); the app closes neither.
	Store room.Store
	Queue queue.Queue
	// NoGranter runs the API alone.
	NoGranter bool
	// Now is the replica's own clock (tokens' wall time, timers); time.Now if nil.
	Now func() time.Time

	// Log receives the logs; discarded if nil.
	Log *slog.Logger
	// OnDecision, if set, hears every admission decision.
	OnDecision func(granter.Decision)
}

// SQSConfig says which SQS queue to admit from.
type SQSConfig struct {
	Client sqsqueue.ClientConfig
	// URL, or Name resolved to its URL at start.
	URL, Name string
}

// App is a running waiting room.
type App struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	store   room.Store
	queue   queue.Queue
	metrics *telemetry.Metrics
	server  *server.Server
	granter *granter.Granter
	sender  *queue.Sender
	closers []func() error
}

// New opens the store and the queue, listens, and builds the API and the
// granter; Run runs them. Close releases what New opened if Run is never
// called.
func New(ctx context.Context, cfg Config) (*App, error) {
	a := &App{cfg: cfg, log: cfg.Log, metrics: telemetry.New()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	q, err := a.openQueue(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	a.store = a.metrics.Store(raw)
	a.metrics.WatchEvents(raw)
	a.queue = a.metrics.Queue(q)
	if a.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("%w on %s: %w", ErrListen, cfg.Addr, err)
	}
	a.closers = append(a.closers, a.ln.Close)
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		a.log.Warn("listening on every network interface; set --addr 127.0.0.1:PORT to serve this machine only", "addr", cfg.Addr)
	}

	signer := cfg.Signer
	if signer == nil {
		a.log.Warn("no token key configured: signing access tokens with a key generated at start; " +
			"they will not verify across replicas or restarts (set --token-secret or --token-key-file)")
		if signer, err = accesstoken.GenerateEd25519Signer(); err != nil {
			return nil, err
		}
	}
	sc := cfg.Server
	sc.Policies = cfg.Policies
	if sc.MaxConcurrent > 0 && sc.MaxHeld > sc.MaxConcurrent/2 {
		a.log.Info("status requests held at most half of server.maxConcurrent, which they count against", "max_held", sc.MaxConcurrent/2, "configured", sc.MaxHeld)
	}
	if cfg.UserTokens != nil {
		if sc.UserTokens, err = usertoken.New(*cfg.UserTokens); err != nil {
			return nil, err
		}
	}
	if fds, err := raiseFileLimit(); err != nil {
		a.log.Warn("raise the open-file limit", "err", err)
	} else {
		if sc.MaxConns > 0 && fds > 512 && uint64(sc.MaxConns) > fds-256 {
			sc.MaxConns = int(fds - 256) // keep descriptors for Redis, SQS and logs
		}
		a.log.Info("open-file limit", "nofile", fds, "max_conns", sc.MaxConns)
	}
	a.sender = queue.NewSender(a.queue, queue.SenderConfig{})
	in := intake.New(a.store, a.sender)
	in.Groups = cfg.Granter.Groups
	a.server = server.New(sc, server.Deps{
		Store: a.store, Intake: in, Queue: a.queue,
		Signer: signer, Metrics: a.metrics, Log: a.log, Changes: a.store.Changes(),
	})
	if !cfg.NoGranter {
		a.granter = granter.New(cfg.Granter, a.queue, a.store, a.log)
		a.granter.Observe = func(d granter.Decision) {
			a.metrics.Decision(d.Outcome, d.Session)
			if cfg.OnDecision != nil {
				cfg.OnDecision(d)
			}
		}
		a.granter.LoopLag = a.metrics.GranterLag
		a.granter.Count = a.metrics.GranterMessages
		a.metrics.HeldMessages(a.granter.Held)
	}
	if cfg.Now != nil {
		a.server.Now = cfg.Now
		if a.granter != nil {
			a.granter.Now = cfg.Now
		}
	}
	ok = true
	return a, nil
}

// Addr is the bound listen address, e.g. 127.0.0.1:41234.
func (a *App) Addr() string { return a.ln.Addr().String() }

// URL is the API's base URL.
func (a *App) URL() string { return "http://" + a.Addr() }

// Store is the session store the app runs on, with its metrics.
func (a *App) Store() room.Store { return a.store }

// Queue is the admission queue the app runs on, with its metrics.
func (a *App) Queue() queue.Queue { return a.queue }

// Run serves until ctx is cancelled, then drains in-flight requests,
// releases held messages and closes what New opened.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return a.server.Run(ctx, a.ln) })
	if a.granter != nil {
		eg.Go(func() error { return a.granter.Run(ctx) })
	}
	return eg.Wait()
}

// Close releases what New opened; safe to call twice.
func (a *App) Close() error {
	if a.sender != nil {
		a.sender.Close()
	}
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *App) openStore(ctx context.Context) (room.Store, error) {
	switch {
	case a.cfg.Store != nil:
		return a.cfg.Store, nil
	case a.cfg.Redis == nil:
		st := memstore.New(memstore.Config{Retention: a.cfg.Retention}, a.cfg.Policies)
		a.closers = append(a.closers, st.Close)
		return st, nil
	}
	rc := *a.cfg.Redis
	rc.Retention = a.cfg.Retention
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := redisstore.New(cctx, rc, a.cfg.Policies)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	a.closers = append(a.closers, st.Close)
	return st, nil
}

func (a *App) openQueue(ctx context.Context) (queue.Queue, error) {
	switch {
	case a.cfg.Queue != nil:
		return a.cfg.Queue, nil
	case a.cfg.SQS == nil:
		return memqueue.New(memqueue.Config{MaxReceiveCount: 10}), nil
	}
	c := a.cfg.SQS
	client, err := sqsqueue.NewClient(ctx, c.Client)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	url := c.URL
	if url == "" {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if url, err = sqsqueue.ResolveURL(rctx, client, c.Name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrQueue, err)
		}
	}
	q := sqsqueue.New(client, url)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := q.Ping(pctx); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrQueue, url, err)
	}
	return q, nil
}
