package queue

import (
	"fmt"
	"strings"
	"testing"
)

func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"sessionId":"s","eventId":"e","seq":1}`, `{"v":2,"sessionId":"s","eventId":"e"}`, `{"v":1}`, `garbage`, `{"v":1,"sessionId":"","eventId":"e"}`, `null`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b, err := DecodeBody(raw)
		if err != nil {
			return
		}
		if b.V != BodyVersion || b.SessionID == "" || b.EventID == "" {
			t.Fatalf("decoded an invalid body %q as %+v", raw, b)
		}
		again, err := DecodeBody(b.Encode())
		if err != nil || again != b {
			t.Fatalf("round trip of %+v = %+v, %v", b, again, err)
		}
	})
}

func TestAnEventsWakeUpsSpreadOverItsGroups(t *testing.T) {
	seen := map[string]bool{}
	for seq := int64(1); seq <= 100; seq++ {
		out := OutgoingFor(Body{V: BodyVersion, SessionID: fmt.Sprint(seq), EventID: "launch-2026", Seq: seq})
		if !strings.HasPrefix(out.GroupID, "launch-2026#") || len(out.GroupID) > 128 || out.DedupID != fmt.Sprint(seq) {
			t.Fatalf("seq %d: %+v", seq, out)
		}
		seen[out.GroupID] = true
	}
	if len(seen) != GroupsPerEvent {
		t.Fatalf("100 tickets over %d groups, want %d", len(seen), GroupsPerEvent)
	}
	long := strings.Repeat("e", 64) // the longest event id: still within SQS's 128
	if g := GroupFor(long, 7); len(g) > 128 {
		t.Fatalf("group %q is too long for SQS", g)
	}
}
