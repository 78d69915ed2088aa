package roomtest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/room"
)

// The audit log: the store's own record of an on-sale proves it.

// testTheAuditLogProvesAnOnSale runs a scheduled on-sale (a pre-queue
// drawn at the start, later joins, admissions up to capacity, a waiting
// user who leaves) and checks that the store's log, chained, verifies and
// proves every rule, with the draw's seed the one committed to.
func testTheAuditLogProvesAnOnSale(t *testing.T, newStore NewStore) {
	p := Policy
	p.WaitingTTL = 3 * time.Hour // the pre-queue outlives the hour to the start
	st, clk := openWith(t, newStore, p)
	starts := T0.Add(time.Hour)
	if err := st.PutSettings(ctx, "E1", room.Settings{StartsAt: starts}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, join(t, st, "E1", fmt.Sprint("pre", i)).ID)
	}
	clk.Set(starts.Add(time.Second))
	for i := range 3 {
		ids = append(ids, join(t, st, "E1", fmt.Sprint("later", i)).ID)
	}
	leaver := ids[7]
	if _, err := st.Leave(ctx, leaver); err != nil {
		t.Fatal(err)
	}
	admitted := 0
	for range 20 {
		r, err := st.Grant(ctx, "E1", ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome != room.Admitted {
			break
		}
		admitted++
		if s := stats(t, st, "E1"); s.Active == 2 || r.Outcome == room.Admitted && s.Waiting == 0 {
			if _, err := st.Leave(ctx, r.Session.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	es, err := st.Audit(ctx, "E1", 1, 10000)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := audit.Chain(es, 1, audit.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	for _, l := range lines {
		log.Write(l)
	}
	last, _ := audit.HashLine(bytes.TrimSpace(lines[len(lines)-1]))
	fmt.Fprintf(&log, `{"type":"head","event":"E1","seq":%d,"hash":%q}`+"\n", len(lines), last)
	rep, err := audit.Verify(&log, audit.Options{SessionID: ids[2]})
	if err != nil {
		t.Fatalf("the store's log does not hold together: %v", err)
	}
	if !rep.Proven() || rep.Joined != 8 || rep.PreQueued != 5 || !rep.Drawn || rep.Admitted != int64(admitted) || rep.Admitted != 7 || rep.MaxActive > 2 {
		t.Fatalf("report %+v", rep)
	}
	if s := rep.Session; s == nil || !s.Pre || s.Place < 1 || s.Admission != int64(s.Place) {
		t.Fatalf("a pre-queued user's story %+v", s)
	}
	if more, _ := st.Audit(ctx, "E1", int64(len(es))+1, 10); len(more) != 0 {
		t.Fatalf("entries past the end: %v", more)
	}
	if part, _ := st.Audit(ctx, "E1", 3, 2); len(part) != 2 || part[0].Seq != 3 || part[0].Type != es[2].Type {
		t.Fatalf("entries 3..4: %+v", part)
	}
}
