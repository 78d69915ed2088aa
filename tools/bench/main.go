// Command bench measures wrctl's hot paths for one hot event on this
// machine and prints each figure beside a floor measured in the same run
// (a bare net/http handler, raw SQS calls on the same emulator, the memory
// path), as a ratio: the machine is shared and noisy, so only ratios
// compare across runs. It is `make bench`; it prints, it asserts nothing.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/redis/go-redis/v9"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/redistest"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/memstore"
	"github.com/wrctl/wrctl/internal/room/redisstore"
	"github.com/wrctl/wrctl/internal/server"
	"github.com/wrctl/wrctl/internal/sqstest"
)

var (
	dur      = flag.Duration("duration", 3*time.Second, "how long each throughput figure is measured")
	conns    = flag.Int("conns", 64, "concurrent clients (as wrk -c)")
	drainN   = flag.Int("admissions", 3000, "joins piled up for the admission figure")
	memUsers = flag.Int("memory-sessions", 1_000_000, "WAITING sessions for the memory-store footprint")
	redisN   = flag.Int("redis-sessions", 100_000, "WAITING sessions for the Redis footprint")
	auditN   = flag.Int("audit-users", 20_000, "users joined, admitted and gone for the audit log's footprint")
	cpuProf  = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	only     = flag.String("only", "", "run only these parts, comma-separated, after the floors: joins, polls, held, heard, admissions, gate, memory")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// row is one printed figure.
type row struct {
	name, value, floor, ratio, goal string
}

var rows []row

func report(name string, v float64, unit string, floorName string, floor float64, goal string) {
	r := row{name: name, value: fmt.Sprintf("%.0f %s", v, unit), goal: goal}
	if floor > 0 {
		r.floor = fmt.Sprintf("%s %.0f %s", floorName, floor, unit)
		r.ratio = fmt.Sprintf("%.2f×", v/floor)
	}
	rows = append(rows, r)
	fmt.Fprintf(os.Stderr, "   %s: %s (%s) %s\n", name, r.value, r.floor, r.ratio)
}

func run() error {
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(os.Stderr, ">> bench on %d CPUs, %s, %d clients, %s per figure\n", runtime.NumCPU(), runtime.Version(), *conns, *dur)
	emu, err := sqstest.Start()
	if err != nil {
		return fmt.Errorf("start the SQS emulator (make tools installs it): %w", err)
	}
	defer emu.Stop()
	dir, err := os.MkdirTemp("", "wrctl-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rs, err := redistest.Start(dir)
	if err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	defer rs.Stop()
	b := &bench{ctx: context.Background(), emu: emu, rs: rs,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, IdleConnTimeout: time.Minute}}}
	if err := b.floors(); err != nil {
		return err
	}
	parts := []struct {
		name string
		run  func() error
	}{{"joins", b.joins}, {"polls", b.polls}, {"held", b.held}, {"heard", b.heard}, {"admissions", b.admissions}, {"gate", b.gate}, {"memory", b.memory}}
	for _, part := range parts {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), part.name) {
			continue
		}
		if err := part.run(); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "figure\tmeasured\tfloor (same run)\tratio\tgoal\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, r.value, r.floor, r.ratio, r.goal)
	}
	return tw.Flush()
}

// bench is one run of the benchmarks: the backends every figure shares and
// the floors measured first.
type bench struct {
	ctx                     context.Context
	hc                      *http.Client
	emu                     *sqstest.Emulator
	rs                      *redistest.Server
	bare, rawSend, rawDrain float64
}

// floors measures what the figures are compared with: a bare handler, raw SQS calls.
func (b *bench) floors() error {
	ctx, hc, emu := b.ctx, b.hc, b.emu
	var err error
	b.bare, err = bareHandler(hc)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, ">> floor: bare net/http handler %.0f req/s\n", b.bare)
	b.rawSend, err = rawSendMessage(ctx, emu)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, ">> floor: raw unbatched SendMessage %.0f msg/s\n", b.rawSend)
	b.rawDrain, err = rawOneGroupDrain(ctx, emu)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, ">> floor: raw drain of one message group %.0f msg/s\n", b.rawDrain)

	return nil
}

