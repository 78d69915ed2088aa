// Command chaos runs the production path (three `wrctl serve` replicas on
// Redis and the SQS emulator, every connection through Shopify's
// toxiproxy) under load from `wrctl load`, and injects the faults an
// on-sale meets: Redis killed with SIGKILL and restarted from its AOF, the
// SQS emulator killed and restarted from its data, latency and random
// resets between the replicas and their backends, and one replica cut off
// from Redis for ten seconds. After each it proves, from the event's
// public audit log read from every replica and from the load's merged
// report, that capacity and order held and nobody was admitted twice, and
// prints what was lost. It exits 1 on a violation. `make chaos` runs it.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/redistest"
	"github.com/wrctl/wrctl/internal/sqstest"
)

var (
	bin       = flag.String("wrctl", "bin/wrctl", "the wrctl binary the replicas and the load run")
	scenarios = flag.String("scenarios", "redis,sqs,proxy", "the scenarios to run, comma-separated")
	rate      = flag.Float64("rate", 15, "joins per second on each of the three replicas")
	seconds   = flag.Int("seconds", 24, "how long users arrive in each scenario")
	capacity  = flag.Int("capacity", 40, "the event's capacity")
	keep      = flag.Bool("keep", false, "keep the working directory (logs, reports, AOF)")
)

func main() {
	flag.Parse()
	failed, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if failed > 0 {
		fmt.Printf("\nFAIL: %d scenario(s) showed a violation\n", failed)
		os.Exit(1)
	}
	fmt.Println("\nPASS: every scenario held capacity and order, admitted nobody twice and lost no acknowledged join")
}

func run() (failed int, err error) {
	e, err := setUp()
	if err != nil {
		return 0, err
	}
	defer e.tearDown()
	all := map[string]func(*env) *result{"redis": redisKilled, "sqs": sqsKilled, "proxy": proxied}
	for _, name := range strings.Split(*scenarios, ",") {
		sc, ok := all[name]
		if !ok {
			return failed, fmt.Errorf("-scenarios: no scenario %q (redis, sqs, proxy)", name)
		}
		r := sc(e)
		r.print()
		if len(r.violations) > 0 {
			failed++
		}
	}
	return failed, nil
}

// env is the room under test: its backends, the proxies in front of them
// and the replicas.
type env struct {
	dir        string
	rs         *redistest.Server
	emu        *sqstest.Emulator
	tp         *toxiproxy.ApiServer
	replicas   []*replica
	adminToken string
	keyFile    string
}

// replica is one `wrctl serve` and its two proxies.
type replica struct {
	url            string
	cmd            *exec.Cmd
	redisPx, sqsPx *toxiproxy.Proxy
}

func setUp() (*env, error) {
	dir, err := os.MkdirTemp("", "wrctl-chaos-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, adminToken: randomHex(16)}
	fmt.Printf(">> working directory %s\n", dir)
	fmt.Println(">> redis-server with appendonly yes, appendfsync everysec (the production setting)")
	if err := os.MkdirAll(filepath.Join(dir, "redis"), 0o755); err != nil {
		return nil, err
	}
	if e.rs, err = redistest.Start(filepath.Join(dir, "redis"), "--appendonly", "yes", "--appendfsync", "everysec"); err != nil {
		return nil, err
	}
	fmt.Println(">> the SQS emulator, its queues kept in SQLite (written through), as SQS keeps them")
	if e.emu, err = sqstest.StartWith(sqstest.Options{DataDir: filepath.Join(dir, "sqs")}); err != nil {
		return nil, err
	}
	if out, err := wrctl("queue", "create", "--name", "chaos.fifo", "--sqs-endpoint", e.emu.URL).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wrctl queue create: %v: %s", err, out)
	}
	if e.keyFile, err = writeKey(dir); err != nil {
		return nil, err
	}
	e.tp = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	fmt.Println(">> three replicas, each reaching Redis and SQS through its own toxiproxy proxies")
	for i := range 3 {
		r, err := e.startReplica(i)
		if err != nil {
			e.tearDown()
			return nil, err
		}
		e.replicas = append(e.replicas, r)
	}
	return e, nil
}

