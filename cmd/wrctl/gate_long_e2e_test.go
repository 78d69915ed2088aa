package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/redistest"
)

// echo is the site's WebSocket: it sends back what it is sent.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	for {
		typ, b, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, b); err != nil {
			return
		}
	}
}

// sse reads a server-sent event stream, counting its events, until it
// ends; ended is closed then.
type sse struct {
	events atomic.Int64
	ended  chan struct{}
}

func openSSE(t *testing.T, c *http.Client, url string, hdr http.Header) *sse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Site") != "1" {
		resp.Body.Close()
		t.Fatalf("%s: %d, not the site's stream", url, resp.StatusCode)
	}
	s := &sse{ended: make(chan struct{})}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.ended)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				s.events.Add(1)
			}
		}
	}()
	return s
}

// TestLongRequestsAreTheSitesNotTheAPIs: streams and a WebSocket through
// the gate outlast the API's deadlines (a minute here); three long
// streams on an unguarded path do not take the API's places
// (--max-concurrent-requests 3), so joins and the page still answer; an
// admitted user's WebSocket and stream keep its session alive with no
// other request (heartbeat TTL 4s), and close within a second once it
// leaves, when its requests stop passing too.
func TestLongRequestsAreTheSitesNotTheAPIs(t *testing.T) {
	t.Parallel()
	origin := newSite(t, false, nil, "/public/")
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "SHOP",
		"--gate-exclude", "/public/", "--max-concurrent-requests", "3", "--heartbeat-ttl", "4s")
	open := []*sse{}
	for range 3 {
		open = append(open, openSSE(t, http.DefaultClient, s.URL+"/public/events", nil))
	}
	await.Until(t, 10*time.Second, "three open streams flowing", func() bool {
		for _, o := range open {
			if o.events.Load() < 2 {
				return false
			}
		}
		return true
	})
	// The API and the page still answer while they are open.
	joined := s.join("SHOP", "api-user")
	if joined.SessionID == "" {
		t.Fatal("no session from a join while streams are open")
	}
	v := newVisitor(t, s.URL)
	v.admit("/")
	tok := v.cookie("wrctl_token")
	sid, _, _ := strings.Cut(v.cookie("wrctl_s"), ".")

	// The admitted user opens a stream and a WebSocket, and nothing else.
	mine := openSSE(t, http.DefaultClient, s.URL+"/events", http.Header{"Cookie": {"wrctl_token=" + tok}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.URL, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"wrctl_token=" + tok}}})
	if err != nil {
		t.Fatalf("a WebSocket through the gate: %v", err)
	}
	defer ws.CloseNow()
	start := time.Now()
	for i := 0; time.Since(start) < 62*time.Second; i++ {
		msg := []byte{byte(i)}
		if err := ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatalf("the WebSocket was cut after %s: %v", time.Since(start).Round(time.Second), err)
		}
		if _, got, err := ws.Read(ctx); err != nil || got[0] != msg[0] {
			t.Fatalf("the WebSocket was cut after %s: %v", time.Since(start).Round(time.Second), err)
		}
		select {
		case <-mine.ended:
			t.Fatalf("the admitted stream was cut after %s", time.Since(start).Round(time.Second))
		case <-time.After(time.Second): // the pace of the conversation
		}
	}
	for i, o := range append(open, mine) {
		select {
		case <-o.ended:
			t.Fatalf("stream %d ended within a minute", i)
		default:
		}
	}
	if st := s.status(sid); st.Status != "ACTIVE" {
		t.Fatalf("after a minute on a WebSocket and a stream alone (heartbeat TTL 4s) the session is %s", st.Status)
	}

	// It leaves: its stream and WebSocket close, its requests stop passing.
	resp, err := http.Post(s.URL+"/api/waiting-room/sessions/"+sid+":leave", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("leave: %v %v", resp, err)
	}
	resp.Body.Close()
	left := time.Now()
	select {
	case <-mine.ended:
	case <-time.After(time.Second):
		t.Fatal("the stream of a session that left is still open after a second")
	}
	rctx, rcancel := context.WithTimeout(ctx, time.Second)
	defer rcancel()
	if _, _, err := ws.Read(rctx); err == nil || rctx.Err() != nil {
		t.Fatalf("the WebSocket of a session that left is still open after %s: %v", time.Since(left), err)
	}
	// Its next page visit takes a new place (let in at once: the room is
	// empty); the session that left passes no more.
	resp, _ = v.get("/")
	if now, _, _ := strings.Cut(v.cookie("wrctl_s"), "."); resp.Header.Get("X-Site") == "1" && now == sid {
		t.Fatal("a session that left still passes the gate")
	}
}

