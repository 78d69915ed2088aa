package accesstoken_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func claims(expires time.Duration) accesstoken.Claims {
	now := time.Now()
	return accesstoken.NewClaims("5f2b9c", "E1", "U1", now, now.Add(expires))
}

func sign(t *testing.T, s *accesstoken.Signer, c accesstoken.Claims) string {
	t.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tamper rewrites the payload, keeping the signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), `"evt":"E1"`, `"evt":"E2"`, 1)
	if forged == string(payload) {
		t.Fatalf("payload %s has no evt to forge", payload)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	return strings.Join(parts, ".")
}

func TestVerify(t *testing.T) {
	hs, err := accesstoken.NewHS256Signer(secret)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := accesstoken.GenerateEd25519Signer()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := accesstoken.GenerateEd25519Signer()
	hsV := accesstoken.NewHS256Verifier(secret)
	edV := accesstoken.NewEd25519Verifier(ed.PublicKey())
	good := claims(time.Minute)
	cases := []struct {
		name  string
		v     *accesstoken.Verifier
		token string
		ok    bool
	}{
		{"HS256 with the right secret", hsV, sign(t, hs, good), true},
		{"HS256 with a wrong secret", accesstoken.NewHS256Verifier([]byte("another-secret-another-secret-32b")), sign(t, hs, good), false},
		{"HS256 expired", hsV, sign(t, hs, claims(-time.Minute)), false},
		{"HS256 tampered payload", hsV, tamper(t, sign(t, hs, good)), false},
		{"EdDSA with the right key", edV, sign(t, ed, good), true},
		{"EdDSA with a wrong key", edV, sign(t, other, good), false},
		{"EdDSA expired", edV, sign(t, ed, claims(-time.Minute)), false},
		{"EdDSA tampered payload", edV, tamper(t, sign(t, ed, good)), false},
		{"HS256 token to an EdDSA verifier", edV, sign(t, hs, good), false},
		{"garbage", hsV, "not.a.token", false},
		{"audience required but absent", accesstoken.NewHS256Verifier(secret, accesstoken.WithAudience("shop")), sign(t, hs, good), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.v.Verify(context.Background(), c.token)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.SessionID != "5f2b9c" || got.EventID != "E1" || got.UserID() != "U1" || got.Issuer != accesstoken.Issuer {
					t.Fatalf("claims = %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !errors.Is(err, accesstoken.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := accesstoken.NewHS256Signer([]byte("short")); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}

func TestKeysRoundTripThroughPEM(t *testing.T) {
	s, _ := accesstoken.GenerateEd25519Signer()
	pub, err := accesstoken.MarshalPublicKey(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	got, err := accesstoken.ParsePublicKey(pub)
	if err != nil || !got.Equal(s.PublicKey()) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := accesstoken.ParsePrivateKey(pub); err == nil {
		t.Fatal("a public key parsed as a private key")
	}
}

func TestJWKSVerifierFetchesOnceAndRefusesUnpublishedKeys(t *testing.T) {
	first, _ := accesstoken.GenerateEd25519Signer()
	second, _ := accesstoken.GenerateEd25519Signer()
	var current atomic.Pointer[accesstoken.Signer]
	current.Store(first)
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		json.NewEncoder(w).Encode(current.Load().JWKS())
	}))
	defer srv.Close()
	v := accesstoken.NewJWKSVerifier(srv.URL, srv.Client())
	ctx := context.Background()
	for range 3 {
		if _, err := v.Verify(ctx, sign(t, first, claims(time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches for one key, want 1 (cached)", fetches.Load())
	}
	if _, err := v.Verify(ctx, sign(t, second, claims(time.Minute))); err == nil {
		t.Fatal("a key the room does not publish was accepted")
	}
	if jwks := first.JWKS(); len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "OKP" || jwks.Keys[0].Crv != "Ed25519" || jwks.Keys[0].Kid == "" {
		t.Fatalf("JWKS = %+v", jwks)
	}
}

func TestMiddleware(t *testing.T) {
	s, _ := accesstoken.NewHS256Signer(secret)
	v := accesstoken.NewHS256Verifier(secret)
	h := accesstoken.Middleware(v, accesstoken.RequireEvent("E1"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := accesstoken.FromContext(r.Context())
		if !ok {
			t.Error("no claims in the context")
		}
		w.Write([]byte(c.UserID()))
	}))
	good := sign(t, s, claims(time.Minute))
	otherEvent := claims(time.Minute)
	otherEvent.EventID = "E2"
	cases := []struct {
		name   string
		header string
		cookie string
		status int
		body   string
	}{
		{"no token", "", "", http.StatusUnauthorized, ""},
		{"bearer", "Bearer " + good, "", http.StatusOK, "U1"},
		{"lower-case scheme", "bearer " + good, "", http.StatusOK, "U1"},
		{"cookie", "", good, http.StatusOK, "U1"},
		{"expired", "Bearer " + sign(t, s, claims(-time.Minute)), "", http.StatusUnauthorized, ""},
		{"tampered", "Bearer " + tamper(t, good), "", http.StatusUnauthorized, ""},
		{"another event", "Bearer " + sign(t, s, otherEvent), "", http.StatusForbidden, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/checkout", nil)
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			if c.cookie != "" {
				req.AddCookie(&http.Cookie{Name: accesstoken.DefaultCookie, Value: c.cookie})
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if c.status == http.StatusOK {
				if rec.Body.String() != c.body {
					t.Fatalf("body %q", rec.Body)
				}
				return
			}
			if rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("refusal headers = %v", rec.Header())
			}
		})
	}
}

func ExampleMiddleware() {
	verifier := accesstoken.NewJWKSVerifier("https://room.example.com/.well-known/jwks.json", nil)
	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := accesstoken.FromContext(r.Context())
		w.Write([]byte("welcome, " + claims.UserID()))
	})
	http.Handle("/checkout", accesstoken.Middleware(verifier, accesstoken.RequireEvent("launch-2026"))(checkout))
}
