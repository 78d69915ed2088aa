package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/app"
)

// capture runs cmd with args and returns what reached its run, or the
// error that stopped it first.
func capture[O any](t *testing.T, build func(*factory, func(context.Context, *O) error) *cobra.Command, args ...string) (*O, error) {
	t.Helper()
	f, _ := testFactory(t0)
	var got *O
	cmd := build(f, func(_ context.Context, o *O) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(f.Out)
	cmd.SetErr(f.ErrOut)
	err := cmd.Execute()
	if err != nil && got != nil {
		t.Fatalf("%v: ran and failed", args)
	}
	return got, err
}

// TestCommandsFillTheirOptions: each command's flags and arguments land
// in its options, checked before anything runs; no binary is built.
func TestCommandsFillTheirOptions(t *testing.T) {
	j, err := capture(t, newJoinCmd, "--event", "E1", "--user", "u1", "--idempotency-key", "k1", "--wait", "--timeout", "30s", "-o", "token", "--server", "http://room:9")
	if err != nil || j.Event != "E1" || j.User != "u1" || j.Key != "k1" || !j.Wait.Wait || j.Wait.Timeout != 30*time.Second || j.Format != "token" || j.Server != "http://room:9" {
		t.Fatalf("join: %+v, %v", j, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "u1"}, "--event is required"},
		{[]string{"--event", "E 1", "--user", "u1"}, `--event "E 1"`},
		{[]string{"--event", "E1", "--user", "u1", "--timeout", "-1s"}, "--timeout must not be negative"},
		{[]string{"--event", "E1", "--user", "u1", "-o", "yaml"}, "--output must be text, json or token"},
	} {
		if _, err := capture(t, newJoinCmd, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("join %v: %v, want %q", c.args, err, c.want)
		}
	}
	id := strings.Repeat("ab", 16)
	if s, err := capture(t, newStatusCmd, id, "--wait", "--poll-interval", "2s"); err != nil || s.SessionID != id || !s.Wait.Wait || s.Wait.PollInterval != 2*time.Second {
		t.Fatalf("status: %+v, %v", s, err)
	}
	if _, err := capture(t, newStatusCmd, "not-an-id"); err == nil || !strings.Contains(err.Error(), "32 hex characters") {
		t.Fatalf("status of a bad id: %v", err)
	}
	if l, err := capture(t, newLeaveCmd, id, "-o", "json"); err != nil || l.SessionID != id || l.What != "left" || l.Format != "json" {
		t.Fatalf("leave: %+v, %v", l, err)
	}
	if v, err := capture(t, newTokenVerifyCmd, "eyJ.x.y", "--secret", "s", "--event", "E1"); err != nil || v.Token != "eyJ.x.y" || v.secret != "s" || v.event != "E1" {
		t.Fatalf("token verify: %+v, %v", v, err)
	}
	if q, err := capture(t, newQueueCreateCmd, "--name", "q.fifo", "--max-receive-count", "20"); err != nil || q.Name != "q.fifo" || !q.FIFO || q.MaxReceiveCount != 20 {
		t.Fatalf("queue create: %+v, %v", q, err)
	}
	if _, err := capture(t, newQueueCreateCmd, "--name", "q.fifo", "--max-receive-count", "1"); err == nil {
		t.Fatal("queue create with a max receive count of 1 ran")
	}
	if l, err := capture(t, newLoadCmd, "--users", "10", "--rate", "5", "--threshold", "join_p99<1s", "--max-errors", "2"); err != nil ||
		l.scenario.Users != 10 || len(l.report.parsed) != 1 || !l.report.maxErrorsSet || l.report.maxErrors != 2 {
		t.Fatalf("load: %+v, %v", l, err)
	}
	if _, err := capture(t, newLoadCmd, "--users", "10", "--rate", "5", "--threshold", "join_p99<<1s"); err == nil || !strings.Contains(err.Error(), "--threshold") {
		t.Fatalf("load with a bad threshold: %v", err)
	}
	if o, err := capture(t, newTopCmd, "--once", "-o", "json", "--admin-token", "admin-token-0123456789"); err != nil || !o.once || o.AdminToken == "" {
		t.Fatalf("top: %+v, %v", o, err)
	}
	if _, err := capture(t, newTopCmd, "-o", "json"); err == nil || !strings.Contains(err.Error(), "--output json needs --once") {
		t.Fatalf("top -o json without --once: %v", err)
	}
	serve := func(f *factory, runF func(context.Context, *serveOptions) error) *cobra.Command {
		return newServeCmd(f, &app.Settings{}, runF)
	}
	if o, err := capture(t, serve, "--addr", "127.0.0.1:0", "--capacity", "7"); err != nil || o.Settings.Capacity != 7 || o.Settings.HeartbeatTTL != 30*time.Second {
		t.Fatalf("serve: %+v, %v", o, err)
	}
	if _, err := capture(t, serve, "--capacity", "0"); err == nil || !strings.Contains(err.Error(), "--capacity (room.capacity)") {
		t.Fatalf("serve --capacity 0: %v", err)
	}
}

// TestJoinAndStatusRunAgainstARealRoom runs join's and status's runs on
// a room in this process, with the output in a buffer.
func TestJoinAndStatusRunAgainstARealRoom(t *testing.T) {
	base := startApp(t)
	f, out := testFactory(t0)
	j := &joinOptions{Event: "E1", User: "u1", Key: "my-key"}
	j.IO, j.Server, j.Format = f, base, "json"
	j.Client = (&clientOptions{Server: base}).client
	if err := joinRun(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	var joined struct {
		api.Session
		IdempotencyKey string `json:"idempotencyKey"`
	}
	if err := json.Unmarshal(out.Bytes(), &joined); err != nil || joined.Status != "ACTIVE" || joined.IdempotencyKey != "my-key" {
		t.Fatalf("join printed %s (%v)", out, err)
	}
	out.Reset()
	s := &statusOptions{SessionID: joined.SessionID}
	s.IO, s.Format, s.Client = f, "text", j.Client
	if err := statusRun(context.Background(), s); err != nil || !strings.Contains(out.String(), "status    ACTIVE") {
		t.Fatalf("status printed %s (%v)", out, err)
	}
}
