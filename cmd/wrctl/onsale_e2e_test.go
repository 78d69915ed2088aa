package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/redistest"
)

// adminPut replaces an event's settings on a replica picked at random.
func (f *fleet) adminPut(event, body string) api.AdminEvent {
	f.t.Helper()
	req, _ := http.NewRequest("PUT", f.pick().URL+api.AdminEventsPath+"/"+event, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ev api.AdminEvent
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ev) != nil {
		f.t.Fatalf("PUT %s %s: %d", event, body, resp.StatusCode)
	}
	return ev
}

// spearman is the rank correlation of two orders of the same n items:
// x[i] and y[i] are item i's ranks (0..n-1).
func spearman(x, y []int) float64 {
	n := float64(len(x))
	var d2 float64
	for i := range x {
		d := float64(x[i] - y[i])
		d2 += d * d
	}
	return 1 - 6*d2/(n*(n*n-1))
}

// TestAnOnSaleStartsOnceAcrossReplicas is the scheduled on-sale end to
// end: three replicas sharing Redis and the SQS queue; 200 users join the
// pre-queue at once through all of them; the operator starts the event
// (paused, so the drawn places can be read before anyone is admitted);
// the start's shuffle runs once, giving the 200 the places 1..200 in an
// order unrelated to their joins; 50 later joins queue behind them; then
// admission at newUsersPerMinute 120 runs at 2 a second, and everyone is
// admitted in the drawn order, the later joins last in join order.
func TestAnOnSaleStartsOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	queueURL := createQueue(t, uniqueQueue("e2e-onsale"))["queueUrl"].(string)
	f := newFleet(t, 3, "--queue", "sqs", "--queue-url", queueURL, "--sqs-endpoint", emu.URL,
		"--store", "redis", "--redis-addr", rs.Addr, "--redis-prefix", "onsale", "--admin-token", e2eAdminToken,
		"--capacity", "1000", "--new-users-per-minute", "120", "--waiting-ttl", "120s")
	starts := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	f.adminPut("DROP", fmt.Sprintf(`{"startsAt":%q}`, starts.Format(time.RFC3339)))

	const pre, later = 200, 50
	early := joinAtOnce(f, "u", pre)
	for _, s := range early {
		if s.Position != nil || s.StartsAt == nil || !s.StartsAt.Equal(starts) {
			t.Fatalf("pre-queued join: position %v startsAt %v", s.Position, s.StartsAt)
		}
	}

	// Start it now, paused: the shuffle runs at the next operation on any replica.
	startedAt := time.Now().Add(-time.Second).UTC().Truncate(time.Millisecond)
	f.adminPut("DROP", fmt.Sprintf(`{"startsAt":%q,"paused":true}`, startedAt.Format(time.RFC3339Nano)))
	positions := placesAfterTheStart(t, f, early)
	checkTheStartsRecord(t, f, early, positions)

	// Later joins queue behind the whole pre-queue, in join order.
	late := make([]fullSession, later)
	for i := range later { // one after another, so join order is known
		late[i] = f.join("DROP", fmt.Sprintf("v%03d", i))
		if late[i].Position == nil || *late[i].Position != int64(pre+i+1) {
			t.Fatalf("later join %d: position %v, want %d", i, late[i].Position, pre+i+1)
		}
	}

	// Admission at 120 a minute: the first 20 measure the rate.
	f.adminPut("DROP", fmt.Sprintf(`{"startsAt":%q}`, startedAt.Format(time.RFC3339Nano)))
	checkTheSharedRate(t, f, early, positions)

	// The rest at speed; then the whole order of admission is checked.
	f.adminPut("DROP", fmt.Sprintf(`{"startsAt":%q,"newUsersPerMinute":60000}`, startedAt.Format(time.RFC3339Nano)))
	checkTheAdmissionOrder(t, f, early, late, positions)
	checkTheLogIsOne(t, f, pre+later)
}

// checkTheLogIsOne: the event's audit log is the same from every replica,
// and each verifies with that replica's key and proves the on-sale.
func checkTheLogIsOne(t *testing.T, f *fleet, users int) {
	var entries []byte
	for i, s := range f.replicas {
		_, log := get(t, s.URL+api.EventAuditPath("DROP"))
		_, jwks := get(t, s.URL+api.JWKSPath)
		keys, _ := audit.KeysFromJWKS(jwks)
		rep, err := audit.Verify(bytes.NewReader(log), audit.Options{Keys: keys})
		if err != nil || !rep.Proven() || !rep.Signed || rep.Joined != int64(users) || rep.Admitted != int64(users) || !rep.Drawn {
			t.Fatalf("replica %d's audit log: %+v, %v", i, rep, err)
		}
		body := log[:bytes.LastIndex(bytes.TrimSuffix(log, []byte("\n")), []byte("\n"))+1] // without the head, which each replica signs
		if entries != nil && !bytes.Equal(body, entries) {
			t.Fatalf("replica %d serves another log than replica 0", i)
		}
		entries = body
	}
}

