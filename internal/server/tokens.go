package server

import (
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/wrctl/wrctl/internal/room"
)

// tokenCacheSize bounds the access tokens kept: about 400 bytes each, so
// some 40 MB at most, and a session past it is only signed again.
const tokenCacheSize = 100_000

// tokenCache keeps the access token of each ACTIVE session as last signed.
// A token's claims come from the session's last change (its last sight and
// expiry), so the token of an unchanged session is the same token: it is
// signed once per change, not once per poll.
type tokenCache struct {
	c *lru.Cache[tokenKey, string]
}

type tokenKey struct {
	id            string
	seen, expires int64
	verified      bool
}

func newTokenCache(size int) *tokenCache {
	c, _ := lru.New[tokenKey, string](size) // errors only on a size <= 0
	return &tokenCache{c: c}
}

// get returns the session's token, signing it with sign on a miss.
func (t *tokenCache) get(s room.Session, sign func() (string, error)) (string, error) {
	k := tokenKey{s.ID, s.LastSeenAt.UnixNano(), s.ExpiresAt.UnixNano(), s.Verified}
	if tok, ok := t.c.Get(k); ok {
		return tok, nil
	}
	tok, err := sign()
	if err == nil {
		t.c.Add(k, tok)
	}
	return tok, err
}
