package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/app/apptest"
	"github.com/wrctl/wrctl/internal/sqstest"
)

// The end-to-end tests run the real binary, built once, against the real
// SQS emulator.
var (
	binary string
	emu    *sqstest.Emulator
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "wrctl-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "wrctl")
		build := exec.Command("go", "build", "-race", "-o", binary, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build wrctl:", err)
			return 1
		}
		return sqstest.Main(m, &emu)
	}())
}

// cleanEnv is the environment the binary runs in: no WRCTL_* from the
// developer's shell, the emulator's credentials.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WRCTL_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(append(env, sqstest.Env...), extra...)
}

var queues atomic.Int64

// uniqueQueue names a FIFO queue no other test run uses: a killed replica's
// unfinished long poll may still take a message from the queue it polled.
func uniqueQueue(base string) string {
	return fmt.Sprintf("%s-%d-%d.fifo", base, os.Getpid(), queues.Add(1))
}

type result struct {
	code           int
	stdout, stderr string
}

func wrctl(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// startApp runs the waiting room in process, from serve's flags through
// the same configuration path as `wrctl serve` (flags → app.Settings →
// app.Config), on the embedded backends; for tests whose subject is a
// client command, not the serve process. It returns the base URL.
func startApp(t *testing.T, args ...string) string {
	t.Helper()
	s, err := serveSettings(t, append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return apptest.Start(t, cfg).URL()
}

// serveProc is a running `wrctl serve`.
type serveProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string
	mu   sync.Mutex
	logs []map[string]any
	done chan struct{}
	code int
}

func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	args = append([]string{"serve", "--log-format", "json", "--log-level", "debug"}, args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv(env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveProc{t: t, cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				line = map[string]any{"msg": sc.Text()}
			}
			s.mu.Lock()
			s.logs = append(s.logs, line)
			s.mu.Unlock()
			if line["msg"] == "listening" {
				addr <- line["addr"].(string)
			}
		}
		cmd.Wait()
		s.code = cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		t.Fatalf("wrctl serve exited before listening: %v", s.messages())
	case <-time.After(30 * time.Second):
		t.Fatalf("wrctl serve did not log its address: %v", s.messages())
	}
	return s
}

func (s *serveProc) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.logs {
		out = append(out, fmt.Sprint(l["msg"]))
	}
	return out
}

// stop sends SIGTERM and returns the exit code.
func (s *serveProc) stop() int {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatal("wrctl serve did not stop on SIGTERM")
	}
	return s.code
}

type session struct {
	SessionID string `json:"sessionId"`
	Status    string `json:"status"`
	Position  *int   `json:"position"`
}

func (s *serveProc) join(event, user string) session {
	s.t.Helper()
	resp, err := http.Post(s.URL+"/api/waiting-room/sessions", "application/json", strings.NewReader(`{"eventId":"`+event+`","userId":"`+user+`"}`))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		s.t.Fatalf("join: %d %s", resp.StatusCode, body)
	}
	var v session
	if err := json.Unmarshal(body, &v); err != nil {
		s.t.Fatal(err)
	}
	return v
}

func (s *serveProc) status(id string) session {
	s.t.Helper()
	resp, err := http.Get(s.URL + "/api/waiting-room/sessions/" + id)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v session
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		s.t.Fatal(err)
	}
	return v
}