// joinAtOnce joins n users (PREFIX000…) to DROP all at once, on random
// replicas.
func joinAtOnce(f *fleet, prefix string, n int) []fullSession {
	out := make([]fullSession, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = f.join("DROP", fmt.Sprintf("%s%03d", prefix, i)) })
	}
	wg.Wait()
	return out
}

// placesAfterTheStart polls every pre-queued user at once, on every
// replica, and checks their places are a permutation of 1..n.
func placesAfterTheStart(t *testing.T, f *fleet, early []fullSession) []int64 {
	pre := len(early)
	positions := make([]int64, pre)
	var wg sync.WaitGroup
	for i, s := range early { // polls race on every replica to see the start
		wg.Go(func() {
			if p := f.status(s.SessionID).Position; p != nil {
				positions[i] = *p
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, p := range positions {
		if p < 1 || p > int64(pre) || seen[p] {
			t.Fatalf("user %d has position %d after the start: not a permutation of 1..%d", i, p, pre)
		}
		seen[p] = true
	}
	return positions
}

// checkTheStartsRecord: one shuffle, of everyone pre-queued, in the order
// of the places, and no more related to join order than chance.
func checkTheStartsRecord(t *testing.T, f *fleet, early []fullSession, positions []int64) {
	pre := len(early)
	// The record of the start: one shuffle, of all 200, in the order of the positions.
	code, body := f.call("GET", "/api/waiting-room/events/DROP/stats", "")
	var stats api.EventStats
	if code != http.StatusOK || json.Unmarshal(body, &stats) != nil || stats.ShuffledCount != int64(pre) || stats.ShuffledAt == nil || stats.PreQueued != 0 || stats.Phase != "live" {
		t.Fatalf("stats after the start: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", f.pick().URL+api.AdminShufflePath("DROP"), nil)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rec api.Shuffle
	json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if len(rec.Order) != pre || rec.Seed == "" {
		t.Fatalf("shuffle record of %d tickets", len(rec.Order))
	}
	joinRank := make([]int, pre) // tickets are 1..200, in join order
	drawRank := make([]int, pre)
	for i, s := range early {
		if rec.Order[positions[i]-1] != s.Ticket {
			t.Fatalf("ticket %d has position %d, but the record puts ticket %d there", s.Ticket, positions[i], rec.Order[positions[i]-1])
		}
		joinRank[i], drawRank[i] = int(s.Ticket-1), int(positions[i]-1)
	}
	rho := spearman(joinRank, drawRank)
	// Under a uniform shuffle rho has a standard error of 1/sqrt(199) ≈ 0.071.
	t.Logf("200 pre-queued: positions a permutation of 1..200, rank correlation with join order %+.3f", rho)
	if math.Abs(rho) > 0.3 {
		t.Fatalf("rank correlation %.3f between join order and drawn places: not a uniform shuffle", rho)
	}
}

// checkTheSharedRate: newUsersPerMinute 120 holds across the replicas.
func checkTheSharedRate(t *testing.T, f *fleet, early []fullSession, positions []int64) {
	firstAt := map[int64]time.Time{}
	await.Until(t, 60*time.Second, "20 admitted", func() bool {
		for i, s := range early {
			if _, ok := firstAt[positions[i]]; !ok && positions[i] <= 20 {
				if st := f.status(s.SessionID); st.Status == "ACTIVE" {
					firstAt[positions[i]] = *st.ActivatedAt
				}
			}
		}
		return len(firstAt) == 20
	})
	times := slices.SortedFunc(func(yield func(time.Time) bool) {
		for _, t := range firstAt {
			if !yield(t) {
				return
			}
		}
	}, func(a, b time.Time) int { return a.Compare(b) })
	span := times[19].Sub(times[0]).Seconds()
	perSecond := 19 / span
	t.Logf("newUsersPerMinute 120 on 3 replicas: 20 admissions in %.2fs, %.2f a second (setting: 2.00)", span, perSecond)
	if perSecond > 2.2 {
		t.Fatalf("%.2f admissions a second over the shared cap of 2", perSecond)
	}
}

// checkTheAdmissionOrder: the pre-queued by their drawn places, then the
// later joins in join order.
func checkTheAdmissionOrder(t *testing.T, f *fleet, early, late []fullSession, positions []int64) {
	pre := len(early)
	all := append(slices.Clone(early), late...)
	admission := make([]int64, len(all))
	await.Until(t, 60*time.Second, "everyone admitted", func() bool {
		for i, s := range all {
			if admission[i] == 0 {
				if st := f.status(s.SessionID); st.Status == "ACTIVE" {
					admission[i] = st.Admission
				}
			}
		}
		return !slices.Contains(admission, 0)
	})
	for i := range early {
		if admission[i] != positions[i] {
			t.Fatalf("pre-queued user with place %d admitted %d-th", positions[i], admission[i])
		}
	}
	for i := range late {
		if admission[pre+i] != int64(pre+i+1) {
			t.Fatalf("later join %d admitted %d-th, want %d (after the pre-queue, in join order)", i, admission[pre+i], pre+i+1)
		}
	}
}