func (e *env) startReplica(i int) (*replica, error) {
	r := &replica{
		redisPx: toxiproxy.NewProxy(e.tp, fmt.Sprintf("redis-%d", i), "127.0.0.1:0", e.rs.Addr),
		sqsPx:   toxiproxy.NewProxy(e.tp, fmt.Sprintf("sqs-%d", i), "127.0.0.1:0", strings.TrimPrefix(e.emu.URL, "http://")),
	}
	for _, px := range []*toxiproxy.Proxy{r.redisPx, r.sqsPx} {
		if err := px.Start(); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r.url = "http://" + addr
	logf, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("replica-%d.log", i)))
	if err != nil {
		return nil, err
	}
	r.cmd = wrctl("serve", "--addr", addr, "--store", "redis", "--redis-addr", r.redisPx.Listen,
		"--queue", "sqs", "--queue-name", "chaos.fifo", "--sqs-endpoint", "http://"+r.sqsPx.Listen,
		"--capacity", fmt.Sprint(*capacity), "--visibility-timeout", "5s", "--heartbeat-ttl", "10s",
		"--waiting-ttl", "1m", "--token-key-file", e.keyFile)
	r.cmd.Env = append(r.cmd.Env, "WRCTL_ADMIN_TOKEN="+e.adminToken)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	if !until(30*time.Second, func() bool { return get(r.url+"/readyz") == http.StatusOK }) {
		return nil, fmt.Errorf("replica %d did not become ready (see %s)", i, logf.Name())
	}
	return r, nil
}

func (e *env) tearDown() {
	for _, r := range e.replicas {
		r.cmd.Process.Signal(syscall.SIGTERM)
		r.cmd.Wait()
		r.redisPx.Stop()
		r.sqsPx.Stop()
	}
	if e.emu != nil {
		e.emu.Stop()
	}
	if e.rs != nil {
		e.rs.Stop()
	}
	if !*keep {
		os.RemoveAll(e.dir)
	}
}

// result is what a scenario observed and what it found broken.
type result struct {
	name       string
	notes      []string
	violations []string
}

func (r *result) note(format string, a ...any) { r.notes = append(r.notes, fmt.Sprintf(format, a...)) }
func (r *result) bad(format string, a ...any) {
	r.violations = append(r.violations, fmt.Sprintf(format, a...))
}

func (r *result) print() {
	verdict := "held"
	if len(r.violations) > 0 {
		verdict = "VIOLATED"
	}
	fmt.Printf("\n== %s: %s\n", r.name, verdict)
	for _, n := range r.notes {
		fmt.Println("   " + n)
	}
	for _, v := range r.violations {
		fmt.Println("   VIOLATION: " + v)
	}
}

// redisKilled: Redis is killed with SIGKILL mid-load and restarted from
// its AOF three seconds later.
func redisKilled(e *env) *result {
	r := &result{name: "Redis killed (SIGKILL) and restarted from its AOF mid-load"}
	var down, up time.Time
	var refused probe
	rep := e.load(r, "redis", func(ctx context.Context, event string) {
		sleep(ctx, time.Duration(*seconds)*time.Second/3)
		down = time.Now()
		e.rs.Stop() // SIGKILL
		refused = e.probeJoin(0, event)
		sleep(ctx, 3*time.Second)
		if err := e.rs.Restart(); err != nil {
			r.bad("restart redis-server: %v", err)
		}
		up = time.Now()
	})
	if rep == nil {
		return r
	}
	r.note("Redis was down %.1fs; a join then answered %s", up.Sub(down).Seconds(), refused)
	if refused.status != http.StatusServiceUnavailable || refused.retryAfter == "" {
		r.bad("a join while Redis was down answered %s, want 503 with Retry-After", refused)
	}
	lost := notFound(rep)
	// What AOF everysec allows: the writes of the second before the kill.
	allowed := int64(*rate*3) + 1
	r.note("places lost: %d (sessions acknowledged, then not found); AOF everysec allows at most a second's joins, %d", lost, allowed)
	if lost > allowed {
		r.bad("%d places lost, more than a second of joins (%d)", lost, allowed)
	}
	return r
}

// sqsKilled: the SQS emulator is killed mid-load and restarted on its
// data five seconds later.
func sqsKilled(e *env) *result {
	r := &result{name: "SQS emulator killed and restarted mid-load"}
	var refused probe
	rep := e.load(r, "sqs", func(ctx context.Context, event string) {
		sleep(ctx, time.Duration(*seconds)*time.Second/3)
		e.emu.Kill()
		refused = e.probeJoin(1, event)
		sleep(ctx, 5*time.Second)
		if err := e.emu.Restart(); err != nil {
			r.bad("restart the emulator: %v", err)
		}
	})
	if rep == nil {
		return r
	}
	r.note("a join while SQS was down answered %s", refused)
	if refused.status != http.StatusServiceUnavailable || refused.retryAfter == "" {
		r.bad("a join while SQS was down answered %s, want 503 with Retry-After", refused)
	}
	u := rep.Users
	r.note("acknowledged joins %d, admitted %d, refused at the join (never acknowledged) %d", u.Joined, u.Admitted, u.Failed)
	if u.Admitted != u.Joined || notFound(rep) > 0 {
		r.bad("%d joins acknowledged but %d admitted (%d not found): a place was lost", u.Joined, u.Admitted, notFound(rep))
	}
	return r
}

