package room

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Types of audit entries.
const (
	AuditSettingsType = "settings" // the settings in force, at the first entry and after each change
	AuditCommit       = "commit"   // the hash of the pre-queue's draw seed, when the pre-queue opens
	AuditJoin         = "join"     // a join: its ticket and a reference only its holder recognises
	AuditDraw         = "draw"     // the start: the seed revealed, the pre-queued tickets and their drawn order
	AuditAdmit        = "admit"    // an admission: ticket, admission number, active count after it
	AuditLeave        = "leave"    // a session left
	AuditExpire       = "expire"   // a session ended otherwise (abandoned, heartbeat, max_active, event_ended, rejected, aborted)
)

// AuditSettings are the settings in force that the audit's proofs need.
type AuditSettings struct {
	Capacity          int    `json:"capacity"`
	NewUsersPerMinute int    `json:"newUsersPerMinute"`
	QueueingMethod    string `json:"queueingMethod"`
	Paused            bool   `json:"paused"`
	OpensAt           int64  `json:"opensAt"` // Unix ms, 0 unset
	StartsAt          int64  `json:"startsAt"`
	EndsAt            int64  `json:"endsAt"`
}

// AuditSettingsOf is the policy's part the audit proves against.
func AuditSettingsOf(p Policy) *AuditSettings {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	method := p.Method
	if method == "" {
		method = MethodFIFO
	}
	return &AuditSettings{Capacity: p.Capacity, NewUsersPerMinute: p.NewUsersPerMinute, QueueingMethod: string(method), Paused: p.Paused,
		OpensAt: ms(p.OpensAt), StartsAt: ms(p.StartsAt), EndsAt: ms(p.EndsAt)}
}

// AuditEntry is one entry of an event's audit log (package audit links and
// verifies them). The store sets Seq (from 1, in the one order of the
// event's log) and the entry's own fields; At is the store's clock, in
// Unix milliseconds.
type AuditEntry struct {
	Seq  int64  `json:"seq"`
	Type string `json:"type"`
	At   int64  `json:"at"`

	Ticket    int64          `json:"ticket,omitempty"`
	Ref       string         `json:"ref,omitempty"`
	Pre       bool           `json:"pre,omitempty"`
	Admission int64          `json:"admission,omitempty"`
	Active    *int64         `json:"active,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	SeedHash  string         `json:"seedHash,omitempty"`
	Seed      string         `json:"seed,omitempty"`
	Tickets   []int64        `json:"tickets,omitempty"`
	Order     []int64        `json:"order,omitempty"`
	Settings  *AuditSettings `json:"settings,omitempty"`

	Prev string `json:"prev"`
	Hash string `json:"hash,omitempty"`
}

// AuditRef is a session's reference in the log: only whoever holds the
// session id recognises it.
func AuditRef(sessionID string) string {
	h := sha256.Sum256([]byte("wrctl-session:" + sessionID))
	return hex.EncodeToString(h[:16])
}

// SeedCommitment is the commitment to a draw's seed: hex SHA-256 of its
// 32 bytes.
func SeedCommitment(seed [32]byte) string {
	h := sha256.Sum256(seed[:])
	return hex.EncodeToString(h[:])
}
