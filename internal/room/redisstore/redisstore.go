// Package redisstore is the room.Store shared by every replica: Redis,
// ElastiCache or Valkey, single node or cluster. Every state change the
// invariants depend on is one Lua script, atomic in Redis; all of an event's
// keys share the hash tag {eventId}, so an event lives on one cluster shard
// and events spread over shards. Slots freed on any replica are published on
// a channel every replica's granter listens to.
package redisstore

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wrctl/wrctl/internal/config"
	"github.com/wrctl/wrctl/internal/room"
)

// Config says where Redis is and how to talk to it.
type Config struct {
	// Addrs are host:port seeds; two or more (or Cluster) mean Redis Cluster.
	Addrs []string
	// Cluster forces cluster mode with one seed (e.g. an ElastiCache
	// configuration endpoint).
	Cluster  bool
	Username string
	Password string
	// DB is the database number (single node only).
	DB int
	// TLS, when set, encrypts connections (ElastiCache in-transit encryption).
	TLS *tls.Config
	// Prefix starts every key, so several rooms can share one Redis. Default "wrctl".
	Prefix string
	// Retention bounds what the store keeps of the past.
	Retention room.Retention
	// Clock, when set, replaces the Redis server's TIME as the room's
	// clock: for tests that move time by hand. In production every
	// deadline is decided by the server, whatever the replicas' clocks say.
	Clock room.Clock
	// EventCache bounds the cache of session id → event id that makes a
	// status poll one round trip. Default 200,000 entries (some 20 MB);
	// negative turns it off (every poll reads the index first).
	EventCache int
}

// indexIdle is how long the session-id → event index outlives the last
// request for a session, on top of the ended retention: every request
// renews it, and a live session is polled or heartbeats well within its
// TTLs, so only ended sessions' indexes age out.
const indexIdle = time.Hour

// Store is the Redis room.Store.
type Store struct {
	rdb       redis.UniversalClient
	policies  room.Policies
	prefix    string
	channel   string
	changesCh string
	keep      room.Retention
	indexTTL  time.Duration
	clock     room.Clock

	// events caches session id → event id, which never changes, so a
	// status poll is one round trip (the event's script) instead of two.
	events *lru.Cache[string, cachedEvent]

	batches     chan batched
	batchesDone chan struct{} // closed when batchLoop has returned

	ps      *redis.PubSub
	freed   chan string
	changes chan room.Change
	wg      sync.WaitGroup
	once    sync.Once
	closed  chan struct{}
}

var _ room.Store = (*Store)(nil)

// New connects to Redis, subscribes to freed-slot notifications and returns
// the store. It fails if Redis does not answer.
func New(ctx context.Context, cfg Config, policies room.Policies) (*Store, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("redis: no address")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "wrctl"
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:         cfg.Addrs,
		IsClusterMode: cfg.Cluster,
		Username:      cfg.Username,
		Password:      cfg.Password,
		DB:            cfg.DB,
		TLSConfig:     cfg.TLS,
		DialTimeout:   2 * time.Second,
		ReadTimeout:   2 * time.Second,
		WriteTimeout:  2 * time.Second,
		MaxRetries:    2,
	})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %v: %w", cfg.Addrs, err)
	}
	if err := checkFormat(ctx, rdb, cfg.Prefix); err != nil {
		rdb.Close()
		return nil, err
	}
	s := &Store{
		rdb:         rdb,
		policies:    policies,
		prefix:      cfg.Prefix,
		channel:     cfg.Prefix + ":freed",
		changesCh:   cfg.Prefix + ":changes",
		keep:        cfg.Retention.WithDefaults(),
		indexTTL:    indexIdle + cfg.Retention.WithDefaults().Ended,
		clock:       cfg.Clock,
		freed:       make(chan string, 1024),
		changes:     make(chan room.Change, changesBuffer),
		closed:      make(chan struct{}),
		batches:     make(chan batched, maxBatch),
		batchesDone: make(chan struct{}),
	}
	switch {
	case cfg.EventCache == 0:
		s.events, _ = lru.New[string, cachedEvent](eventCacheSize)
	case cfg.EventCache > 0:
		s.events, _ = lru.New[string, cachedEvent](cfg.EventCache)
	}
	s.ps = rdb.Subscribe(ctx, s.channel, s.changesCh)
	for range 2 { // both subscriptions are live before New returns
		if _, err := s.ps.Receive(ctx); err != nil {
			s.ps.Close()
			rdb.Close()
			return nil, fmt.Errorf("redis subscribe %s: %w", s.channel, err)
		}
	}
	s.wg.Go(s.listen)
	s.wg.Go(s.batchLoop)
	return s, nil
}

