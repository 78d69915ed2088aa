package redisstore

import (
	"testing"

	"github.com/wrctl/wrctl/internal/room"
)

// TestPackedAuditEntries reads the packed entries the scripts write, and
// refuses one with a field missing, a number that is not one, or an
// unknown letter.
func TestPackedAuditEntries(t *testing.T) {
	e, err := decodeAudit("a 1700000000000 42 7 3")
	if err != nil || e.Type != room.AuditAdmit || e.At != 1700000000000 || e.Ticket != 42 || e.Admission != 7 || e.Active == nil || *e.Active != 3 {
		t.Fatalf("admit = %+v, %v", e, err)
	}
	e, err = decodeAudit("j 1700000000000 43 00112233445566778899aabbccddeeff 1")
	if err != nil || e.Type != room.AuditJoin || e.Ref != "00112233445566778899aabbccddeeff" || !e.Pre {
		t.Fatalf("join = %+v, %v", e, err)
	}
	e, err = decodeAudit("e 1700000000000 43 heartbeat")
	if err != nil || e.Type != room.AuditExpire || e.Reason != "heartbeat" {
		t.Fatalf("expire = %+v, %v", e, err)
	}
	for _, bad := range []string{"", "a 1700000000000 42 7", "a 1700000000000 x 7 3", "l 1700000000000 -1 left", "z 1 2 3"} {
		if _, err := decodeAudit(bad); err == nil {
			t.Errorf("decodeAudit(%q) took a malformed entry", bad)
		}
	}
}
