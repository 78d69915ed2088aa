package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Head is the last line of a published log: the event, the seq and hash of
// its last entry, and, when the room signs its tokens with an Ed25519 key,
// that key's id (as in its JWKS) and the signature of SignedBytes.
type Head struct {
	Type  string `json:"type"` // "head"
	Event string `json:"event"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
	Kid   string `json:"kid,omitempty"`
	Sig   string `json:"sig,omitempty"` // base64url, no padding
}

// SignedBytes are the bytes a head's signature covers.
func SignedBytes(event string, seq int64, hash string) []byte {
	return fmt.Appendf(nil, "wrctl-audit-head\n%s\n%d\n%s", event, seq, hash)
}

// NewHead is the head of a log whose last entry has seq and hash, signed
// with priv (nil: unsigned).
func NewHead(event string, seq int64, hash string, priv ed25519.PrivateKey, kid string) Head {
	h := Head{Type: TypeHead, Event: event, Seq: seq, Hash: hash}
	if priv != nil {
		h.Kid = kid
		h.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, SignedBytes(event, seq, hash)))
	}
	return h
}

// ErrUnsigned is a head without a signature.
var ErrUnsigned = errors.New("the log's head is not signed (the room signs tokens with a shared secret, or none)")

// CheckSignature verifies the head's signature with pub.
func (h Head) CheckSignature(pub ed25519.PublicKey) error {
	if h.Sig == "" {
		return ErrUnsigned
	}
	sig, err := base64.RawURLEncoding.DecodeString(h.Sig)
	if err != nil || !ed25519.Verify(pub, SignedBytes(h.Event, h.Seq, h.Hash), sig) {
		return fmt.Errorf("the head's signature does not verify with key %s", h.Kid)
	}
	return nil
}

// KeysFromJWKS reads the Ed25519 keys of a JWKS document by their ids.
func KeysFromJWKS(doc []byte) (map[string]ed25519.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid string
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	out := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		if x, err := base64.RawURLEncoding.DecodeString(k.X); err == nil && len(x) == ed25519.PublicKeySize {
			out[k.Kid] = ed25519.PublicKey(x)
		}
	}
	return out, nil
}
