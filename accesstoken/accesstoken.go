// Package accesstoken issues and verifies the access tokens of a wrctl
// waiting room: short-lived JWTs handed to a user once admitted, which the
// protected site checks without calling the waiting room back.
//
// A protected site wraps its handlers:
//
//	v, err := accesstoken.NewJWKSVerifier("https://room.example.com/.well-known/jwks.json", nil)
//	...
//	http.Handle("/checkout", accesstoken.Middleware(v, accesstoken.RequireEvent("launch-2026"))(checkout))
//
// and reads the admitted user in the handler with FromContext.
package accesstoken

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss claim of every wrctl token.
const Issuer = "wrctl"

// Claims are a token's claims: the standard ones (sub is the user id, exp
// the end of the session's admission as of the token's issue) and the
// session and event it admits.
type Claims struct {
	SessionID string `json:"sid"`
	EventID   string `json:"evt"`
	// Verified says the sub was proven by a user token the site signed;
	// without it, sub is the client's own claim (or, for a browser that
	// joined at the gate, a pseudonym the waiting room made).
	Verified bool `json:"uvf,omitempty"`
	jwt.RegisteredClaims
}

// UserID returns the admitted user: the sub claim.
func (c *Claims) UserID() string { return c.Subject }

// MinSecretLen is the shortest HS256 secret accepted (256 bits).
const MinSecretLen = 32

// Signer signs tokens with one key.
type Signer struct {
	method jwt.SigningMethod
	key    any
	kid    string
	pub    ed25519.PublicKey
}

// NewHS256Signer signs with a shared secret of at least MinSecretLen bytes.
func NewHS256Signer(secret []byte) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("HS256 secret must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	return &Signer{method: jwt.SigningMethodHS256, key: secret}, nil
}

// NewEd25519Signer signs with an Ed25519 private key; its public key is
// published as a JWK set.
func NewEd25519Signer(priv ed25519.PrivateKey) *Signer {
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{method: jwt.SigningMethodEdDSA, key: priv, kid: KeyID(pub), pub: pub}
}

// GenerateEd25519Signer signs with a new random key.
func GenerateEd25519Signer() (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	return NewEd25519Signer(priv), nil
}

// Algorithm is the JWS alg the signer uses: HS256 or EdDSA.
func (s *Signer) Algorithm() string { return s.method.Alg() }

// PrivateKey returns the Ed25519 private key, or nil for HS256.
func (s *Signer) PrivateKey() ed25519.PrivateKey {
	k, _ := s.key.(ed25519.PrivateKey)
	return k
}

// PublicKey returns the Ed25519 public key, or nil for HS256.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// KeyID is the id of the Ed25519 key in the JWKS, "" for HS256.
func (s *Signer) KeyID() string { return s.kid }

// DeriveKey derives a key for another use of the signer's secret (an
// HMAC-SHA256 of label under the HS256 secret or the Ed25519 seed): every
// replica sharing the token key derives the same one, and it reveals
// nothing of the key.
func (s *Signer) DeriveKey(label string) []byte {
	var secret []byte
	switch k := s.key.(type) {
	case []byte:
		secret = k
	case ed25519.PrivateKey:
		secret = k.Seed()
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("wrctl derived key\x00" + label))
	return m.Sum(nil)
}

// Sign returns the signed token for c; the issuer is set to Issuer.
func (s *Signer) Sign(c Claims) (string, error) {
	c.Issuer = Issuer
	t := jwt.NewWithClaims(s.method, c)
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	return t.SignedString(s.key)
}

// JWK is one JSON Web Key (RFC 8037 OKP for Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns the public keys to publish: none for a shared secret.
func (s *Signer) JWKS() JWKS {
	if s.pub == nil {
		return JWKS{Keys: []JWK{}}
	}
	return JWKS{Keys: []JWK{{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(s.pub), Kid: s.kid, Alg: "EdDSA", Use: "sig"}}}
}

// KeyID derives a key id from a public key: the first 16 characters of its
// base64url SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}

// ParsePrivateKey reads a PEM "PRIVATE KEY" (PKCS #8) Ed25519 key, as
// `openssl genpkey -algorithm ed25519` writes it.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want Ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey reads a PEM "PUBLIC KEY" (PKIX) Ed25519 key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want Ed25519", k)
	}
	return pub, nil
}

// MarshalPrivateKey writes an Ed25519 key as PEM PKCS #8.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey writes an Ed25519 public key as PEM PKIX.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ceilSecond rounds t up to a whole second.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// NewClaims returns the claims for an admitted session whose admission ends
// at expires.
func NewClaims(sessionID, eventID, userID string, now, expires time.Time) Claims {
	return Claims{
		SessionID: sessionID,
		EventID:   eventID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
			// exp is in whole seconds: rounded up, so a token never
			// expires before the session's deadline it carries (the room
			// would otherwise hand out a token that is already expired
			// for up to a second of a session's life).
			ExpiresAt: jwt.NewNumericDate(ceilSecond(expires)),
		},
	}
}