// Format is the version of the store's layout in Redis, kept in the key
// PREFIX:format. Format 2 keeps a session's record in short fields and
// the users' live sessions in one hash per event; format 1 (no format
// key) had a key per user.
const Format = "2"

// ErrFormat is returned by New when the keys under the prefix are in
// another layout than this wrctl's.
var ErrFormat = errors.New("redis: the store's keys are in another format")

// checkFormat claims an empty prefix for this format and refuses one
// whose keys are in another: format 1 is recognised by its event list
// (PREFIX:due) without a format key. Replicas starting together on an
// empty prefix race to claim it: the loser reads what the winner wrote.
func checkFormat(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	key := prefix + ":format"
	got, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		n, err := rdb.Exists(ctx, prefix+":due").Result()
		if err != nil {
			return fmt.Errorf("redis: read %s:due: %w", prefix, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: the keys under %q are in format 1 (a key per user; wrctl before the compact layout); let its events end (or delete the keys) before this wrctl uses the prefix, or start this one on a new store.redis.prefix", ErrFormat, prefix)
		}
		if claimed, err := rdb.SetNX(ctx, key, Format, 0).Result(); err != nil || claimed {
			return err
		}
		got, err = rdb.Get(ctx, key).Result()
	}
	if err != nil {
		return fmt.Errorf("redis: read %s: %w", key, err)
	}
	if got != Format {
		return fmt.Errorf("%w: %s says format %s, this wrctl reads format %s; run the wrctl that wrote it, or start this one on a new store.redis.prefix", ErrFormat, key, got, Format)
	}
	return nil
}

// changesBuffer is how many changes wait for a slow reader before the
// next is dropped.
const changesBuffer = 4096

// listen forwards freed-slot notifications and changes; go-redis
// resubscribes after a lost connection.
func (s *Store) listen() {
	defer close(s.freed)
	defer close(s.changes)
	ch := s.ps.Channel(redis.WithChannelSize(changesBuffer))
	for {
		select {
		case <-s.closed:
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if m.Channel == s.changesCh {
				if c, ok := parseChange(m.Payload); ok {
					select {
					case s.changes <- c:
					default: // the reader lags: its held requests answer at their timeout
					}
				}
				continue
			}
			select {
			case s.freed <- m.Payload:
			default: // wake-ups already pending; the granter's tick covers the rest
			}
		}
	}
}

// parseChange reads a change as the scripts publish it: "event session
// status", session "-" for the whole event.
func parseChange(p string) (room.Change, bool) {
	f := strings.Fields(p)
	if len(f) != 3 {
		return room.Change{}, false
	}
	c := room.Change{EventID: f[0]}
	if f[1] != "-" {
		c.SessionID, c.Status = f[1], room.Status(f[2])
	}
	return c, true
}

func (s *Store) base(eventID string) string { return s.prefix + ":{" + eventID + "}" }
func (s *Store) indexKey(id string) string  { return s.prefix + ":sid:" + id }

// dueKey is the sorted set of events the sweep visits: every event with
// live sessions (scored by when its next deadline falls due), recently idle
// events (scored by when they may be forgotten) and events with runtime
// settings. It is the event list, and it only holds what is live.
func (s *Store) dueKey() string { return s.prefix + ":due" }

// run runs a script on an event. A script that finds the event's start
// due is run again once the pre-queue is shuffled.
func (s *Store) run(ctx context.Context, sc *redis.Script, eventID string, extra ...any) (any, error) {
	keys, args := s.scriptArgs(eventID, extra...)
	for attempt := 0; ; attempt++ {
		v, err := sc.Run(ctx, s.rdb, keys, args...).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err == nil || !redis.HasErrorPrefix(err, startPending) || attempt == 3 {
			return v, err
		}
		if err := s.start(ctx, eventID); err != nil {
			return nil, err
		}
	}
}

