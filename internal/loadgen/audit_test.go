package loadgen_test

import (
	"encoding/json"
	"testing"

	"github.com/wrctl/wrctl/internal/loadgen"
)

// TestAuditStart: the start audit reads the pre-queue's rank correlation,
// the later joins that overtook it, and whether admission followed the
// server's record.
func TestAuditStart(t *testing.T) {
	adm := func(ticket, order int64, pre bool) loadgen.Admission {
		return loadgen.Admission{Ticket: ticket, Order: order, PreQueued: pre}
	}
	// Join order kept: correlation 1; reversed: -1.
	kept := []loadgen.Admission{adm(1, 1, true), adm(2, 2, true), adm(3, 3, true), adm(4, 4, true), adm(5, 5, false)}
	if s := loadgen.AuditStart(kept, nil); s == nil || *s.RankCorrelation != 1 || s.Overtaken != 0 || s.PreQueued != 4 || s.AfterStart != 1 || s.ShuffleSize != -1 {
		t.Fatalf("kept order: %+v", s)
	}
	rev := []loadgen.Admission{adm(1, 4, true), adm(2, 3, true), adm(3, 2, true), adm(4, 1, true)}
	if s := loadgen.AuditStart(rev, []int64{4, 3, 2, 1}); *s.RankCorrelation != -1 || !s.ShuffleMatches || s.ShuffleSize != 4 {
		t.Fatalf("reversed: %+v", s)
	}
	if s := loadgen.AuditStart(rev, []int64{1, 2, 3, 4}); s.ShuffleMatches {
		t.Fatal("admission against the record's order matched it")
	}
	// A later join admitted second overtakes the pre-queued users after it.
	over := []loadgen.Admission{adm(2, 1, true), adm(9, 2, false), adm(1, 3, true), adm(3, 4, true), adm(10, 5, false)}
	if s := loadgen.AuditStart(over, nil); s.Overtaken != 1 {
		t.Fatalf("overtaken = %d, want 1", s.Overtaken)
	}
	if loadgen.AuditStart([]loadgen.Admission{adm(1, 1, false)}, nil) != nil {
		t.Fatal("a start audit without a pre-queue")
	}
	// Round trip of the compact form keeps the flag.
	b, _ := json.Marshal(adm(7, 3, true))
	var back loadgen.Admission
	if err := json.Unmarshal(b, &back); err != nil || !back.PreQueued || back.Ticket != 7 || back.Order != 3 {
		t.Fatalf("round trip %s: %+v %v", b, back, err)
	}
}
