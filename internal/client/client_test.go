package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/app/apptest"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/server"
)

// realServer runs the waiting room on the embedded backends.
func realServer(t *testing.T, capacity int) *client.Client {
	t.Helper()
	a := apptest.Start(t, app.Config{
		Addr:     "127.0.0.1:0",
		Server:   server.Config{PollInterval: 100 * time.Millisecond},
		Granter:  granter.Config{Wait: time.Second},
		Policies: room.StaticPolicies{Default: room.Policy{Capacity: capacity, HeartbeatTTL: time.Minute, WaitingTTL: time.Minute, MaxActive: time.Hour}},
	})
	c, err := client.New(a.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientAgainstARealServer(t *testing.T) {
	t.Parallel()
	c := realServer(t, 1)
	ctx := context.Background()
	a, err := c.Join(ctx, "E1", "A", "")
	if err != nil || a.Status != api.StatusActive || a.AccessToken == "" {
		t.Fatalf("join of an empty room = %+v, %v; want ACTIVE at once", a, err)
	}
	active, err := c.Wait(ctx, a.SessionID, client.WaitOptions{})
	if err != nil || active.Status != api.StatusActive || active.AccessToken == "" {
		t.Fatalf("wait = %+v, %v", active, err)
	}
	b, _ := c.Join(ctx, "E1", "B", "")
	var seen []int64
	waited := make(chan error, 1)
	polled := make(chan struct{}) // B has seen itself waiting: only then does A leave
	var once sync.Once
	go func() {
		s, err := c.Wait(ctx, b.SessionID, client.WaitOptions{Progress: func(s api.Session) {
			if s.Position != nil {
				seen = append(seen, *s.Position)
			}
			once.Do(func() { close(polled) })
		}})
		if err == nil && s.Status != api.StatusActive {
			err = errors.New("not active")
		}
		waited <- err
	}()
	select {
	case <-polled:
	case err := <-waited:
		t.Fatalf("B's wait ended before A left: %v", err)
	}
	if err := c.Heartbeat(ctx, a.SessionID); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(ctx, a.SessionID); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("B's wait: %v", err)
	}
	if len(seen) == 0 || seen[0] != 1 {
		t.Fatalf("progress positions = %v, want to start at 1", seen)
	}
	err = c.Heartbeat(ctx, a.SessionID)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Problem.Code != api.CodeSessionEnded {
		t.Fatalf("heartbeat after leave = %v", err)
	}
	_, _, err = c.Status(ctx, room.NewSessionID())
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Fatalf("status of an unknown id = %v", err)
	}
}

func TestWaitReportsAnEndedSession(t *testing.T) {
	t.Parallel()
	c := realServer(t, 1)
	ctx := context.Background()
	a, _ := c.Join(ctx, "E1", "A", "")
	b, _ := c.Join(ctx, "E1", "B", "")
	if _, err := c.Wait(ctx, a.SessionID, client.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(ctx, b.SessionID); err != nil {
		t.Fatal(err)
	}
	s, err := c.Wait(ctx, b.SessionID, client.WaitOptions{})
	if !errors.Is(err, client.ErrEnded) || s.Status != api.StatusLeft {
		t.Fatalf("wait on a left session = %s, %v", s.Status, err)
	}
}

func TestWaitRidesOutTemporaryErrorsAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1, 2:
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"type":"about:blank","title":"Service Unavailable","status":503}`)
		case 3:
			w.Header().Set("Retry-After", "0")
			io.WriteString(w, `{"sessionId":"s","status":"WAITING","position":1}`)
		default:
			io.WriteString(w, `{"sessionId":"s","status":"ACTIVE","accessToken":"t"}`)
		}
	}))
	defer ts.Close()
	c, _ := client.New(ts.URL, ts.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Wait(ctx, "s", client.WaitOptions{PollInterval: time.Millisecond})
	if err != nil || s.Status != api.StatusActive || calls.Load() != 4 {
		t.Fatalf("wait = %+v, %v after %d calls", s, err, calls.Load())
	}
}

func TestWaitStopsAtItsDeadline(t *testing.T) {
	t.Parallel()
	c := realServer(t, 1)
	ctx := context.Background()
	a, _ := c.Join(ctx, "E1", "A", "")
	if _, err := c.Wait(ctx, a.SessionID, client.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := c.Join(ctx, "E1", "B", "")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(short, b.SessionID, client.WaitOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past its deadline = %v", err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := client.New(u, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func TestUnreachableServerIsANetworkError(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	c, _ := client.New(url, nil)
	_, err := c.Join(context.Background(), "E1", "U1", "")
	var ne *client.NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("join on a closed port = %v, want a NetworkError", err)
	}
}

func TestJoinRetryingSendsTheSameKeyAndStopsOnARealAnswer(t *testing.T) {
	t.Parallel()
	var keys []string
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/problem+json")
		switch {
		case n == 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"type":"about:blank","title":"Service Unavailable","status":503}`)
			return
		case n == 2:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"sessionId":"s","status":"WAITING","position":1}`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"type":"about:blank","title":"Bad Request","status":400}`)
	}))
	defer ts.Close()
	c, _ := client.New(ts.URL, ts.Client())
	s, err := c.JoinRetrying(context.Background(), "E1", "u1", "k-1", 3)
	if err != nil || s.SessionID != "s" || len(keys) != 2 || keys[0] != "k-1" || keys[1] != "k-1" {
		t.Fatalf("join = %+v, %v; keys sent %q", s, err, keys)
	}
	// A refusal is an answer: not tried again.
	var ae *client.APIError
	if _, err := c.JoinRetrying(context.Background(), "E1", "u1", "k-1", 3); !errors.As(err, &ae) || ae.StatusCode != 400 || len(keys) != 3 {
		t.Fatalf("join refused = %v after %d requests", err, len(keys))
	}
}
