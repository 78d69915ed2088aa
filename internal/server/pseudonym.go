package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
)

// The browser id (the wrctl_uid cookie) is a secret only the browser
// holds: whoever had it could re-join as that browser and be handed its
// session and a fresh token. So it never leaves the browser and the room:
// the user id of its joins (the token's sub, the X-Wrctl-User-Id header)
// is a keyed pseudonym of it, and the key of its joins another, which
// the pseudonym does not reveal. Both are keyed by a key derived from the
// token key, so every replica sharing that key agrees on them.

// pseudonym is the user id of a browser's joins.
func (s *Server) pseudonym(browserID string) string {
	return "b." + hex.EncodeToString(s.mac("user", browserID)[:16])
}

// joinKey is the Idempotency-Key of a browser's joins.
func (s *Server) joinKey(browserID string) string {
	return hex.EncodeToString(s.mac("key", browserID))
}

// reference is the short code a buyer can quote to support for a session:
// derived from it, it names the session to the operator (the join is
// logged with it) without revealing its id.
func (s *Server) reference(sessionID string) string {
	code := base32.StdEncoding.EncodeToString(s.mac("ref", sessionID))[:8]
	return code[:4] + "-" + code[4:]
}

func (s *Server) mac(use, v string) []byte {
	m := hmac.New(sha256.New, s.pseudonyms)
	m.Write([]byte(use + "\x00" + v))
	return m.Sum(nil)
}
