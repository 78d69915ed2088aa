package usertoken_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wrctl/wrctl/internal/usertoken"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.RegisteredClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSubject(t *testing.T) {
	secret := []byte("site-secret-site-secret-site-secret!")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	hs, _ := usertoken.New(usertoken.Config{Secret: secret, Issuer: "shop", Audience: "wrctl"})
	ed, _ := usertoken.New(usertoken.Config{PublicKey: pub})
	future := jwt.NewNumericDate(time.Now().Add(time.Minute))
	past := jwt.NewNumericDate(time.Now().Add(-time.Minute))
	good := jwt.RegisteredClaims{Subject: "alice", Issuer: "shop", Audience: jwt.ClaimStrings{"wrctl"}, ExpiresAt: future}
	cases := []struct {
		name  string
		v     *usertoken.Verifier
		token string
		want  string
	}{
		{"hs256", hs, sign(t, jwt.SigningMethodHS256, secret, good), "alice"},
		{"eddsa", ed, sign(t, jwt.SigningMethodEdDSA, priv, jwt.RegisteredClaims{Subject: "bob", ExpiresAt: future}), "bob"},
		{"wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-!!!!"), good), ""},
		{"expired", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "alice", Issuer: "shop", Audience: jwt.ClaimStrings{"wrctl"}, ExpiresAt: past}), ""},
		{"no exp", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "alice", Issuer: "shop", Audience: jwt.ClaimStrings{"wrctl"}}), ""},
		{"other issuer", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "alice", Issuer: "evil", Audience: jwt.ClaimStrings{"wrctl"}, ExpiresAt: future}), ""},
		{"alg none refused", hs, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), ""},
		{"hs256 for an eddsa key", ed, sign(t, jwt.SigningMethodHS256, []byte(pub), jwt.RegisteredClaims{Subject: "bob", ExpiresAt: future}), ""},
		{"no sub", ed, sign(t, jwt.SigningMethodEdDSA, priv, jwt.RegisteredClaims{ExpiresAt: future}), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.v.Subject(c.token)
			if c.want == "" {
				if !errors.Is(err, usertoken.ErrInvalid) {
					t.Fatalf("Subject = %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Subject = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := usertoken.New(usertoken.Config{}); err == nil {
		t.Fatal("a verifier without a key")
	}
}
