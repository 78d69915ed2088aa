package redisstore_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/redistest"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/redisstore"
)

// TestAFlawedStoreWritesALogTheAuditRejects runs the real server on Redis
// with its grant script mutated, once to admit past capacity and once to
// admit the newest first, and checks that the log it publishes is refused
// by the verifier wrctl audit runs, naming the rule broken; the script as
// written, in the same run, gives a log that is proven. The mutation is of
// a package-wide script, so the test is not parallel: parallel tests wait
// until it is over.
func TestAFlawedStoreWritesALogTheAuditRejects(t *testing.T) {
	srv := redistest.New(t)
	for i, tc := range []struct{ name, old, new, want string }{
		{"as written", "", "", ""},
		{"admits past capacity", "if paused or n >= capacity then", "if paused or n >= capacity + 2 then", "over the capacity of 2"},
		{"admits the newest first", "local first = redis.call('ZRANGE', wait, 0, 0)", "local first = redis.call('ZRANGE', wait, -1, -1)", "admitted while ticket 3 was first in line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.old != "" {
				defer redisstore.MutateGrant(tc.old, tc.new)()
			}
			rep := runAndAudit(t, srv.Addr, fmt.Sprintf("flaw%d", i))
			if tc.want == "" {
				if !rep.Proven() || !rep.Signed {
					t.Fatalf("the store as written: %+v, want a signed, proven log", rep)
				}
				return
			}
			if rep.Proven() || !strings.Contains(strings.Join(rep.Violations, "\n"), tc.want) {
				t.Fatalf("violations %q, want one saying %q", rep.Violations, tc.want)
			}
		})
	}
}

// runAndAudit joins six users to a room of two on a server whose store
// uses prefix, lets the first leave, waits for a third admission and
// verifies the event's published log against the server's JWKS.
func runAndAudit(t *testing.T, redisAddr, prefix string) *audit.Report {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Config{
		Addr:     "127.0.0.1:0",
		Redis:    &redisstore.Config{Addrs: []string{redisAddr}, Prefix: prefix},
		Signer:   accesstoken.NewEd25519Signer(priv),
		Granter:  granter.Config{Wait: time.Second},
		Policies: room.StaticPolicies{Default: room.Policy{Capacity: 2, HeartbeatTTL: time.Minute, WaitingTTL: time.Minute, MaxActive: time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, _ := client.New(a.URL(), nil)
	var first string
	for u := 1; u <= 6; u++ {
		s, err := c.Join(ctx, "E", fmt.Sprintf("u%d", u), fmt.Sprintf("k%d", u))
		if err != nil {
			t.Fatal(err)
		}
		if u == 1 {
			first = s.SessionID
		}
	}
	if err := c.Leave(ctx, first); err != nil {
		t.Fatal(err)
	}
	st, err := redisstore.New(ctx, redisstore.Config{Addrs: []string{redisAddr}, Prefix: prefix}, room.StaticPolicies{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	await.Until(t, 10*time.Second, "a third admission", func() bool {
		s, err := st.Stats(ctx, "E")
		return err == nil && s.Admitted >= 3
	})
	jwks, err := c.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.KeysFromJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	log, err := c.Audit(ctx, "E")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	rep, err := audit.Verify(log, audit.Options{Keys: keys})
	if err != nil {
		t.Fatalf("the log does not verify as a chain: %v", err)
	}
	return rep
}
