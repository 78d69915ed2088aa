package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wrctl/wrctl/internal/api"
)

// fuzzRequest sends one request and checks the API's promise for bad
// input: a 4xx or a success, never a 5xx, and every error a problem body.
func fuzzRequest(t *testing.T, h *harness, method, path, body string, hdr map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, h.URL+path, strings.NewReader(body))
	if err != nil {
		return 0 // not a request a client could send
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatalf("%s %q: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%s %q %q: %d %s", method, path, body, resp.StatusCode, b)
	}
	if resp.StatusCode >= 400 {
		var p api.Problem
		if resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil || p.Status != resp.StatusCode {
			t.Fatalf("%s %q %q: %d without a problem body: %s", method, path, body, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

func FuzzJoinBody(f *testing.F) {
	for _, seed := range []string{
		`{"eventId":"E1","userId":"U1"}`, `{"EVENTID":"E1","userId":"U1"}`, `{"eventId":"E1","eventId":"E2","userId":"U"}`,
		`{"eventId":"ü","userId":"U"}`, `{"eventId":1,"userId":"U"}`, `[]`, `{`, `null`, `{"eventId":"E","userId":"U"} {}`,
		`{"eventId":"` + strings.Repeat("a", 65) + `","userId":"U"}`, `{"eventId":"E","userId":"U","x":1}`,
	} {
		f.Add(seed, "k1")
	}
	o := defaultOptions()
	o.noGranter = true
	h := newHarness(f, "memory", o)
	f.Fuzz(func(t *testing.T, body, key string) {
		if strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return // no HTTP client can send it
		}
		code := fuzzRequest(t, h, "POST", api.SessionsPath, body, map[string]string{"Content-Type": "application/json", "Idempotency-Key": key})
		if code == http.StatusAccepted {
			var in struct{ EventID, UserID string }
			dec := json.NewDecoder(bytes.NewReader([]byte(body)))
			if dec.Decode(&in) != nil || in.EventID == "" || in.UserID == "" {
				t.Fatalf("accepted a join that does not name an event and a user: %q", body)
			}
		}
	})
}

func FuzzSessionPath(f *testing.F) {
	for _, seed := range []string{
		"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef:leave", "0123456789abcdef0123456789abcdef:heartbeat",
		"x:leave", ":", "0123456789abcdef0123456789abcdef:", "%00", "a:b:c", "0123456789ABCDEF0123456789ABCDEF",
	} {
		f.Add("GET", seed)
		f.Add("POST", seed)
	}
	o := defaultOptions()
	o.noGranter = true
	h := newHarness(f, "memory", o)
	f.Fuzz(func(t *testing.T, method, seg string) {
		if method != "GET" && method != "POST" && method != "DELETE" && method != "PUT" {
			return
		}
		fuzzRequest(t, h, method, api.SessionsPath+"/"+seg, "", nil)
	})
}

func FuzzAdminSettingsBody(f *testing.F) {
	for _, seed := range []string{
		`{"capacity":2}`, `{"waitingTTL":"2s"}`, `{"waitingTTL":"3s"}`, `{"heartbeatTTL":"-1s"}`, `{"capacity":-1}`,
		`{"Capacity":2}`, `{"capacity":2,"capacity":3}`, `{"paused":"yes"}`, `{"maxActive":"1h","maxWaiting":10}`, `{}`,
	} {
		f.Add(seed)
	}
	o := defaultOptions()
	o.noGranter = true
	o.server.AdminToken = adminToken
	h := newHarness(f, "memory", o)
	f.Fuzz(func(t *testing.T, body string) {
		code := fuzzRequest(t, h, "PUT", api.AdminEventsPath+"/FUZZ", body, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + adminToken})
		if code == http.StatusOK && strings.Contains(body, `"waitingTTL":"2s"`) {
			t.Fatalf("a waiting TTL of 2s was accepted: %q", body)
		}
	})
}