// proxied: latency 50 ms ± 20 ms on every connection to Redis and SQS,
// then connections reset at random, then one replica cut off from Redis
// for ten seconds.
func proxied(e *env) *result {
	r := &result{name: "toxiproxy: latency, random resets, one replica cut off from Redis for 10s"}
	var during, after probe
	var recovered time.Duration
	phase := time.Duration(*seconds) * time.Second / 3
	rep := e.load(r, "proxy", func(ctx context.Context, event string) {
		e.toxic(`{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":50,"jitter":20}}`)
		sleep(ctx, phase)
		e.removeToxic("latency")
		e.toxic(`{"name":"reset","type":"reset_peer","stream":"downstream","toxicity":0.05,"attributes":{"timeout":200}}`)
		sleep(ctx, phase)
		e.removeToxic("reset")
		cut := e.replicas[2]
		cut.redisPx.Stop()
		during = e.probeJoin(2, event)
		sleep(ctx, 10*time.Second)
		if err := cut.redisPx.Start(); err != nil {
			r.bad("restore replica 2's Redis proxy: %v", err)
		}
		back := time.Now()
		until(30*time.Second, func() bool { after = e.probeJoin(2, event); return after.status == http.StatusAccepted })
		recovered = time.Since(back)
	})
	if rep == nil {
		return r
	}
	r.note("replica 2 cut off from Redis: a join answered %s; %s after Redis came back, it answered %s", during, recovered.Round(time.Millisecond), after)
	if during.status != http.StatusServiceUnavailable || during.retryAfter == "" {
		r.bad("the cut-off replica answered a join %s, want 503 with Retry-After", during)
	}
	if after.status != http.StatusAccepted {
		r.bad("the cut-off replica did not recover: a join answered %s", after)
	}
	r.note("requests that failed under the faults: %d of %d (retried by the users; not a loss)", failedRequests(rep.Overall), rep.Overall.Count)
	if lost := notFound(rep); lost > 0 {
		r.bad("%d places lost under latency and resets", lost)
	}
	return r
}

// load runs `wrctl load` on each replica (shards of one run with one
// start), the fault beside it, merges the shards' reports with the
// audits as thresholds and proves the event's audit log from every
// replica. It returns the merged report, nil if there is none.
func (e *env) load(r *result, name string, fault func(ctx context.Context, event string)) *loadgen.Report {
	runID := "chaos-" + name + "-" + randomHex(3)
	startsAt := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
	users := int(*rate * float64(*seconds))
	fmt.Printf("\n>> %s: %d users on each of 3 replicas at %.0f/s, capacity %d, a start 3s in\n", r.name, users, *rate, *capacity)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { fault(ctx, runID+"-e0") })
	files := make([]string, len(e.replicas))
	var shards sync.WaitGroup
	for i, rp := range e.replicas {
		files[i] = filepath.Join(e.dir, fmt.Sprintf("%s-%d.json", runID, i))
		shards.Go(func() {
			cmd := wrctl("load", "--server", rp.url, "--shard", fmt.Sprintf("%d/%d", i, len(e.replicas)), "--run-id", runID,
				"-u", fmt.Sprint(users*len(e.replicas)), "-r", fmt.Sprint(*rate*float64(len(e.replicas))),
				"--hold", "1s..2s", "--heartbeat-interval", "2s", "--starts-at", startsAt, "--admin-token", e.adminToken,
				"--threshold", "error_rate<1", "--progress", "none", "--metrics", "none", "--out", files[i], "-o", "json")
			cmd.Stdout = io.Discard
			cmd.Stderr = os.Stderr
			cmd.Run() // the shard's own verdict counts its faults' errors; the merge below judges
		})
	}
	shards.Wait()
	wg.Wait()
	merged := filepath.Join(e.dir, runID+".json")
	args := append([]string{"load", "merge"}, files...)
	args = append(args, "--threshold", "error_rate<1", "--threshold", "capacity_violations==0", "--threshold", "inversions==0",
		"--threshold", "audit_log_violations==0", "--threshold", "prequeue_overtaken==0", "--out", merged)
	out, err := wrctl(args...).CombinedOutput()
	if err != nil {
		r.bad("wrctl load merge: %v\n%s", err, indent(out))
	}
	rep, err := readReport(merged)
	if err != nil {
		r.bad("read the merged report: %v", err)
		return nil
	}
	for _, th := range rep.Thresholds {
		r.note("wrctl load: %s → %s", th.Threshold, observed(th))
	}
	for ev := range rep.Events {
		e.proveLog(r, ev)
	}
	return rep
}