// start shuffles the event's pre-queue into the line, once: the permutation
// is drawn here (crypto/rand seeds a ChaCha8 Fisher–Yates) and applied by
// startScript, atomically, only if the start is still due and the
// pre-queue's size is the one it was drawn for. Several replicas may race
// to it; one applies, the others find nothing left to do.
func (s *Store) start(ctx context.Context, eventID string) error {
	n, err := s.rdb.ZCard(ctx, s.base(eventID)+":pq").Result()
	if err != nil {
		return fmt.Errorf("redis: start: %w", err)
	}
	// The seed is the one committed to in the log when the pre-queue
	// opened; a fresh one if there was none (an old pre-queue).
	seed := room.NewSeed()
	if committed, err := s.rdb.HGet(ctx, s.base(eventID)+":meta", "pq_seed").Result(); err == nil {
		if b, err := hex.DecodeString(committed); err == nil && len(b) == 32 {
			copy(seed[:], b)
		}
	}
	for range 5 {
		perm := room.PermuteWithSeed(int(n), seed)
		var b strings.Builder
		b.Grow(len(perm) * 7)
		for i, j := range perm {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(j))
		}
		keys, args := s.scriptArgs(eventID, n, b.String(), room.SeedString(seed))
		v, err := startScript.Run(ctx, s.rdb, keys, args...).Result()
		if err != nil {
			return fmt.Errorf("redis: start: %w", err)
		}
		r, ok := v.([]any)
		if !ok {
			return nil // done, here or by another replica
		}
		n = num(fmt.Sprint(r[1])) // the pre-queue changed size (an expiry): draw again
	}
	return fmt.Errorf("redis: start: the pre-queue of %s kept changing", eventID)
}

// scriptArgs are the keys and arguments every script of an event takes.
func (s *Store) scriptArgs(eventID string, extra ...any) ([]string, []any) {
	p := s.policies.Policy(eventID)
	base := s.base(eventID)
	now := ""
	if s.clock != nil {
		now = strconv.FormatInt(s.clock().UnixMilli(), 10)
	}
	args := append([]any{
		base, now, s.keep.Ended.Milliseconds(), p.HeartbeatTTL.Milliseconds(), p.WaitingTTL.Milliseconds(),
		p.MaxActive.Milliseconds(), s.channel, eventID, p.Capacity, p.MaxWaiting,
		s.keep.EnqueueGrace.Milliseconds(), s.keep.Event.Milliseconds(),
	}, extra...)
	// Last, so that each script's own arguments keep their places.
	return []string{base + ":meta"}, append(args, p.NewUsersPerMinute, unixMilli(p.OpensAt), unixMilli(p.StartsAt),
		unixMilli(p.EndsAt), string(p.Method), boolArg(p.QueueAll), s.changesCh)
}

// boolArg is a script's boolean argument.
func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// unixMilli is t in Unix ms, 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// eventOf finds a session's event through the index, renewing it.
func (s *Store) eventOf(ctx context.Context, id string) (string, error) {
	if s.events != nil {
		if c, ok := s.events.Get(id); ok && time.Since(c.at) < indexRefresh {
			return c.event, nil
		}
	}
	// Read through: this also renews the index's TTL, so a session that
	// only polls keeps it.
	ev, err := s.rdb.GetEx(ctx, s.indexKey(id), s.indexTTL).Result()
	if errors.Is(err, redis.Nil) {
		if s.events != nil {
			s.events.Remove(id)
		}
		return "", room.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("redis: look up session: %w", err)
	}
	if s.events != nil {
		s.events.Add(id, cachedEvent{event: ev, at: time.Now()})
	}
	return ev, nil
}

// cachedEvent is a session's event as read from the index, and when.
type cachedEvent struct {
	event string
	at    time.Time
}

const (
	// eventCacheSize is the default bound of the cache: some 100 bytes an entry.
	eventCacheSize = 200_000
	// indexRefresh is how long a cached lookup stands before the index is
	// read (and its TTL renewed) again: well within indexIdle.
	indexRefresh = indexIdle / 4
)