// joins measures joins on each pair of backends, and joins admitted at once.
func (b *bench) joins() error {
	ctx, hc, emu, rs := b.ctx, b.hc, b.emu, b.rs
	memJoin, err := measureJoins(ctx, hc, roomOn{}, "mem")
	if err != nil {
		return err
	}
	report("join, memory store + memory queue", memJoin, "/s", "", 0, "the memory path")
	prodJoin, err := measureJoins(ctx, hc, roomOn{emu: emu, redis: rs}, "prod")
	if err != nil {
		return err
	}
	report("join, Redis store + SQS emulator", prodJoin, "/s", "memory path", memJoin, "≥ 0.5×")
	msqsJoin, err := measureJoins(ctx, hc, roomOn{emu: emu}, "msqs")
	if err != nil {
		return err
	}
	report("join, memory store + SQS emulator", msqsJoin, "/s", "raw SendMessage", b.rawSend, "≥ 2×")
	open := benchPolicy
	open.QueueAll = false
	fastJoin, err := measureJoinsUnder(ctx, hc, roomOn{emu: emu, redis: rs}, "fast", open)
	if err != nil {
		return err
	}
	report("join admitted at once (empty room), Redis store + SQS emulator", fastJoin, "/s", "queued join, same backends", prodJoin, "≥ 1× (no SQS send)")

	return nil
}

// polls measures status polls against the bare handler.
func (b *bench) polls() error {
	ctx, hc, rs := b.ctx, b.hc, b.rs
	for _, c := range []struct {
		name   string
		on     roomOn
		active bool
	}{
		{"status poll WAITING, memory store", roomOn{}, false},
		{"status poll ACTIVE, memory store", roomOn{}, true},
	} {
		v, err := measurePolls(ctx, hc, c.on, c.active)
		if err != nil {
			return err
		}
		report(c.name, v, "/s", "bare handler", b.bare, "≥ 0.8×")
	}
	twoTrips, err := measurePolls(ctx, hc, roomOn{redis: rs, noEventCache: true}, false)
	if err != nil {
		return err
	}
	redisPoll, err := measurePolls(ctx, hc, roomOn{redis: rs}, false)
	if err != nil {
		return err
	}
	report("status poll WAITING, Redis store", redisPoll, "/s", "two round trips (no event cache)", twoTrips, "≥ 1.2×")
	rows = append(rows, row{name: "  the same against the bare handler", value: fmt.Sprintf("%.0f /s", redisPoll),
		floor: fmt.Sprintf("bare handler %.0f /s", b.bare), ratio: fmt.Sprintf("%.2f×", redisPoll/b.bare)})

	return nil
}

// held measures the memory a held status request costs.
func (b *bench) held() error {
	ctx, hc := b.ctx, b.hc
	// Held status requests: the memory each costs the server.
	marginal, total, err := measureHeld(ctx, hc)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: fmt.Sprintf("memory per held status request (%d held, heap + stacks)", heldN), value: fmt.Sprintf("%.0f B", marginal),
		floor: "an idle keep-alive connection of a polling client", ratio: fmt.Sprintf("%.0f B with its connection", total), goal: "≤ 8 KiB"})

	return nil
}