// TestAStreamOutlivesASlowRecheck: a session whose user only holds a
// WebSocket is heartbeated when its heartbeat is due, however long the
// operator set gate.recheck (1m here against a 4s heartbeat TTL).
func TestAStreamOutlivesASlowRecheck(t *testing.T) {
	t.Parallel()
	origin := newSite(t, false, nil)
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "SHOP",
		"--gate-recheck", "1m", "--heartbeat-ttl", "4s")
	v := newVisitor(t, s.URL)
	v.admit("/")
	sid, _, _ := strings.Cut(v.cookie("wrctl_s"), ".")
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.URL, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"wrctl_token=" + v.cookie("wrctl_token")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for start := time.Now(); time.Since(start) < 12*time.Second; {
		if err := ws.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatalf("the WebSocket was cut after %s: %v", time.Since(start).Round(time.Second), err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatalf("the WebSocket was cut after %s: %v", time.Since(start).Round(time.Second), err)
		}
		time.Sleep(time.Second) // the pace of the conversation
	}
	if st := s.status(sid); st.Status != "ACTIVE" {
		t.Fatalf("after 12s on a WebSocket alone (heartbeat TTL 4s, recheck 1m) the session is %s", st.Status)
	}
}

// TestAnEndedSessionStopsPassingWithinASecond: a session the store ends
// on its own (maxActive) stops passing within the gate's recheck (1s),
// however fast its user browses; its WebSocket closes too.
func TestAnEndedSessionStopsPassingWithinASecond(t *testing.T) {
	t.Parallel()
	origin := newSite(t, false, nil)
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "SHOP", "--max-active", "3s")
	v := newVisitor(t, s.URL)
	v.admit("/")
	sid, _, _ := strings.Cut(v.cookie("wrctl_s"), ".")
	var activated time.Time
	{
		resp, err := http.Get(s.URL + "/api/waiting-room/sessions/" + sid)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ ActivatedAt time.Time }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &st); err != nil || st.ActivatedAt.IsZero() {
			t.Fatalf("no activation time: %s", b)
		}
		activated = st.ActivatedAt
	}
	ws, _, err := websocket.Dial(context.Background(), strings.Replace(s.URL, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"wrctl_token=" + v.cookie("wrctl_token")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsClosed := make(chan time.Time, 1)
	go func() {
		ws.Read(context.Background())
		wsClosed <- time.Now()
	}()
	var refused time.Time
	for refused.IsZero() {
		if time.Since(activated) > 10*time.Second {
			t.Fatal("the session still passes 10s after its maxActive of 3s")
		}
		// Refused, or (the room being empty) let in again at once on a new
		// session: either way the ended one no longer passes.
		resp, _ := v.get("/")
		if now, _, _ := strings.Cut(v.cookie("wrctl_s"), "."); resp.Header.Get("X-Site") != "1" || now != sid {
			refused = time.Now()
		}
		time.Sleep(50 * time.Millisecond) // a fast browser's pace
	}
	// Ends at activation + 3s; passes at most a recheck (1s) longer, with
	// room for the store's own clock and the request in flight.
	late := refused.Sub(activated) - 3*time.Second
	if late > 1500*time.Millisecond {
		t.Fatalf("the ended session passed for %s after its end", late)
	}
	t.Logf("the ended session stopped passing %s after its end", late.Round(time.Millisecond))
	select {
	case at := <-wsClosed:
		if late := at.Sub(activated) - 3*time.Second; late > 1500*time.Millisecond {
			t.Fatalf("the WebSocket of the ended session closed %s after its end", late)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the WebSocket of an ended session is still open")
	}
}

// TestATokenOutlivesAnUnreachableStore: with Redis killed, an admitted
// user keeps passing on its verified token until the token's own expiry,
// and no new token is minted; then the gate lets it through no more.
func TestATokenOutlivesAnUnreachableStore(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	queueURL := createQueue(t, uniqueQueue("e2e-gate-store"))["queueUrl"].(string)
	origin := newSite(t, false, nil)
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "SHOP",
		"--store", "redis", "--redis-addr", rs.Addr, "--queue", "sqs", "--queue-url", queueURL, "--sqs-endpoint", emu.URL,
		"--heartbeat-ttl", "4s", "--token-secret", strings.Repeat("s", 32))
	v := newVisitor(t, s.URL)
	v.admit("/")
	if resp, _ := v.get("/page"); resp.Header.Get("X-Site") != "1" {
		t.Fatal("not let through with the store up")
	}
	tok := v.cookie("wrctl_token")
	exp := tokenExpiry(t, tok)
	rs.Stop()
	for {
		resp, _ := v.get("/page")
		if has(resp.Header, "Set-Cookie", "wrctl_token=") {
			t.Fatal("a token was minted while the store is out of reach")
		}
		if resp.Header.Get("X-Site") != "1" {
			if now := time.Now(); now.Before(exp.Add(-500 * time.Millisecond)) {
				t.Fatalf("refused %s before its token expired, with the store out of reach", exp.Sub(now))
			}
			break
		}
		if time.Now().After(exp.Add(2 * time.Second)) {
			t.Fatal("an expired token still passes the gate")
		}
		time.Sleep(100 * time.Millisecond) // a browser's pace
	}
	if v.cookie("wrctl_token") != tok {
		t.Fatal("the browser was given another token while the store was out of reach")
	}
}

// tokenExpiry reads a JWT's exp without verifying it.
func tokenExpiry(t *testing.T, tok string) time.Time {
	t.Helper()
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil || c.ExpiresAt == nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	return c.ExpiresAt.Time
}