// Join implements room.Store.
func (s *Store) Join(ctx context.Context, req room.JoinRequest) (room.Session, bool, error) {
	id := room.NewSessionID()
	trusted := "0" // 1: trusted; 2: proven by a user token
	switch {
	case req.Verified:
		trusted = "2"
	case req.Trusted:
		trusted = "1"
	}
	// One round trip: the index, the event's entry in the due set and the
	// join script go in one pipeline. Nobody can look the session up before
	// the reply names it, so their order does not matter; if the index
	// cannot be written, the session is taken back. go-redis may send the
	// pipeline twice when a reply is lost: the second run of the script
	// finds the session the first created under this id and answers it as
	// created, and the other two commands are idempotent.
	// A fresh draw seed goes with every join: the join that opens the
	// pre-queue keeps it and logs its commitment (Lua has no randomness).
	seed := room.NewSeed()
	extra := []any{id, req.UserID, room.HashKey(req.Key), trusted, room.AuditRef(id), room.SeedString(seed), room.SeedCommitment(seed)}
	keys, args := s.scriptArgs(req.EventID, extra...)
	var index *redis.StatusCmd
	var script *redis.Cmd
	if err := s.pipelined(ctx, func(pipe redis.Pipeliner) {
		index = pipe.Set(ctx, s.indexKey(id), req.EventID, s.indexTTL)
		pipe.ZAddLT(ctx, s.dueKey(), redis.Z{Score: 0, Member: req.EventID})
		script = joinScript.EvalSha(ctx, pipe, keys, args...)
	}); err != nil {
		return room.Session{}, false, fmt.Errorf("redis: join: %w", err)
	}
	v, err := script.Result()
	if err != nil && (redis.HasErrorPrefix(err, "NOSCRIPT") || redis.HasErrorPrefix(err, startPending)) {
		v, err = s.run(ctx, joinScript, req.EventID, extra...) // loads it
	}
	if err != nil {
		return room.Session{}, false, fmt.Errorf("redis: join: %w", err)
	}
	if err := index.Err(); err != nil {
		// The session exists without its index: take it back.
		s.run(ctx, abortScript, req.EventID, id)
		return room.Session{}, false, fmt.Errorf("redis: join: index: %w", err)
	}
	r, ok := v.([]any)
	var code int64
	if ok && len(r) > 0 {
		code, _ = r[0].(int64)
	}
	if code < 0 {
		s.rdb.Del(ctx, s.indexKey(id))
		switch code {
		case -1:
			return room.Session{}, false, room.ErrLineFull
		case -2:
			return room.Session{}, false, room.ErrAlreadyJoined
		case -3:
			return room.Session{}, false, &room.NotOpenError{OpensAt: millis(fmt.Sprint(r[1]))}
		case -4:
			msg := fmt.Sprint(r[1])
			if msg == "" {
				msg = s.policies.Policy(req.EventID).Message
			}
			return room.Session{}, false, &room.RejectedError{Message: msg}
		case -5:
			return room.Session{}, false, &room.EndedError{EndsAt: millis(fmt.Sprint(r[1]))}
		}
	}
	if !ok || len(r) != 2 {
		return room.Session{}, false, fmt.Errorf("redis: join: unexpected reply %v", v)
	}
	sess, err := parseSession(r[1])
	if err != nil {
		return room.Session{}, false, err
	}
	created := r[0] == int64(1)
	if sess.ID != id {
		s.rdb.Del(ctx, s.indexKey(id)) // best effort: the index of a session never made
	}
	return sess, created, nil
}

// MarkEnqueued implements room.Store. It goes in the shared pipeline
// (pipelined): a busy replica confirms its joins, and sends its next
// joins, together in one round trip; each caller still waits for its own
// confirmation (the no-loss protocol).
func (s *Store) MarkEnqueued(ctx context.Context, eventID, id string) error {
	v, err := s.pipelinedScript(ctx, enqueuedScript, eventID, id)
	if err != nil {
		return fmt.Errorf("redis: mark enqueued: %w", err)
	}
	if v == int64(0) {
		return room.ErrNotFound
	}
	return nil
}

// pipelinedScript runs a script of an event in the shared pipeline (run,
// batched with the other callers of the moment).
func (s *Store) pipelinedScript(ctx context.Context, sc *redis.Script, eventID string, extra ...any) (any, error) {
	keys, args := s.scriptArgs(eventID, extra...)
	var cmd *redis.Cmd
	if err := s.pipelined(ctx, func(pipe redis.Pipeliner) { cmd = sc.EvalSha(ctx, pipe, keys, args...) }); err != nil {
		return nil, err
	}
	v, err := cmd.Result()
	if err != nil && (redis.HasErrorPrefix(err, "NOSCRIPT") || redis.HasErrorPrefix(err, startPending)) {
		return s.run(ctx, sc, eventID, extra...)
	}
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return v, err
}

// batched is a caller's commands waiting for the shared pipeline.
type batched struct {
	queue func(redis.Pipeliner)
	done  chan struct{}
}

// maxBatch bounds the callers of one pipeline.
const maxBatch = 128

// pipelined queues a caller's commands on the shared pipeline and returns
// once it has run; the caller reads its commands' results. The callers
// waiting while one pipeline is in flight go together in the next, so
// under load many joins and confirmations cost one round trip, and alone
// a call costs what it did.
func (s *Store) pipelined(ctx context.Context, queue func(redis.Pipeliner)) error {
	b := batched{queue: queue, done: make(chan struct{})}
	select {
	case s.batches <- b:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errors.New("the store is closed")
	}
	select {
	case <-b.done:
		return nil
	case <-s.batchesDone:
		select {
		case <-b.done: // its pipeline ran before the loop stopped
			return nil
		default: // taken by nobody: its commands never ran
			return errors.New("the store is closed")
		}
	}
}