// proveLog reads the event's audit log from every replica: the logs must
// be the same and proven (capacity, order, the draw, nobody admitted
// twice), observed apart from the load's own audits.
func (e *env) proveLog(r *result, event string) {
	var first []byte
	for i, rp := range e.replicas {
		body, err := fetch(rp.url + "/api/waiting-room/events/" + event + "/audit")
		if err != nil {
			r.bad("replica %d: audit log of %s: %v", i, event, err)
			continue
		}
		// The head line is signed by the replica that served it; the
		// entries must be the same on every one.
		entries := body[:bytes.LastIndex(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))+1]
		if first == nil {
			first = entries
		} else if !bytes.Equal(first, entries) {
			r.bad("replica %d serves another audit log of %s", i, event)
		}
		jwks, _ := fetch(rp.url + "/.well-known/jwks.json")
		keys, err := audit.KeysFromJWKS(jwks)
		if err != nil {
			r.bad("replica %d: JWKS: %v", i, err)
			continue
		}
		rep, err := audit.Verify(bytes.NewReader(body), audit.Options{Keys: keys})
		if err != nil {
			r.bad("replica %d: the audit log of %s is broken: %v", i, event, err)
			continue
		}
		if i == 0 {
			r.note("audit log of %s: %d entries, %d joined, %d admitted, at most %d inside (capacity %d), signed %v, proven %v",
				event, rep.Entries, rep.Joined, rep.Admitted, rep.MaxActive, *capacity, rep.Signed, rep.Proven())
		}
		for _, v := range rep.Violations {
			r.bad("replica %d: audit log of %s: %s", i, event, v)
		}
	}
}

// probe is what a join answered.
type probe struct {
	status     int
	retryAfter string
	err        error
}

func (p probe) String() string {
	if p.err != nil {
		return "error " + p.err.Error()
	}
	s := fmt.Sprintf("%d", p.status)
	if p.retryAfter != "" {
		s += " Retry-After: " + p.retryAfter
	}
	return s
}

// probeJoin joins a fresh user to the load's event on replica i: its
// room is full, so the join needs its message on the queue (a join to an
// empty room is admitted at once, without one).
func (e *env) probeJoin(i int, event string) probe {
	body := fmt.Sprintf(`{"eventId":%q,"userId":"probe-%s"}`, event, randomHex(6))
	c := http.Client{Timeout: 15 * time.Second}
	resp, err := c.Post(e.replicas[i].url+"/api/waiting-room/sessions", "application/json", strings.NewReader(body))
	if err != nil {
		return probe{err: err}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return probe{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
}

func (e *env) toxic(spec string) {
	for _, r := range e.replicas {
		for _, px := range []*toxiproxy.Proxy{r.redisPx, r.sqsPx} {
			if _, err := px.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
				fmt.Fprintln(os.Stderr, "chaos: add toxic:", err)
			}
		}
	}
}

func (e *env) removeToxic(name string) {
	for _, r := range e.replicas {
		for _, px := range []*toxiproxy.Proxy{r.redisPx, r.sqsPx} {
			px.Toxics.RemoveToxic(context.Background(), name)
		}
	}
}

// notFound counts the users' requests about their own session answered
// 404 after their join was acknowledged: each is a place the room forgot.
func notFound(rep *loadgen.Report) int64 {
	var n int64
	for _, name := range []string{loadgen.EndpointStatus, loadgen.EndpointWait, loadgen.EndpointHeartbeat, loadgen.EndpointLeave} {
		n += rep.Endpoints[name].Status["404"]
	}
	return n
}

func failedRequests(ep loadgen.Endpoint) int64 {
	var n int64
	for _, c := range ep.Errors {
		n += c
	}
	return n
}

func observed(th loadgen.ThresholdResult) string {
	verdict := "pass"
	if !th.Pass {
		verdict = "FAIL"
	}
	if th.Observed == nil {
		return verdict + " (not measured: " + th.Reason + ")"
	}
	return fmt.Sprintf("%s (observed %g)", verdict, *th.Observed)
}

func readReport(path string) (*loadgen.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep loadgen.Report
	return &rep, json.Unmarshal(b, &rep)
}

func wrctl(args ...string) *exec.Cmd {
	cmd := exec.Command(*bin, args...)
	cmd.Env = append(os.Environ(), sqstest.Env...)
	return cmd
}

func writeKey(dir string) (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "token.pem")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func get(url string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func fetch(url string) ([]byte, error) {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return b, err
}

// until polls cond every 100 ms for at most d: the faults are real
// processes and sockets, so readiness is polled.
func until(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// sleep waits d, or less if ctx ends: the faults' timeline.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func indent(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = slices.Concat(lines[:20], []string{"…"}, lines[len(lines)-20:])
	}
	return "      " + strings.Join(lines, "\n      ")
}
