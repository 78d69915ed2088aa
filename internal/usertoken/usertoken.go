// Package usertoken verifies the user tokens a protected site signs for its
// users (a JWT whose sub is the user id): a join that carries one proves it
// comes from that user, so it gets the user's live session back without the
// first join's Idempotency-Key.
package usertoken

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalid wraps every reason a user token is refused.
var ErrInvalid = errors.New("invalid user token")

// Config says how the site signs its user tokens: with a shared secret
// (HS256) or an Ed25519 key whose public half is given here (EdDSA).
type Config struct {
	// Secret is the HS256 secret shared with the site.
	Secret []byte
	// PublicKey verifies EdDSA tokens.
	PublicKey ed25519.PublicKey
	// Issuer, if set, must be the iss claim.
	Issuer string
	// Audience, if set, must be in the aud claim.
	Audience string
	// Leeway tolerates clock skew on exp and nbf. Default 5s.
	Leeway time.Duration
}

// Verifier checks user tokens.
type Verifier struct {
	alg    string
	key    any
	parser *jwt.Parser
}

// New returns a verifier, or an error if cfg names no key or both.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{}
	switch {
	case len(cfg.Secret) > 0 && cfg.PublicKey != nil:
		return nil, errors.New("user tokens: give a secret or a public key, not both")
	case len(cfg.Secret) > 0:
		v.alg, v.key = "HS256", cfg.Secret
	case cfg.PublicKey != nil:
		v.alg, v.key = "EdDSA", cfg.PublicKey
	default:
		return nil, errors.New("user tokens: no secret and no public key")
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 5 * time.Second
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{v.alg}), jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Subject verifies token and returns the user id it was signed for.
func (v *Verifier) Subject(token string) (string, error) {
	var c jwt.RegisteredClaims
	if _, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil }); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Subject == "" {
		return "", fmt.Errorf("%w: no sub claim", ErrInvalid)
	}
	return c.Subject, nil
}