// batchLoop runs the waiting callers' commands, a pipeline at a time.
func (s *Store) batchLoop() {
	defer close(s.batchesDone)
	for {
		var batch []batched
		select {
		case <-s.closed:
			return
		case b := <-s.batches:
			batch = append(batch, b)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case b := <-s.batches:
				batch = append(batch, b)
			default:
				break more
			}
		}
		pipe := s.rdb.Pipeline()
		for _, b := range batch {
			b.queue(pipe)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pipe.Exec(ctx) // each command's own error is read by its caller
		cancel()
		for _, b := range batch {
			close(b.done)
		}
	}
}

// Abort implements room.Store.
func (s *Store) Abort(ctx context.Context, eventID, id string) error {
	if _, err := s.run(ctx, abortScript, eventID, id); err != nil {
		return fmt.Errorf("redis: abort: %w", err)
	}
	return nil
}

func (s *Store) get(ctx context.Context, id string, poll bool) (room.Session, error) {
	ev, err := s.eventOf(ctx, id)
	if err != nil {
		return room.Session{}, err
	}
	flag := "0"
	if poll {
		flag = "1"
	}
	v, err := s.run(ctx, getScript, ev, id, flag)
	if err != nil {
		return room.Session{}, fmt.Errorf("redis: get session: %w", err)
	}
	if v == nil {
		return room.Session{}, room.ErrNotFound
	}
	return parseSession(v)
}

// Get implements room.Store.
func (s *Store) Get(ctx context.Context, id string) (room.Session, error) {
	return s.get(ctx, id, false)
}

// Touch implements room.Store.
func (s *Store) Touch(ctx context.Context, id string) (room.Session, error) {
	return s.get(ctx, id, true)
}

// Heartbeat implements room.Store.
func (s *Store) Heartbeat(ctx context.Context, id string) (room.Session, error) {
	ev, err := s.eventOf(ctx, id)
	if err != nil {
		return room.Session{}, err
	}
	v, err := s.run(ctx, heartbeatScript, ev, id)
	if err != nil {
		return room.Session{}, fmt.Errorf("redis: heartbeat: %w", err)
	}
	r, ok := v.([]any)
	if !ok || len(r) == 0 {
		return room.Session{}, fmt.Errorf("redis: heartbeat: unexpected reply %v", v)
	}
	switch r[0] {
	case "missing":
		return room.Session{}, room.ErrNotFound
	case "ended":
		sess, err := parseSession(r[1])
		if err != nil {
			return room.Session{}, err
		}
		return sess, room.ErrEnded
	}
	return parseSession(r[1])
}

// Leave implements room.Store.
func (s *Store) Leave(ctx context.Context, id string) (room.Session, error) {
	ev, err := s.eventOf(ctx, id)
	if err != nil {
		return room.Session{}, err
	}
	v, err := s.run(ctx, leaveScript, ev, id)
	if err != nil {
		return room.Session{}, fmt.Errorf("redis: leave: %w", err)
	}
	if v == nil {
		return room.Session{}, room.ErrNotFound
	}
	return parseSession(v)
}

// Grant implements room.Store.
func (s *Store) Grant(ctx context.Context, eventID, id string) (room.GrantResult, error) {
	v, err := s.run(ctx, grantScript, eventID, id, rand.Float64())
	if err != nil {
		return room.GrantResult{}, fmt.Errorf("redis: grant: %w", err)
	}
	r, ok := v.([]any)
	if !ok || len(r) != 3 {
		return room.GrantResult{}, fmt.Errorf("redis: grant: unexpected reply %v", v)
	}
	var res room.GrantResult
	switch r[0] {
	case "admitted":
		res.Outcome = room.Admitted
	case "skipped":
		res.Outcome = room.Skipped
	case "full", "blocked":
		res.Outcome = room.Full
		if r[0] == "blocked" {
			res.Outcome = room.Blocked
		}
		if ms := num(fmt.Sprint(r[2])); ms > 0 {
			res.RetryAt = time.UnixMilli(ms)
		}
	default:
		return res, fmt.Errorf("redis: grant: unknown outcome %v", r[0])
	}
	if r[1] != nil {
		if res.Session, err = parseSession(r[1]); err != nil {
			return res, err
		}
	}
	return res, nil
}

// sweepBatch bounds the events one pass of Sweep reads from the due set.
const sweepBatch = 1000

