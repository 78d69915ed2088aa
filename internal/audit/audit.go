// Package audit is an event's public, hash-chained log: what the room did,
// in one order across replicas, that anyone can check without trusting
// the room. The store appends entries (Entry); Chain links them with
// SHA-256 and Sign signs the head with the room's Ed25519 key; Verify
// checks the chain and the signature and proves, from the log alone, that
// capacity was never exceeded, that admissions followed the line, that
// the rate cap held and that the pre-queue's draw is the one its
// committed seed gives. docs/audit.md specifies the format.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wrctl/wrctl/internal/room"
)

// Entry types (see room.AuditEntry).
const (
	TypeSettings = room.AuditSettingsType
	TypeCommit   = room.AuditCommit
	TypeJoin     = room.AuditJoin
	TypeDraw     = room.AuditDraw
	TypeAdmit    = room.AuditAdmit
	TypeLeave    = room.AuditLeave
	TypeExpire   = room.AuditExpire
	TypeHead     = "head" // the last line of a published log: the head hash and its signature
)

// Settings are the settings in force that the proofs need; Entry is one
// line of the log. They are defined in room, whose stores write them.
type (
	Settings = room.AuditSettings
	Entry    = room.AuditEntry
)

// Genesis is the prev of the first entry.
var Genesis = strings.Repeat("0", 64)

// Ref is a session's reference in the log: only whoever holds the session
// id recognises it.
func Ref(sessionID string) string { return room.AuditRef(sessionID) }

// SeedHash is the commitment to a draw's seed (hex): SHA-256 of its bytes.
func SeedHash(seedHex string) (string, error) {
	seed, err := hex.DecodeString(seedHex)
	if err != nil || len(seed) != 32 {
		return "", fmt.Errorf("seed %q is not 32 bytes of hex", seedHex)
	}
	h := sha256.Sum256(seed)
	return hex.EncodeToString(h[:]), nil
}

// Canonical is a line's canonical form: the JSON object without its hash
// member, keys in byte order, no space, numbers as written, no HTML
// escaping. It is what the hash covers.
func Canonical(line []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value on a line")
	}
	delete(obj, "hash")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// HashLine is the hash of a line: hex SHA-256 of its canonical form.
func HashLine(line []byte) (string, error) {
	c, err := Canonical(line)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(c)
	return hex.EncodeToString(h[:]), nil
}

// Chain numbers the entries from first (the seq of entries[0]), links each
// to the one before (prev, starting from prev), hashes them, and returns
// the lines, each ending in a newline.
func Chain(entries []Entry, first int64, prev string) ([][]byte, error) {
	lines := make([][]byte, 0, len(entries))
	for i, e := range entries {
		e.Seq, e.Prev, e.Hash = first+int64(i), prev, ""
		raw, err := marshal(e)
		if err != nil {
			return nil, err
		}
		if e.Hash, err = HashLine(raw); err != nil {
			return nil, err
		}
		if raw, err = marshal(e); err != nil {
			return nil, err
		}
		lines = append(lines, append(raw, '\n'))
		prev = e.Hash
	}
	return lines, nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
