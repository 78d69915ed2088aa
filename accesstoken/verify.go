package accesstoken

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid access token")

// Verifier checks tokens.
type Verifier struct {
	alg      string
	key      func(ctx context.Context, kid string) (any, error)
	audience string
	leeway   time.Duration
}

// Option tunes a Verifier.
type Option func(*Verifier)

// WithAudience requires the aud claim to hold aud.
func WithAudience(aud string) Option { return func(v *Verifier) { v.audience = aud } }

// WithLeeway tolerates this much clock skew on exp and nbf. Default 5s.
func WithLeeway(d time.Duration) Option { return func(v *Verifier) { v.leeway = d } }

func newVerifier(alg string, key func(context.Context, string) (any, error), opts []Option) *Verifier {
	v := &Verifier{alg: alg, key: key, leeway: 5 * time.Second}
	for _, o := range opts {
		o(v)
	}
	return v
}

// NewHS256Verifier verifies tokens signed with a shared secret.
func NewHS256Verifier(secret []byte, opts ...Option) *Verifier {
	return newVerifier("HS256", func(context.Context, string) (any, error) { return secret, nil }, opts)
}

// NewEd25519Verifier verifies tokens signed with the private half of pub.
func NewEd25519Verifier(pub ed25519.PublicKey, opts ...Option) *Verifier {
	return newVerifier("EdDSA", func(context.Context, string) (any, error) { return pub, nil }, opts)
}

// NewJWKSVerifier verifies tokens against the waiting room's published keys
// at url (https://ROOM/.well-known/jwks.json). Keys are fetched on first use
// and again when a token names a key not yet known (at most once a minute),
// so a new key is picked up without a restart. client nil means a client
// with a 10s timeout.
func NewJWKSVerifier(url string, client *http.Client, opts ...Option) *Verifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ks := &remoteKeys{url: url, client: client}
	return newVerifier("EdDSA", ks.key, opts)
}

// Algorithm returns the alg a token's header names, without verifying
// anything: for telling a user which key a token needs.
func Algorithm(token string) string {
	t, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil || t.Method == nil {
		return ""
	}
	return t.Method.Alg()
}

// Alg returns the signing algorithm the verifier accepts (HS256 or EdDSA).
func (v *Verifier) Alg() string { return v.alg }

// Verify checks the signature, the issuer, exp and nbf (and the audience if
// required) and returns the claims.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{v.alg}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	var c Claims
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return v.key(ctx, kid)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.SessionID == "" || c.EventID == "" || c.Subject == "" {
		return nil, fmt.Errorf("%w: missing sid, evt or sub", ErrInvalid)
	}
	return &c, nil
}

// remoteKeys caches a JWK set fetched over HTTP.
type remoteKeys struct {
	url     string
	client  *http.Client
	mu      sync.Mutex
	keys    map[string]ed25519.PublicKey
	fetched time.Time
}

func (r *remoteKeys) key(ctx context.Context, kid string) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	if r.keys == nil || time.Since(r.fetched) > time.Minute {
		if err := r.fetch(ctx); err != nil {
			return nil, err
		}
	}
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	if kid == "" && len(r.keys) == 1 {
		for _, k := range r.keys {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no key %q in %s", kid, r.url)
}

func (r *remoteKeys) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch keys from %s: HTTP %d", r.url, resp.StatusCode)
	}
	var set JWKS
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("decode keys from %s: %w", r.url, err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	r.keys, r.fetched = keys, time.Now()
	return nil
}

// Verifier returns a verifier of the tokens s signs: the waiting room's own
// check, for a gate in the same process.
func (s *Signer) Verifier(opts ...Option) *Verifier {
	if s.pub != nil {
		return NewEd25519Verifier(s.pub, opts...)
	}
	return NewHS256Verifier(s.key.([]byte), opts...)
}