// Sweep implements room.Store: it visits only the events whose entry in
// the due set has fallen due, so its cost follows what is live.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	now, err := s.now(ctx)
	if err != nil {
		return 0, fmt.Errorf("redis: sweep: %w", err)
	}
	due, err := s.rdb.ZRangeByScoreWithScores(ctx, s.dueKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: sweepBatch,
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: sweep: list due events: %w", err)
	}
	total := 0
	var errs []error
	for _, z := range due {
		ev := z.Member.(string)
		v, err := s.run(ctx, sweepScript, ev)
		r, ok := v.([]any)
		if err == nil && (!ok || len(r) != 3) {
			err = fmt.Errorf("unexpected reply %v", v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("redis: sweep %s: %w", ev, err))
			continue // one event's failure does not stop the others
		}
		total += int(num(fmt.Sprint(r[0])))
		next := fmt.Sprint(r[2])
		switch r[1] {
		case "gone":
			next = "gone"
		case "configured":
			next = "+inf"
		}
		if err := dueSetScript.Run(ctx, s.rdb, []string{s.dueKey()}, ev, int64(z.Score), next).Err(); err != nil {
			errs = append(errs, fmt.Errorf("redis: sweep %s: %w", ev, err))
		}
	}
	return total, errors.Join(errs...)
}

// now is the room's time: the test clock, or the Redis server's.
func (s *Store) now(ctx context.Context) (time.Time, error) {
	if s.clock != nil {
		return s.clock(), nil
	}
	return s.rdb.Time(ctx).Result()
}

// Stats implements room.Store.
func (s *Store) Stats(ctx context.Context, eventID string) (room.EventStats, error) {
	v, err := s.run(ctx, statsScript, eventID)
	if err != nil {
		return room.EventStats{}, fmt.Errorf("redis: stats: %w", err)
	}
	r, ok := v.([]any)
	if !ok || len(r) != 17 {
		return room.EventStats{}, fmt.Errorf("redis: stats: unexpected reply %v", v)
	}
	m := pairs(r[0])
	ms := func(i int) time.Duration { return time.Duration(num(fmt.Sprint(r[i]))) * time.Millisecond }
	st := room.EventStats{
		EventID:  eventID,
		Capacity: int(num(fmt.Sprint(r[4]))),
		Paused:   r[5] == int64(1),
		Policy: room.Policy{Capacity: int(num(fmt.Sprint(r[4]))), Paused: r[5] == int64(1), HeartbeatTTL: ms(6),
			WaitingTTL: ms(7), MaxActive: ms(8), MaxWaiting: int(num(fmt.Sprint(r[9]))), NewUsersPerMinute: int(num(fmt.Sprint(r[10]))),
			QueueAll: s.policies.Policy(eventID).QueueAll},
		Active:     r[1].(int64),
		Waiting:    r[2].(int64),
		Joined:     num(m["joined"]),
		Admitted:   num(m["admitted"]),
		Left:       num(m["left"]),
		Expired:    num(m["expired"]),
		PeakActive: num(m["peak"]),
		PreQueued:  r[11].(int64),
		Now:        millis(fmt.Sprint(r[16])),
	}
	st.Waiting += st.PreQueued
	st.Policy.OpensAt, st.Policy.StartsAt, st.Policy.EndsAt = millis(fmt.Sprint(r[12])), millis(fmt.Sprint(r[13])), millis(fmt.Sprint(r[14]))
	st.Policy.Method = room.Method(fmt.Sprint(r[15]))
	st.Policy.Message = s.policies.Policy(eventID).Message
	if msg, ok := m["s_msg"]; ok {
		st.Policy.Message = msg
	}
	st.Shuffled, st.ShuffledCount = millis(m["shuf_at"]), num(m["shuf_n"])
	st.AdmissionRate, _ = strconv.ParseFloat(fmt.Sprint(r[3]), 64)
	for _, reason := range []room.EndReason{room.ReasonAbandoned, room.ReasonHeartbeat, room.ReasonMaxActive, room.ReasonEventEnded, room.ReasonRejected} {
		if n := num(m["exp_"+string(reason)]); n > 0 {
			if st.ExpiredBy == nil {
				st.ExpiredBy = map[room.EndReason]int64{}
			}
			st.ExpiredBy[reason] = n
		}
	}
	return st, nil
}

// Events implements room.Store.
func (s *Store) Events(ctx context.Context) ([]string, error) {
	events, err := s.rdb.ZRange(ctx, s.dueKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list events: %w", err)
	}
	slices.Sort(events)
	return events, nil
}