// heard runs wrctl load's engine against rooms in this process: how soon admitted users hear.
func (b *bench) heard() error {
	ctx, emu, rs := b.ctx, b.emu, b.rs
	// Heard at once: wrctl load's engine against rooms in this process.
	for _, c := range []struct {
		name string
		on   roomOn
		goal string
	}{{"memory store + memory queue", roomOn{}, "≤ 250 ms"}, {"Redis store + SQS emulator", roomOn{emu: emu, redis: rs}, "≤ 500 ms"}} {
		rep, err := loadRun(ctx, c.on, 1000, 400, 100, time.Second)
		if err != nil {
			return err
		}
		rows = append(rows, row{name: "empty room, time to admission p99 (400 users at 100/s, " + c.name + ")",
			value: fmt.Sprintf("%.1f ms", float64(rep.TimeToAdmission.P99)), floor: "before: the first poll's Retry-After", ratio: "2000 ms", goal: c.goal})
		fmt.Fprintf(os.Stderr, "   empty room (%s): time to admission p99 %.1f ms\n", c.name, float64(rep.TimeToAdmission.P99))
		rep, err = loadRun(ctx, c.on, 20, 400, 100, 2*time.Second)
		if err != nil {
			return err
		}
		util := 0.0
		if rep.Heard.Utilization != nil {
			util = *rep.Heard.Utilization
		}
		rows = append(rows, row{name: "saturated room, slot utilization while someone waits (capacity 20, 400 users at 100/s, hold 2s, " + c.name + ")",
			value: fmt.Sprintf("%.3f", util), ratio: fmt.Sprintf("%.1f requests per admitted user; time to hear p99 %.1f ms", rep.Heard.RequestsPerAdmitted, float64(rep.Heard.TimeToHear.P99)),
			goal: "≥ 0.95; ≤ 6 requests per admitted user"})
		fmt.Fprintf(os.Stderr, "   saturated room (%s): utilization %.3f, %.1f requests per admitted user\n", c.name, util, rep.Heard.RequestsPerAdmitted)
	}

	return nil
}

// admissions measures admissions of one event and the SQS requests per admitted user.
func (b *bench) admissions() error {
	ctx, hc, emu := b.ctx, b.hc, b.emu
	// Admissions of one event, and what SQS costs per admitted user.
	// The line is joined while the event is paused, then drained: the
	// granters' pace alone, with no join competing for the CPU.
	adm, perUser, err := measureAdmissions(ctx, hc, roomOn{emu: emu})
	if err != nil {
		return err
	}
	report("admissions of one event (memory store + SQS)", adm, "/s", "one-group drain", b.rawDrain, "≥ 5×")
	admRedis, _, err := measureAdmissions(ctx, hc, roomOn{emu: emu, redis: b.rs})
	if err != nil {
		return err
	}
	report("admissions of one event (Redis store + SQS)", admRedis, "/s", "one-group drain", b.rawDrain, "≥ 5×")
	rows = append(rows, row{name: "SQS requests per admitted user (join to admission)", value: fmt.Sprintf("%.2f", perUser),
		ratio: fmt.Sprintf("$%.2f per million admitted", perUser*0.50), goal: "≤ 0.4 (FIFO: $0.50 per million requests)"})

	return nil
}

// gate measures the gate in front of a site against the site alone.
func (b *bench) gate() error {
	ctx, hc := b.ctx, b.hc
	// The gate in front of a site, against the site alone.
	originAlone, gated, err := measureGate(ctx, hc)
	if err != nil {
		return err
	}
	report("gate: proxied requests with a valid token (memory store)", gated, "/s", "the origin alone", originAlone, "≥ 0.2× (a second HTTP hop; client, gate and origin share the CPUs)")

	return nil
}

// memory measures the memory per waiting session in each store.
func (b *bench) memory() error {
	ctx, rs := b.ctx, b.rs
	perSession, err := memstoreFootprint(*memUsers)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: fmt.Sprintf("memory store, RSS per WAITING session (%d waiting)", *memUsers), value: fmt.Sprintf("%.0f B", perSession), goal: "≤ 1024 B"})
	perRedis, err := redisFootprint(ctx, rs, *redisN)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: fmt.Sprintf("Redis used_memory per WAITING session (%d waiting)", *redisN), value: fmt.Sprintf("%.0f B", perRedis), goal: "≤ 400 B"})
	perAdmitted, err := auditFootprint(ctx, rs, *auditN)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: fmt.Sprintf("Redis audit log per admitted user (%d joined, admitted and left)", *auditN), value: fmt.Sprintf("%.0f B", perAdmitted), goal: "≤ 200 B"})

	return nil
}

