package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
)

const e2eAdminToken = "e2e-admin-token-0123456789"

func TestEventCommandsChangeTheRoomLive(t *testing.T) {
	t.Parallel()
	s := startServe(t, []string{"WRCTL_ADMIN_TOKEN=" + e2eAdminToken}, "--addr", "127.0.0.1:0", "--capacity", "1") // its logs are checked
	env := []string{"WRCTL_SERVER=" + s.URL}
	admin := append(env, "WRCTL_ADMIN_TOKEN="+e2eAdminToken)
	a := joinJSON(t, env, "OPS", "a", "--wait", "--timeout", "20s")
	b := joinJSON(t, env, "OPS", "b")

	if r := wrctl(t, env, "event", "list"); r.code != exitUsage || !strings.Contains(r.stderr, "--admin-token") {
		t.Fatalf("event list without a token: exit %d %s", r.code, r.stderr)
	}
	if r := wrctl(t, append(env, "WRCTL_ADMIN_TOKEN=wrong-token-wrong"), "event", "get", "OPS"); r.code != exitBadAdmin ||
		!strings.Contains(r.stderr, "WRCTL_ADMIN_TOKEN") || strings.Contains(r.stderr, "--help") {
		t.Fatalf("event get with a wrong token: exit %d %s; want %d and a hint naming WRCTL_ADMIN_TOKEN", r.code, r.stderr, exitBadAdmin)
	}
	if r := wrctl(t, admin, "event", "get", "NEVER"); r.code != exitNotFound || !strings.Contains(r.stderr, "no event NEVER") {
		t.Fatalf("event get of an event the room does not know: exit %d %s; want %d", r.code, r.stderr, exitNotFound)
	}
	if r := wrctl(t, admin, "event", "set", "OPS"); r.code != exitUsage {
		t.Fatalf("event set with nothing to set: exit %d", r.code)
	}
	r := wrctl(t, admin, "event", "set", "OPS", "--capacity", "2", "--output", "json")
	var ev api.AdminEvent
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ev) != nil || ev.Effective.Capacity != 2 {
		t.Fatalf("event set: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	s.waitStatus(b.SessionID, "ACTIVE") // admitted by the raise
	r = wrctl(t, admin, "event", "set", "OPS", "--paused")
	if r.code != 0 || !strings.Contains(r.stdout, "capacity,paused") {
		t.Fatalf("event set --paused: exit %d %s", r.code, r.stdout)
	}
	r = wrctl(t, admin, "event", "set", "OPS", "--new-users-per-minute", "120", "--output", "json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ev) != nil || ev.Effective.NewUsersPerMinute != 120 || ev.Settings.NewUsersPerMinute != 120 || !ev.Effective.Paused {
		t.Fatalf("event set --new-users-per-minute: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = wrctl(t, admin, "event", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "OPS") || !strings.Contains(r.stdout, "live, paused") || !strings.Contains(r.stdout, "120") {
		t.Fatalf("event list: exit %d %s", r.code, r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if len([]rune(line)) > 100 {
			t.Fatalf("event list is wider than 100 columns:\n%s", r.stdout)
		}
	}
	r = wrctl(t, admin, "event", "list", "-o", "wide")
	if r.code != 0 || !strings.Contains(r.stdout, "HEARTBEAT-TTL") || !strings.Contains(r.stdout, "true") || !strings.Contains(r.stdout, "capacity,newUsersPerMinute,paused") {
		t.Fatalf("event list -o wide: exit %d %s", r.code, r.stdout)
	}
	r = wrctl(t, admin, "event", "get", "OPS")
	if r.code != 0 || !regexp.MustCompile(`(?m)^paused +true +\(set for this event\)$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^waitingTTL +\S+$`).MatchString(r.stdout) {
		t.Fatalf("event get: exit %d %s", r.code, r.stdout)
	}
	_ = a

	// The replica's metrics and request logs.
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`wrctl_event_active{event="OPS"} 2`, `wrctl_event_paused{event="OPS"} 1`, `wrctl_joins_total{result="created"} 2`, "wrctl_sqs_requests_total", "wrctl_store_request_duration_seconds"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	requests := 0
	for _, l := range s.logs {
		if l["msg"] == "request" {
			requests++
			if l["request_id"] == nil || l["route"] == nil {
				t.Fatalf("request log without id or route: %v", l)
			}
		}
		if line := fmt.Sprint(l); strings.Contains(line, a.SessionID) || strings.Contains(line, e2eAdminToken) {
			t.Fatalf("a secret in the logs: %v", l)
		}
	}
	if requests == 0 {
		t.Fatal("no request logs at debug level")
	}
}

func TestEventCommandsSayWhenTheAdminAPIIsOff(t *testing.T) {
	t.Parallel()
	s := struct{ URL string }{startApp(t)}
	r := wrctl(t, []string{"WRCTL_SERVER=" + s.URL, "WRCTL_ADMIN_TOKEN=" + e2eAdminToken}, "event", "list")
	if r.code != exitAdminOff || !strings.Contains(r.stderr, "admin API is off") || !strings.Contains(r.stderr, "--admin-token") {
		t.Fatalf("event list against a server without an admin token: exit %d %s", r.code, r.stderr)
	}
}

// TestAnOnSaleScheduledInTheConfigFile: the config file schedules one event
// and sells another out; wrctl event set starts the first at once.
func TestAnOnSaleScheduledInTheConfigFile(t *testing.T) {
	t.Parallel()
	starts := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	file := filepath.Join(t.TempDir(), "wrctl.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf("room:\n  capacity: 2\nevents:\n  SALE:\n    startsAt: %s\n  SOLD:\n    queueingMethod: reject\n    message: Sold out\n",
		starts.Format(time.RFC3339))), 0o600)
	s := startServe(t, []string{"WRCTL_CONFIG=" + file, "WRCTL_ADMIN_TOKEN=" + e2eAdminToken}, "--addr", "127.0.0.1:0")
	env := []string{"WRCTL_SERVER=" + s.URL}
	admin := append(env, "WRCTL_ADMIN_TOKEN="+e2eAdminToken)

	var pre []api.Session
	for i := range 6 {
		sess := joinJSON(t, env, "SALE", fmt.Sprint("u", i))
		if sess.Position != nil || sess.StartsAt == nil || !sess.StartsAt.Equal(starts) {
			t.Fatalf("join before the configured start: position %v startsAt %v", sess.Position, sess.StartsAt)
		}
		pre = append(pre, sess)
	}
	r := wrctl(t, env, "join", "--event", "SOLD", "--user", "x")
	if r.code != exitEnded || !strings.Contains(r.stderr, "Sold out") {
		t.Fatalf("join of a sold-out event: exit %d %s", r.code, r.stderr)
	}
	if r := wrctl(t, admin, "event", "set", "SALE", "--starts-at", "tomorrow"); r.code != exitUsage || !strings.Contains(r.stderr, "--starts-at") {
		t.Fatalf("event set --starts-at tomorrow: exit %d %s", r.code, r.stderr)
	}
	if r := wrctl(t, admin, "event", "set", "SALE", "--queueing-method", "lifo"); r.code != exitUsage || !strings.Contains(r.stderr, "--queueing-method") {
		t.Fatalf("event set --queueing-method lifo: exit %d %s", r.code, r.stderr)
	}
	r = wrctl(t, admin, "event", "set", "SALE", "--starts-at", "now", "--output", "json")
	var ev api.AdminEvent
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ev) != nil || ev.Effective.StartsAt.IsZero() || ev.Effective.StartsAt.After(time.Now()) {
		t.Fatalf("event set --starts-at now: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	// The capacity (2) is admitted from the shuffled pre-queue; the others
	// have positions 1..4.
	for deadline := time.Now().Add(20 * time.Second); ; {
		active, positions := 0, map[int]bool{}
		for _, p := range pre {
			st := s.status(p.SessionID)
			switch {
			case st.Status == "ACTIVE":
				active++
			case st.Position == nil:
				t.Fatalf("%s has no position after the start", p.UserID)
			default:
				positions[*st.Position] = true
			}
		}
		if active == 2 && len(positions) == 4 && positions[1] && positions[4] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the start: %d active, positions %v", active, positions)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	r = wrctl(t, admin, "event", "get", "SALE")
	if r.code != 0 || !strings.Contains(r.stdout, "live") || !strings.Contains(r.stdout, "startsAt") {
		t.Fatalf("event get after the start: exit %d %s", r.code, r.stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("events:\n  SALE:\n    startsAt: tomorrow\n"), 0o600)
	if r := wrctl(t, []string{"WRCTL_CONFIG=" + bad}, "serve", "--addr", "127.0.0.1:0"); r.code != exitUsage || !strings.Contains(r.stderr, "events.SALE.startsAt") {
		t.Fatalf("serve with a bad startsAt: exit %d %s", r.code, r.stderr)
	}
}

// TestServeAsAGateInFrontOfASite: the one command of the README puts the
// real binary in front of a site; a browser-like client (cookies, no
// script) waits, is sent back with its token, and reaches the origin.
func TestServeAsAGateInFrontOfASite(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Site", "1")
		fmt.Fprintf(w, "origin page %s for %s", r.URL.Path, r.Header.Get("X-Wrctl-User-Id"))
	}))
	t.Cleanup(origin.Close)
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "launch-2026", "--capacity", "500")
	body := newVisitor(t, s.URL).admit("/products/7")
	if !strings.HasPrefix(body, "origin page /products/7 for ") || strings.TrimPrefix(body, "origin page /products/7 for ") == "" {
		t.Fatalf("the origin did not serve the page, or did not learn the user: %q", body)
	}
}