// Settings implements room.Store.
func (s *Store) Settings(ctx context.Context, eventID string) (room.Settings, bool, error) {
	table := room.Table()
	fields := make([]string, 0, len(table)+1)
	for _, set := range table {
		fields = append(fields, settingField(set))
	}
	vals, err := s.rdb.HMGet(ctx, s.base(eventID)+":meta", append(fields, "s_set")...).Result()
	if err != nil {
		return room.Settings{}, false, fmt.Errorf("redis: settings: %w", err)
	}
	var st room.Settings
	for i, set := range table {
		if vals[i] != nil {
			decodeSetting(set, &st, fmt.Sprint(vals[i]))
		}
	}
	return st, vals[len(table)] != nil && fmt.Sprint(vals[len(table)]) == "1", nil
}

// shortFields are the meta hash fields of the first settings, which the
// scripts read; a setting added later is stored as s_<name>.
var shortFields = map[string]string{
	"capacity": "s_cap", "heartbeatTTL": "s_hb", "waitingTTL": "s_wt", "maxActive": "s_ma", "maxWaiting": "s_mw", "paused": "s_paused",
	"newUsersPerMinute": "s_nupm", "opensAt": "s_open", "startsAt": "s_start", "endsAt": "s_end", "queueingMethod": "s_method", "message": "s_msg",
}

// settingField is the meta hash field of a per-event setting.
func settingField(set room.Setting) string {
	if f, ok := shortFields[set.Name]; ok {
		return f
	}
	return "s_" + set.Name
}

// encodeSetting writes a setting as the scripts read it: durations and
// times in milliseconds, switches as 1; "0" or "" for a setting not set.
func encodeSetting(set room.Setting, st room.Settings) string {
	switch v := set.Get(st).(type) {
	case int:
		return strconv.Itoa(v)
	case time.Duration:
		return strconv.FormatInt(v.Milliseconds(), 10)
	case time.Time:
		return strconv.FormatInt(unixMilli(v), 10)
	case bool:
		if v {
			return "1"
		}
		return "0"
	default:
		return fmt.Sprint(v)
	}
}

// decodeSetting reads what encodeSetting wrote into st.
func decodeSetting(set room.Setting, st *room.Settings, v string) {
	switch set.Kind {
	case room.KindCount:
		set.Set(st, int(num(v)))
	case room.KindDuration:
		set.Set(st, time.Duration(num(v))*time.Millisecond)
	case room.KindTime:
		set.Set(st, millis(v))
	case room.KindSwitch:
		set.Set(st, v == "1")
	case room.KindMethod:
		set.Set(st, room.Method(v))
	default:
		set.Set(st, v)
	}
}

// Audit implements room.Store: the event's log is a list, numbered by
// its index.
func (s *Store) Audit(ctx context.Context, eventID string, from int64, max int) ([]room.AuditEntry, error) {
	if from < 1 || max < 1 {
		return nil, nil
	}
	raw, err := s.rdb.LRange(ctx, s.base(eventID)+":log", from-1, from-1+int64(max)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: audit: %w", err)
	}
	out := make([]room.AuditEntry, len(raw))
	for i, r := range raw {
		e, err := decodeAudit(r)
		if err != nil {
			return nil, fmt.Errorf("redis: audit entry %d: %w", from+int64(i), err)
		}
		e.Seq = from + int64(i)
		out[i] = e
	}
	return out, nil
}

// packedAudit are the packed entries the scripts write for sessions, by
// their first letter: the entry's type and its number of fields.
var packedAudit = map[string]struct {
	typ    string
	fields int
}{"j": {room.AuditJoin, 5}, "a": {room.AuditAdmit, 5}, "l": {room.AuditLeave, 4}, "e": {room.AuditExpire, 4}}

// decodeAudit reads one stored entry: JSON for the rare ones, and for a
// session's entries the packed form (the scripts' audit comment), which
// keeps the log near 120 bytes an admitted user.
func decodeAudit(r string) (room.AuditEntry, error) {
	var e room.AuditEntry
	if strings.HasPrefix(r, "{") {
		err := json.Unmarshal([]byte(r), &e)
		return e, err
	}
	malformed := func() error { return fmt.Errorf("malformed entry %q", r) }
	f := strings.Fields(r)
	if len(f) == 0 {
		return e, malformed()
	}
	p, ok := packedAudit[f[0]]
	if !ok || len(f) != p.fields {
		return e, malformed()
	}
	e.Type = p.typ
	// AT TICKET, then REF PRE (join), ADMISSION ACTIVE (admit) or REASON.
	numbers := f[1:3]
	if e.Type == room.AuditAdmit {
		numbers = f[1:5]
	}
	n := make([]int64, len(numbers))
	for i, v := range numbers {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x < 0 {
			return e, malformed()
		}
		n[i] = x
	}
	e.At, e.Ticket = n[0], n[1]
	switch e.Type {
	case room.AuditJoin:
		e.Ref, e.Pre = f[3], f[4] == "1"
	case room.AuditAdmit:
		e.Admission, e.Active = n[2], &n[3]
	default:
		e.Reason = f[3]
	}
	return e, nil
}