// hammer runs conns clients calling fn in a loop for the duration, after a
// short warm-up, and returns calls per second.
func hammer(fn func(worker int, i int64) error) (float64, error) {
	var n atomic.Int64
	var firstErr atomic.Value
	var counting atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range *conns {
		wg.Go(func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := fn(w, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				if counting.Load() {
					n.Add(1)
				}
			}
		})
	}
	<-time.After(*dur / 6) // warm-up: connections open, caches fill
	counting.Store(true)
	start := time.Now()
	<-time.After(*dur)
	counting.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok && n.Load() == 0 {
		return 0, err
	}
	return float64(n.Load()) / elapsed.Seconds(), nil
}

func get(hc *http.Client, url string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}

// bareHandler is the floor of every HTTP figure: net/http answering a
// small JSON body, on the same loopback.
func bareHandler(hc *http.Client) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"sessionId":"0123456789abcdef0123456789abcdef","status":"WAITING","position":1}`)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	return hammer(func(int, int64) error { return get(hc, url) })
}

// rawSendMessage is unbatched SendMessage calls of one event's group on
// the emulator: the floor of a join that sends its own message.
func rawSendMessage(ctx context.Context, emu *sqstest.Emulator) (float64, error) {
	c := emu.Client()
	url, err := newQueue(ctx, emu, "raw-send")
	if err != nil {
		return 0, err
	}
	return hammer(func(w int, i int64) error {
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(`{"v":1}`),
			MessageGroupId: aws.String("E1"), MessageDeduplicationId: aws.String(fmt.Sprintf("%d-%d", w, i))})
		return err
	})
}

// rawOneGroupDrain is one consumer receiving 10 and deleting them in a
// batch from one message group: the floor of admission bound to a group.
func rawOneGroupDrain(ctx context.Context, emu *sqstest.Emulator) (float64, error) {
	c := emu.Client()
	url, err := newQueue(ctx, emu, "raw-drain")
	if err != nil {
		return 0, err
	}
	for i := 0; i < *drainN; i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := range 10 {
			id := strconv.Itoa(i + j)
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String("m" + id), MessageBody: aws.String(`{"v":1}`),
				MessageGroupId: aws.String("E1"), MessageDeduplicationId: aws.String(id)})
		}
		if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries}); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	got, receives := 0, 0
	defer func() { fmt.Fprintf(os.Stderr, "      raw drain: %d messages in %d receives\n", got, receives) }()
	for got < *drainN {
		receives++
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return 0, err
		}
		var del []types.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			if _, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: del}); err != nil {
				return 0, err
			}
		}
		got += len(del)
	}
	return float64(got) / time.Since(start).Seconds(), nil
}

var queueSeq atomic.Int64

func newQueue(ctx context.Context, emu *sqstest.Emulator, base string) (string, error) {
	name := fmt.Sprintf("bench-%s-%d-%d.fifo", base, os.Getpid(), queueSeq.Add(1))
	q, err := sqsqueue.Create(ctx, emu.Client(), sqsqueue.CreateOptions{Name: name, FIFO: true, MaxReceiveCount: 10,
		VisibilityTimeout: 30 * time.Second, Retention: time.Hour, HighThroughput: true})
	if err != nil {
		return "", err
	}
	return q.URL, nil
}

// roomOn says what a room under test runs on: nil fields are the embedded
// memory queue and store.
type roomOn struct {
	emu   *sqstest.Emulator
	redis *redistest.Server
	// noEventCache makes every Redis poll read the index first, as before
	// the cache: the floor of the Redis poll figure.
	noEventCache bool
}

var prefixSeq atomic.Int64

func startRoom(ctx context.Context, on roomOn, policy room.Policy, granterOn bool) (*app.App, func(), error) {
	return startRoomWith(ctx, on, policy, granterOn, nil)
}

// startRoomWith is startRoom with a last change to the room's config.
func startRoomWith(ctx context.Context, on roomOn, policy room.Policy, granterOn bool, change func(*app.Config)) (*app.App, func(), error) {
	cfg := app.Config{
		Addr:      "127.0.0.1:0",
		Policies:  room.StaticPolicies{Default: policy},
		Granter:   granter.Config{},
		NoGranter: !granterOn,
		Log:       slog.New(slog.DiscardHandler),
	}
	if on.emu != nil {
		url, err := newQueue(ctx, on.emu, "room")
		if err != nil {
			return nil, nil, err
		}
		cfg.SQS = &app.SQSConfig{Client: sqsqueue.ClientConfig{Region: sqstest.Region, Endpoint: on.emu.URL, QueueURL: url}, URL: url}
	}
	if on.redis != nil {
		cfg.Redis = &redisstore.Config{Addrs: []string{on.redis.Addr}, Prefix: fmt.Sprintf("bench%d", prefixSeq.Add(1))}
		if on.noEventCache {
			cfg.Redis.EventCache = -1
		}
	}
	if change != nil {
		change(&cfg)
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Run(rctx) }()
	return a, func() { cancel(); <-done }, nil
}

// benchPolicy sends every join through the queue (QueueAll): most figures
// are of the line; those of a join admitted at once clear it.
var benchPolicy = room.Policy{Capacity: 1_000_000, HeartbeatTTL: 10 * time.Minute, WaitingTTL: 10 * time.Minute, MaxActive: time.Hour,
	QueueAll: true}

// measureGate is requests per second to an origin (a net/http handler
// answering a small page) directly, then through the gate in front of it,
// each client an admitted user with its own access token: one proxy hop,
// a token check and a heartbeat every few seconds per user.
func measureGate(ctx context.Context, hc *http.Client) (origin, gated float64, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>shop</title><h1>the shop</h1><p>a product page of a few hundred bytes, as an origin would answer it</p>`)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	originURL := "http://" + ln.Addr().String()
	if origin, err = hammer(func(int, int64) error { return get(hc, originURL+"/") }); err != nil {
		return 0, 0, err
	}
	up, _ := url.Parse(originURL)
	a, stop, err := startRoomWith(ctx, roomOn{}, benchPolicy, true, func(c *app.Config) {
		c.Server.Gate = &gate.Config{Upstream: up, Routes: []gate.Route{{Prefix: "/", Event: "SHOP"}}}
	})
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	tokens := make([]string, *conns)
	for i := range tokens {
		s, err := join(hc, a.URL(), "SHOP", fmt.Sprint("shopper-", i))
		if err != nil {
			return 0, 0, err
		}
		for s.AccessToken == "" {
			if s, err = status(hc, a.URL(), s.SessionID); err != nil {
				return 0, 0, err
			}
		}
		tokens[i] = s.AccessToken
	}
	gated, err = hammer(func(w int, _ int64) error {
		req, _ := http.NewRequest(http.MethodGet, a.URL()+"/products", nil)
		req.AddCookie(&http.Cookie{Name: server.TokenCookie, Value: tokens[w]})
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != "" {
			return fmt.Errorf("gate: %d, not the origin's page", resp.StatusCode)
		}
		return nil
	})
	return origin, gated, err
}