func (s *serveProc) waitStatus(id, want string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.status(id)
		if got.Status == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("session %s is %s, want %s", id, got.Status, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func createQueue(t *testing.T, name string) map[string]any {
	t.Helper()
	r := wrctl(t, nil, "queue", "create", "--name", name, "--sqs-endpoint", emu.URL, "--output", "json")
	if r.code != 0 {
		t.Fatalf("queue create: exit %d: %s", r.code, r.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("queue create --output json printed %q: %v", r.stdout, err)
	}
	return out
}

func TestQueueCreateIsIdempotentAndScriptable(t *testing.T) {
	t.Parallel()
	name := uniqueQueue("e2e-create")
	first := createQueue(t, name)
	if !strings.HasSuffix(first["queueUrl"].(string), "/"+name) || !strings.HasSuffix(first["dlqUrl"].(string), "-dlq.fifo") || first["fifo"] != true {
		t.Fatalf("first create = %v", first)
	}
	if second := createQueue(t, name); fmt.Sprint(second) != fmt.Sprint(first) {
		t.Fatalf("second create = %v, want %v", second, first)
	}
	text := wrctl(t, nil, "queue", "create", "--name", name, "--sqs-endpoint", emu.URL)
	if text.code != 0 || strings.TrimSpace(text.stdout) != first["queueUrl"] {
		t.Fatalf("text output = %q (exit %d), want the URL", text.stdout, text.code)
	}
}

func TestUsageErrorsExit2AndNameTheFlag(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"queue create without name", []string{"queue", "create", "--sqs-endpoint", "http://127.0.0.1:1"}, "--name"},
		{"queue name without .fifo", []string{"queue", "create", "--name", "plain", "--sqs-endpoint", "http://127.0.0.1:1"}, ".fifo"},
		{"bad output", []string{"queue", "create", "--name", "a.fifo", "--output", "xml"}, "--output"},
		{"unknown flag", []string{"serve", "--capacityy", "3"}, "--capacityy"},
		{"zero capacity", []string{"serve", "--capacity", "0"}, "--capacity"},
		{"sqs without a queue", []string{"serve", "--queue", "sqs"}, "--queue-url"},
		{"not a number", []string{"serve", "--capacity", "many"}, "--capacity"},
		{"unknown command", []string{"frobnicate"}, "frobnicate"},
		{"serve takes no arguments", []string{"serve", "extra"}, "extra"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := wrctl(t, nil, c.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Fatalf("stderr %q does not name %q", r.stderr, c.want)
			}
		})
	}
}

func TestServeOnSQSCurlFlowAndGracefulStop(t *testing.T) {
	t.Parallel()
	name := uniqueQueue("e2e-serve")
	createQueue(t, name)
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--queue", "sqs", "--queue-name", name, "--sqs-endpoint", emu.URL, "--capacity", "1")
	a := s.join("E1", "U1")
	if a.Status != "ACTIVE" {
		t.Fatalf("join of an empty room = %+v, want ACTIVE at once", a)
	}
	b := s.join("E1", "U2")
	if b.Status != "WAITING" || b.Position == nil || *b.Position != 1 || s.status(b.SessionID).Status != "WAITING" {
		t.Fatalf("second join = %+v, want WAITING at position 1 (capacity 1)", b)
	}
	resp, err := http.Post(s.URL+"/api/waiting-room/sessions/"+a.SessionID+":leave", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("leave: %v %v", resp, err)
	}
	resp.Body.Close()
	s.waitStatus(b.SessionID, "ACTIVE")
	resp, err = http.Get(s.URL + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d; logs %v", code, s.messages())
	}
	if msgs := strings.Join(s.messages(), "|"); !strings.Contains(msgs, "stopped") {
		t.Fatalf("no stop logged: %s", msgs)
	}
}

func TestServeWithNoConfigurationRunsOnEmbeddedDefaults(t *testing.T) {
	t.Parallel()
	// Only the address comes from the environment, so the test can use a
	// free port; everything else is the built-in default.
	s := startServe(t, []string{"WRCTL_SERVER_ADDR=127.0.0.1:0"})
	if msgs := strings.Join(s.messages(), "|"); !strings.Contains(msgs, "embedded defaults") {
		t.Fatalf("no embedded-defaults line: %s", msgs)
	}
	a := s.join("E1", "U1")
	s.waitStatus(a.SessionID, "ACTIVE")
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestServeConfigFilePerEventCapacity(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "wrctl.yaml")
	os.WriteFile(file, []byte("room:\n  capacity: 1\nevents:\n  VIP:\n    capacity: 3\n"), 0o600)
	s := startServe(t, []string{"WRCTL_CONFIG=" + file}, "--addr", "127.0.0.1:0")
	var vip []session
	for i := range 4 {
		vip = append(vip, s.join("VIP", fmt.Sprint(i)))
	}
	e1 := []session{s.join("E1", "a"), s.join("E1", "b")}
	for _, v := range vip[:3] {
		s.waitStatus(v.SessionID, "ACTIVE")
	}
	s.waitStatus(e1[0].SessionID, "ACTIVE")
	if got := s.status(vip[3].SessionID).Status; got != "WAITING" {
		t.Fatalf("fourth VIP user = %s, want WAITING (capacity 3)", got)
	}
	if got := s.status(e1[1].SessionID).Status; got != "WAITING" {
		t.Fatalf("second E1 user = %s, want WAITING (capacity 1)", got)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := wrctl(t, nil, "version", "--output", "json")
	var v map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v["version"] == "" || v["go"] == "" {
		t.Fatalf("version: exit %d, %q", r.code, r.stdout)
	}
}
