package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/room"
)

func TestAccessTokenOnlyWhileActive(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	h := newHarness(t, "memory", o)
	a := h.join("E1", "A")
	b := h.join("E1", "B")
	if a.AccessToken != "" && a.Status == api.StatusWaiting {
		t.Fatal("token on a WAITING join")
	}
	await.Until(t, 10*time.Second, "A admitted", func() bool { return h.status(a.SessionID).Status == api.StatusActive })
	if s := h.status(b.SessionID); s.Status != api.StatusWaiting || s.AccessToken != "" {
		t.Fatalf("waiting B = %s with token %q", s.Status, s.AccessToken)
	}
	active := h.status(a.SessionID)
	v := accesstoken.NewHS256Verifier(testSecret)
	c, err := v.Verify(context.Background(), active.AccessToken)
	if err != nil {
		t.Fatalf("token of the active session: %v", err)
	}
	if c.SessionID != a.SessionID || c.EventID != "E1" || c.UserID() != "A" {
		t.Fatalf("claims = %+v", c)
	}
	// exp is the session's expiresAt in whole seconds, rounded up: never
	// before the session's own deadline.
	if exp := c.ExpiresAt.Time; exp.Before(*active.ExpiresAt) || exp.Sub(*active.ExpiresAt) >= time.Second {
		t.Fatalf("exp %v, want the session's expiresAt %v rounded up to the second", exp, active.ExpiresAt)
	}
	if _, err := accesstoken.NewHS256Verifier([]byte("wrong-secret-wrong-secret-wrong-secret")).Verify(context.Background(), active.AccessToken); err == nil {
		t.Fatal("token verified with a wrong secret")
	}
	// A heartbeat moves the session's end and with it the token's exp: a
	// longer heartbeat TTL makes the move minutes, not the time elapsed.
	if err := h.Store.PutSettings(context.Background(), "E1", room.Settings{HeartbeatTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if code := h.post(a.SessionID, "heartbeat"); code != http.StatusNoContent {
		t.Fatal(code)
	}
	renewed := h.status(a.SessionID)
	c2, err := v.Verify(context.Background(), renewed.AccessToken)
	if err != nil || c2.ExpiresAt.Sub(c.ExpiresAt.Time) < time.Minute || c2.ExpiresAt.Time.Before(*renewed.ExpiresAt) ||
		c2.ExpiresAt.Time.Sub(*renewed.ExpiresAt) >= time.Second {
		t.Fatalf("exp after heartbeat = %v (was %v), %v", c2.ExpiresAt, c.ExpiresAt, err)
	}
	if h.post(a.SessionID, "leave") != http.StatusNoContent {
		t.Fatal("leave")
	}
	if s := h.status(a.SessionID); s.AccessToken != "" {
		t.Fatal("token after leave")
	}
}

func TestJWKSPublishesTheEd25519Key(t *testing.T) {
	t.Parallel()
	signer, err := accesstoken.GenerateEd25519Signer()
	if err != nil {
		t.Fatal(err)
	}
	o := defaultOptions()
	o.signer = signer
	h := newHarness(t, "memory", o)
	s := h.join("E1", "U1")
	await.Until(t, 10*time.Second, "admitted", func() bool { return h.status(s.SessionID).Status == api.StatusActive })
	tok := h.status(s.SessionID).AccessToken
	v := accesstoken.NewJWKSVerifier(h.URL+api.JWKSPath, nil)
	c, err := v.Verify(context.Background(), tok)
	if err != nil || c.SessionID != s.SessionID {
		t.Fatalf("verify through the JWKS endpoint: %+v, %v", c, err)
	}
	if r := h.do("GET", api.JWKSPath, "", nil); r.Status != http.StatusOK {
		t.Fatalf("JWKS = %d", r.Status)
	}
}

func TestEstimatedWaitIsNullUntilSomeoneIsAdmitted(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	h := newHarness(t, "memory", o)
	first := h.join("E2", "first")
	if first.EstimatedWaitSeconds != nil {
		t.Fatalf("estimate before any admission = %v", *first.EstimatedWaitSeconds)
	}
	await.Until(t, 10*time.Second, "first admitted", func() bool { return h.status(first.SessionID).Status == api.StatusActive })
	second := h.join("E2", "second")
	third := h.join("E2", "third")
	s2, s3 := h.status(second.SessionID), h.status(third.SessionID)
	if s2.EstimatedWaitSeconds == nil || *s2.EstimatedWaitSeconds <= 0 || s3.EstimatedWaitSeconds == nil {
		t.Fatalf("estimates after an admission: %v, %v", s2.EstimatedWaitSeconds, s3.EstimatedWaitSeconds)
	}
	if *s3.EstimatedWaitSeconds <= *s2.EstimatedWaitSeconds {
		t.Fatalf("position 2 waits %v, position 1 %v: the estimate must grow with position", *s3.EstimatedWaitSeconds, *s2.EstimatedWaitSeconds)
	}
}