// Shuffle implements room.Store.
func (s *Store) Shuffle(ctx context.Context, eventID string) (room.Shuffle, bool, error) {
	base := s.base(eventID)
	pipe := s.rdb.Pipeline()
	meta := pipe.HMGet(ctx, base+":meta", "shuf_at", "shuf_starts", "shuf_seed")
	order := pipe.Get(ctx, base+":shuf")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return room.Shuffle{}, false, fmt.Errorf("redis: shuffle: %w", err)
	}
	vals := meta.Val()
	if len(vals) != 3 || vals[0] == nil {
		return room.Shuffle{}, false, nil
	}
	sh := room.Shuffle{At: millis(fmt.Sprint(vals[0])), StartsAt: millis(fmt.Sprint(vals[1])), Seed: fmt.Sprint(vals[2])}
	for _, f := range strings.Split(order.Val(), ",") {
		if f != "" {
			sh.Order = append(sh.Order, num(f))
		}
	}
	return sh, true, nil
}

// PutSettings implements room.Store: each setting of room's table is a
// field of the event's meta hash.
func (s *Store) PutSettings(ctx context.Context, eventID string, st room.Settings) error {
	if err := s.rdb.ZAddLT(ctx, s.dueKey(), redis.Z{Score: 0, Member: eventID}).Err(); err != nil {
		return fmt.Errorf("redis: put settings: %w", err)
	}
	args := []any{len(room.Table())}
	for _, set := range room.Table() {
		args = append(args, settingField(set), encodeSetting(set, st))
	}
	if _, err := s.run(ctx, putSettingsScript, eventID, args...); err != nil {
		return fmt.Errorf("redis: put settings: %w", err)
	}
	return nil
}

// Freed implements room.Store.
func (s *Store) Freed() <-chan string { return s.freed }

// Changes implements room.Store.
func (s *Store) Changes() <-chan room.Change { return s.changes }

// Ping implements room.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close implements room.Store.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		s.ps.Close()
		s.wg.Wait()
		err = s.rdb.Close()
	})
	return err
}

func pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		m[fmt.Sprint(list[i])] = fmt.Sprint(list[i+1])
	}
	return m
}

func num(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func millis(s string) time.Time {
	ms := num(s)
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// parseSession reads a script's view: the session's record (its fields
// named short, the scripts' session comment) plus its id, event and
// position.
func parseSession(v any) (room.Session, error) {
	m := pairs(v)
	if m["id"] == "" {
		return room.Session{}, fmt.Errorf("redis: malformed session %v", v)
	}
	sess := room.Session{
		ID:          m["id"],
		EventID:     m["event"],
		UserID:      m["u"],
		Seq:         num(m["q"]),
		Status:      room.Status(m["st"]),
		Enqueued:    m["e"] == "1",
		CreatedAt:   millis(m["c"]),
		LastSeenAt:  millis(m["s"]),
		ActivatedAt: millis(m["a"]),
		ExpiresAt:   millis(m["x"]),
		EndedAt:     millis(m["d"]),
		EndReason:   room.EndReason(m["r"]),
		Position:    num(m["pos"]),
		Admission:   num(m["n"]),
		WaitingTTL:  time.Duration(num(m["wttl"])) * time.Millisecond,
		PreQueued:   m["pq"] == "1",
		Paused:      m["paused"] == "1",
		Method:      room.Method(m["method"]),
		Verified:    m["uv"] == "1",
	}
	if sess.PreQueued {
		sess.StartsAt = millis(m["starts"])
	}
	sess.AdmissionRate, _ = strconv.ParseFloat(m["rate"], 64)
	return sess, nil
}

// Validate reports every setting of c that cannot work, by its
// configuration key, as config.FieldErrors.
func (c Config) Validate() error {
	var ck config.Check
	if len(c.Addrs) == 0 {
		ck.Bad("store.redis.addr", "redis needs at least one host:port")
	}
	for _, a := range c.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			ck.Bad("store.redis.addr", "%q is not host:port", a)
		}
	}
	if c.DB < 0 || (c.DB != 0 && (len(c.Addrs) > 1 || c.Cluster)) {
		ck.Bad("store.redis.db", "must be 0 with Redis Cluster and never negative, got %d", c.DB)
	}
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, "{} ") {
		ck.Bad("store.redis.prefix", "must be non-empty without braces or spaces, got %q", c.Prefix)
	}
	return ck.Err()
}
