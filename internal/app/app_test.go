package app_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/room"
)

// TestAppAdmitsOnTheEmbeddedBackends runs a whole room in process on a
// free port: a join admitted at once, one admitted through the granter;
// then a clean stop.
func TestAppAdmitsOnTheEmbeddedBackends(t *testing.T) {
	var decisions int
	a, err := app.New(context.Background(), app.Config{
		Addr:       "127.0.0.1:0",
		Granter:    granter.Config{Wait: time.Second},
		Policies:   room.StaticPolicies{Default: room.Policy{Capacity: 1, HeartbeatTTL: time.Minute, WaitingTTL: time.Minute, MaxActive: time.Hour}},
		OnDecision: func(granter.Decision) { decisions++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	c, _ := client.New(a.URL(), nil)
	// The empty room admits the first join at once; the second waits for
	// the granter, which admits it once the first leaves.
	first, err := c.Join(ctx, "E1", "first", "k1")
	if err != nil || first.Status != "ACTIVE" || first.AccessToken == "" {
		t.Fatalf("join of an empty room = %+v, %v; want ACTIVE with a token", first, err)
	}
	s, err := c.Join(ctx, "E1", "u", "k")
	if err != nil || s.Status != "WAITING" {
		t.Fatalf("join of a full room = %+v, %v", s, err)
	}
	if err := c.Leave(ctx, first.SessionID); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if s, err = c.Wait(wctx, s.SessionID, client.WaitOptions{}); err != nil || s.AccessToken == "" {
		t.Fatalf("wait = %+v, %v", s, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
	if decisions != 1 {
		t.Fatalf("OnDecision heard %d decisions, want 1", decisions)
	}
	if _, err := http.Get(a.URL() + "/healthz"); err == nil {
		t.Fatal("the app still answers after Run returned")
	}
}

func TestAppRefusesAnAddressInUse(t *testing.T) {
	a, err := app.New(context.Background(), app.Config{Addr: "127.0.0.1:0", NoGranter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := app.New(context.Background(), app.Config{Addr: a.Addr(), NoGranter: true}); !errors.Is(err, app.ErrListen) {
		t.Fatalf("second app on %s: %v, want ErrListen", a.Addr(), err)
	}
}

// TestStoppingAnswersHeldStatusRequests: a status request held for a
// change when the server stops is answered (200, WAITING) rather than cut
// off when the drain times out.
func TestStoppingAnswersHeldStatusRequests(t *testing.T) {
	a, err := app.New(context.Background(), app.Config{
		Addr:     "127.0.0.1:0",
		Policies: room.StaticPolicies{Default: room.Policy{Capacity: 1, HeartbeatTTL: time.Minute, WaitingTTL: time.Minute, MaxActive: time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	c, _ := client.New(a.URL(), nil)
	if _, err := c.Join(ctx, "E1", "first", "k1"); err != nil {
		t.Fatal(err)
	}
	s, err := c.Join(ctx, "E1", "second", "k2")
	if err != nil || s.Status != "WAITING" {
		t.Fatalf("join of a full room = %+v, %v", s, err)
	}
	type answer struct {
		s    api.Session
		held bool
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		s, _, held, err := c.StatusHeld(context.Background(), s.SessionID, 30*time.Second)
		got <- answer{s, held, err}
	}()
	await.Until(t, 10*time.Second, "the status request held", func() bool { return heldRequests(t, a.URL()) == 1 })
	cancel()
	r := <-got
	if r.err != nil || !r.held || r.s.Status != "WAITING" {
		t.Fatalf("held request at shutdown = %+v held %v, %v; want 200 WAITING", r.s, r.held, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
}

func heldRequests(t *testing.T, base string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _, err := loadgen.SumMetric(resp.Body, "wrctl_status_requests_held")
	if err != nil {
		t.Fatal(err)
	}
	return n
}