// status reads a session.
func status(hc *http.Client, base, id string) (api.Session, error) {
	resp, err := hc.Get(base + api.SessionPath(id, ""))
	if err != nil {
		return api.Session{}, err
	}
	defer resp.Body.Close()
	var s api.Session
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func join(hc *http.Client, base, event, user string) (api.Session, error) {
	req, _ := http.NewRequest(http.MethodPost, base+api.SessionsPath, strings.NewReader(`{"eventId":"`+event+`","userId":"`+user+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", user)
	resp, err := hc.Do(req)
	if err != nil {
		return api.Session{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return api.Session{}, fmt.Errorf("join: %d %s", resp.StatusCode, body)
	}
	var s api.Session
	return s, json.Unmarshal(body, &s)
}

// measureJoins is joins of one hot event per second (the granter off: the
// join path alone).
func measureJoins(ctx context.Context, hc *http.Client, on roomOn, tag string) (float64, error) {
	return measureJoinsUnder(ctx, hc, on, tag, benchPolicy)
}

// measureJoinsUnder is measureJoins under policy p.
func measureJoinsUnder(ctx context.Context, hc *http.Client, on roomOn, tag string, p room.Policy) (float64, error) {
	a, stop, err := startRoom(ctx, on, p, false)
	if err != nil {
		return 0, err
	}
	defer stop()
	return hammer(func(w int, i int64) error {
		_, err := join(hc, a.URL(), "HOT", fmt.Sprintf("%s-%d-%d", tag, w, i))
		return err
	})
}

// measurePolls is status polls per second of 1,000 sessions of one event,
// WAITING (the event paused) or ACTIVE.
func measurePolls(ctx context.Context, hc *http.Client, on roomOn, active bool) (float64, error) {
	a, stop, err := startRoom(ctx, on, benchPolicy, active)
	if err != nil {
		return 0, err
	}
	defer stop()
	if !active {
		if err := a.Store().PutSettings(ctx, "HOT", room.Settings{Paused: true}); err != nil {
			return 0, err
		}
	}
	var ids []string
	for i := range 1000 {
		s, err := join(hc, a.URL(), "HOT", "poll-"+strconv.Itoa(i))
		if err != nil {
			return 0, err
		}
		ids = append(ids, s.SessionID)
	}
	want := room.StatusWaiting
	if active {
		want = room.StatusActive
		deadline := time.Now().Add(time.Minute)
		for {
			st, err := a.Store().Stats(ctx, "HOT")
			if err != nil {
				return 0, err
			}
			if st.Active == int64(len(ids)) {
				break
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("only %d of %d admitted", st.Active, len(ids))
			}
			<-time.After(20 * time.Millisecond)
		}
	}
	if s, err := a.Store().Get(ctx, ids[0]); err != nil || s.Status != want {
		return 0, fmt.Errorf("sessions are %s, want %s (%v)", s.Status, want, err)
	}
	return hammer(func(w int, i int64) error {
		return get(hc, a.URL()+api.SessionsPath+"/"+ids[(int64(w)*7919+i)%int64(len(ids))])
	})
}

// measureAdmissions piles joins up in one paused event, resumes it and
// times the admissions; it also reads the app's SQS calls from /metrics.
func measureAdmissions(ctx context.Context, hc *http.Client, on roomOn) (perSecond, sqsPerUser float64, err error) {
	a, stop, err := startRoom(ctx, on, benchPolicy, true)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	if err := a.Store().PutSettings(ctx, "HOT", room.Settings{Paused: true}); err != nil {
		return 0, 0, err
	}
	n := *drainN
	if err := parallel(n, func(i int) error {
		_, err := join(hc, a.URL(), "HOT", "adm-"+strconv.Itoa(i))
		return err
	}); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := a.Store().PutSettings(ctx, "HOT", room.Settings{}); err != nil {
		return 0, 0, err
	}
	deadline := start.Add(5 * time.Minute)
	for {
		st, err := a.Store().Stats(ctx, "HOT")
		if err != nil {
			return 0, 0, err
		}
		if st.Admitted >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("admitted %d of %d in 5 minutes", st.Admitted, n)
		}
		<-time.After(10 * time.Millisecond)
	}
	perSecond = float64(n) / time.Since(start).Seconds()
	if resp, err := hc.Get(a.URL() + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, loadgen.SQSRequests+"{") {
				fmt.Fprintln(os.Stderr, "     ", line)
			}
		}
	}
	calls, err := sqsCalls(hc, a.URL())
	if err != nil {
		return 0, 0, err
	}
	return perSecond, calls / float64(n), nil
}

// sqsCalls sums the app's queue calls from its /metrics.
func sqsCalls(hc *http.Client, base string) (float64, error) {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum, found, err := loadgen.SumMetric(resp.Body, loadgen.SQSRequests)
	if err == nil && !found {
		err = errors.New("no " + loadgen.SQSRequests + " in /metrics")
	}
	return sum, err
}

// memstoreFootprint is the resident memory per WAITING session of n in the
// memory store, from the process's RSS.
func memstoreFootprint(n int) (float64, error) {
	ctx := context.Background()
	st := memstore.New(memstore.Config{}, room.StaticPolicies{Default: benchPolicy})
	defer st.Close()
	runtime.GC()
	before := rss()
	for i := range n {
		if _, _, err := st.Join(ctx, room.JoinRequest{EventID: "HOT", UserID: "u" + strconv.Itoa(i), Key: "k" + strconv.Itoa(i)}); err != nil {
			return 0, err
		}
	}
	runtime.GC()
	after := rss()
	runtime.KeepAlive(st)
	return float64(after-before) / float64(n), nil
}

// rss is the process's resident set in bytes, from /proc/self/statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// redisFootprint is Redis used_memory per WAITING session of n.
func redisFootprint(ctx context.Context, rs *redistest.Server, n int) (float64, error) {
	st, err := redisstore.New(ctx, redisstore.Config{Addrs: []string{rs.Addr}, Prefix: "benchmem"}, room.StaticPolicies{Default: benchPolicy})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rc.Close()
	before, err := usedMemory(ctx, rc)
	if err != nil {
		return 0, err
	}
	if err := parallel(n, func(i int) error {
		id := strconv.Itoa(i)
		_, _, err := st.Join(ctx, room.JoinRequest{EventID: "HOT", UserID: "u" + id, Key: "k" + id})
		return err
	}); err != nil {
		return 0, err
	}
	after, err := usedMemory(ctx, rc)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}

// auditFootprint is the Redis memory of an event's audit log (MEMORY
// USAGE of its list, every element counted) per admitted user, after n
// users joined, were admitted and left: the three entries a user leaves.
func auditFootprint(ctx context.Context, rs *redistest.Server, n int) (float64, error) {
	st, err := redisstore.New(ctx, redisstore.Config{Addrs: []string{rs.Addr}, Prefix: "benchaudit"}, room.StaticPolicies{Default: benchPolicy})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	ids := make([]string, n)
	for _, phase := range []func(i int) error{
		func(i int) error {
			s, _, err := st.Join(ctx, room.JoinRequest{EventID: "AUDIT", UserID: "u" + strconv.Itoa(i), Key: "k" + strconv.Itoa(i)})
			ids[i] = s.ID
			if err == nil {
				err = st.MarkEnqueued(ctx, "AUDIT", s.ID)
			}
			return err
		},
		func(i int) error { _, err := st.Grant(ctx, "AUDIT", ids[i]); return err },
		func(i int) error { _, err := st.Leave(ctx, ids[i]); return err },
	} {
		if err := parallel(n, phase); err != nil {
			return 0, err
		}
	}
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rc.Close()
	bytes, err := rc.MemoryUsage(ctx, "benchaudit:{AUDIT}:log", 0).Result()
	if err != nil {
		return 0, err
	}
	entries, err := rc.LLen(ctx, "benchaudit:{AUDIT}:log").Result()
	if err != nil {
		return 0, err
	}
	if entries < int64(3*n) {
		return 0, fmt.Errorf("audit log holds %d entries for %d users, want at least %d", entries, n, 3*n)
	}
	return float64(bytes) / float64(n), nil
}

// parallel calls fn for 0..n-1 from -conns goroutines, and returns the
// first error.
func parallel(n int, fn func(i int) error) error {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var first atomic.Value
	for range *conns {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := fn(int(i)); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

func usedMemory(ctx context.Context, rc *redis.Client) (int64, error) {
	info, err := rc.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO memory")
}
