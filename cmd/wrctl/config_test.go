package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/app"
)

// serveSettings parses serve's flags and loads its settings as the
// command does.
func serveSettings(t *testing.T, args ...string) (app.Settings, error) {
	t.Helper()
	var s app.Settings
	root := newRootCmdWith(newFactory(nil, nil), &s)
	cmd, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := loadKeys(cmd); err != nil {
		return s, err
	}
	return s, loadSettings(cmd, &s)
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wrctl.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsNeedNoConfiguration(t *testing.T) {
	c, err := serveSettings(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Queue != "memory" || c.Store != "memory" || c.Capacity != 100 ||
		c.HeartbeatTTL != 30*time.Second || c.WaitingTTL != time.Minute || c.MaxActive != 15*time.Minute {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestPrecedenceFlagsOverEnvOverFileOverDefaults(t *testing.T) {
	file := writeFile(t, `
server:
  addr: 127.0.0.1:9000
room:
  capacity: 7
  heartbeatTTL: 11s
  waitingTTL: 90s
queue:
  backend: sqs
  name: from-file.fifo
events:
  VIP-Sale:
    capacity: 3
  e2:
    capacity: 9
    newUsersPerMinute: 600
`)
	t.Setenv("WRCTL_ROOM_CAPACITY", "8")
	t.Setenv("WRCTL_ROOM_HEARTBEAT_TTL", "12s")
	t.Setenv("WRCTL_QUEUE_NAME", "from-env.fifo")
	c, err := serveSettings(t, "--config", file, "--capacity", "9", "--region", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats env", c.Capacity, 9},
		{"env beats file", c.HeartbeatTTL, 12 * time.Second},
		{"env beats file (string)", c.QueueName, "from-env.fifo"},
		{"file beats default", c.Addr, "127.0.0.1:9000"},
		{"file beats default (duration)", c.WaitingTTL, 90 * time.Second},
		{"file beats default (backend)", c.Queue, "sqs"},
		{"default", c.MaxActive, 15 * time.Minute},
		{"flag", c.Region, "eu-west-1"},
		{"event ids keep their case", c.Events["VIP-Sale"].Capacity, 3},
		{"second event", c.Events["e2"].Capacity, 9},
		{"an event's rate cap", c.Events["e2"].NewUsersPerMinute, 600},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	p := c.Policies()
	if p.Policy("VIP-Sale").Capacity != 3 || p.Policy("other").Capacity != 9 || p.Policy("e2").NewUsersPerMinute != 600 || p.Policy("VIP-Sale").NewUsersPerMinute != 0 {
		t.Errorf("policies = %+v", p)
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	t.Setenv("WRCTL_CONFIG", writeFile(t, "room:\n  capacity: 42\n"))
	t.Setenv("WRCTL_ROOM_HEARTBEATTTL", "5s") // the unseparated spelling works too
	c, err := serveSettings(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Capacity != 42 || c.HeartbeatTTL != 5*time.Second {
		t.Fatalf("config = %+v", c)
	}
}

func TestInvalidConfigurationNamesTheFlag(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"zero capacity", []string{"--capacity", "0"}, nil, "", "--capacity (room.capacity)"},
		{"sqs without queue", []string{"--queue", "sqs"}, nil, "", "--queue-url"},
		{"unknown queue backend", []string{"--queue", "kafka"}, nil, "", "--queue (queue.backend)"},
		{"unknown store", []string{"--store", "postgres"}, nil, "", "--store (store.backend)"},
		{"negative ttl", []string{"--heartbeat-ttl", "-1s"}, nil, "", "--heartbeat-ttl (room.heartbeatTTL)"},
		{"bad duration in env", nil, map[string]string{"WRCTL_ROOM_WAITING_TTL": "soon"}, "", "--waiting-ttl (room.waitingTTL)"},
		{"bad number in env", nil, map[string]string{"WRCTL_ROOM_CAPACITY": "lots"}, "", "--capacity (room.capacity)"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "", "--log-level"},
		{"event capacity", nil, nil, "events:\n  E1:\n    capacity: 0\n", "events.E1.capacity"},
		{"bad event id", nil, nil, "events:\n  \"E 1\":\n    capacity: 5\n", "events.E 1"},
		{"typo in a key", nil, nil, "room:\n  capcity: 5\n", "room.capcity"},
		{"missing config file", []string{"--config", "/nonexistent/wrctl.yaml"}, nil, "", "--config"},
		{"short token secret", []string{"--token-secret", "short"}, nil, "", "--token-secret (token.secret)"},
		{"two token keys", []string{"--token-secret", "0123456789abcdef0123456789abcdef", "--token-key-file", "/k.pem"}, nil, "", "--token-secret (token.secret)"},
		{"redis store on the memory queue", []string{"--store", "redis"}, nil, "", "--queue (queue.backend)"},
		{"redis address without port", []string{"--store", "redis", "--queue", "sqs", "--queue-name", "q.fifo", "--redis-addr", "redis.internal"}, nil, "", "--redis-addr (store.redis.addr)"},
		{"redis db on a cluster", []string{"--store", "redis", "--queue", "sqs", "--queue-name", "q.fifo", "--redis-addr", "a:1,b:2", "--redis-db", "3"}, nil, "", "--redis-db (store.redis.db)"},
		{"redis prefix with a brace", []string{"--store", "redis", "--queue", "sqs", "--queue-name", "q.fifo", "--redis-prefix", "a{b"}, nil, "", "--redis-prefix (store.redis.prefix)"},
		{"redis CA without TLS", []string{"--store", "redis", "--queue", "sqs", "--queue-name", "q.fifo", "--redis-tls-ca-file", "/ca.pem"}, nil, "", "--redis-tls (store.redis.tls)"},
		{"gate event without an upstream", []string{"--gate-event", "E1"}, nil, "", "--upstream (gate.upstream)"},
		{"upstream that is no URL", []string{"--upstream", "origin:3000", "--gate-event", "E1"}, nil, "", "--upstream (gate.upstream)"},
		{"upstream without an event", []string{"--upstream", "http://127.0.0.1:3000"}, nil, "", "--gate-event (gate.event)"},
		{"gate route without an event", []string{"--upstream", "http://127.0.0.1:3000", "--gate-route", "/shop"}, nil, "", "--gate-route (gate.routes)"},
		{"return origin with a path", []string{"--return-origins", "https://shop.example.com/cart"}, nil, "", "--return-origins (page.returnOrigins)"},
		{"page colour that breaks out of CSS", []string{"--page-color", "red;}body{display:none"}, nil, "", "--page-color (page.color)"},
		{"page template that is not there", []string{"--page-template", "/nonexistent/page.html"}, nil, "", "--page-template (page.template)"},
		{"gate route on an encoded path", []string{"--upstream", "http://127.0.0.1:3000", "--gate-route", "/a/../shop=E1"}, nil, "", "--gate-route (gate.routes)"},
		{"gate exclusion with encoding", []string{"--upstream", "http://127.0.0.1:3000", "--gate-event", "E1", "--gate-exclude", "/static%2f"}, nil, "", "--gate-exclude (gate.exclude)"},
		{"gate recheck too slow", []string{"--upstream", "http://127.0.0.1:3000", "--gate-event", "E1", "--gate-recheck", "5m"}, nil, "", "--gate-recheck (gate.recheck)"},
		{"site URL that is no URL", []string{"--page-site-url", "tickets.example.com"}, nil, "", "--page-site-url (page.siteURL)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := c.args
			if c.file != "" {
				args = append(args, "--config", writeFile(t, c.file))
			}
			_, err := serveSettings(t, args...)
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %q", err, c.want)
			}
			if exitCode(err) != exitUsage {
				t.Fatalf("exit code %d", exitCode(err))
			}
		})
	}
}

func TestEnvNames(t *testing.T) {
	cases := map[string][]string{
		"room.capacity":           {"WRCTL_ROOM_CAPACITY"},
		"room.heartbeatTTL":       {"WRCTL_ROOM_HEARTBEAT_TTL", "WRCTL_ROOM_HEARTBEATTTL"},
		"queue.visibilityTimeout": {"WRCTL_QUEUE_VISIBILITY_TIMEOUT", "WRCTL_QUEUE_VISIBILITYTIMEOUT"},
		"aws.endpoint":            {"WRCTL_AWS_ENDPOINT"},
	}
	for key, want := range cases {
		if got := envNames(key); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("envNames(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestShippedConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("configs: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := serveSettings(t, "--config", f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRedisConfiguration(t *testing.T) {
	file := writeFile(t, `
queue:
  backend: sqs
  name: q.fifo
store:
  backend: redis
  redis:
    addr: [10.0.0.1:6379, 10.0.0.2:6379, 10.0.0.3:6379]
    prefix: room-a
    tls: true
`)
	t.Setenv("WRCTL_STORE_REDIS_PASSWORD", "s3cret")
	c, err := serveSettings(t, "--config", file, "--redis-username", "wrctl")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "redis" || len(c.RedisAddr) != 3 || c.RedisAddr[2] != "10.0.0.3:6379" || c.RedisPrefix != "room-a" || !c.RedisTLS || c.RedisPassword != "s3cret" || c.RedisUsername != "wrctl" {
		t.Fatalf("redis settings = %+v", c)
	}
	c, err = serveSettings(t, "--config", file, "--redis-addr", "a:1, b:2")
	if err != nil || strings.Join(c.RedisAddr, "|") != "a:1|b:2" {
		t.Fatalf("comma-separated --redis-addr = %v, %v", c.RedisAddr, err)
	}
}

func TestEveryCommandRefusesAnUnknownConfigKey(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "client.yaml")
	os.WriteFile(file, []byte("client:\n  servr: http://127.0.0.1:1\n"), 0o600)
	for _, args := range [][]string{
		{"status", "0123456789abcdef0123456789abcdef"},
		{"event", "list"},
		{"top", "--once"},
		{"token", "verify", "x.y.z"},
	} {
		r := wrctl(t, nil, append(args, "--config", file)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "client.servr") {
			t.Errorf("%v with a mistyped key: exit %d %s", args, r.code, r.stderr)
		}
	}
}

// TestListFlagsRepeat: a list flag may be repeated as well as
// comma-separated, as the README's gate example repeats --gate-route.
func TestListFlagsRepeat(t *testing.T) {
	s, err := serveSettings(t, "--upstream", "http://127.0.0.1:3000", "--gate-route", "/tickets=concert-2026",
		"--gate-route", "/merch=merch-drop", "--gate-exclude", "/static/,/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.GateRoutes, []string{"/tickets=concert-2026", "/merch=merch-drop"}) || !slices.Equal(s.GateExclude, []string{"/static/", "/healthz"}) {
		t.Fatalf("routes %q, exclude %q", s.GateRoutes, s.GateExclude)
	}
}
