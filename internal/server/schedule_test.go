package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/await"
)

func putSettings(t *testing.T, h *harness, event, body string) api.AdminEvent {
	t.Helper()
	r := adminDo(h, "PUT", api.AdminEventsPath+"/"+event, adminToken, body)
	if r.Status != http.StatusOK {
		t.Fatalf("PUT %s = %d %s", body, r.Status, r.Body)
	}
	return decode[api.AdminEvent](t, r.Body)
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TestAScheduledOnSaleOverHTTP walks an event through its schedule as an
// operator would drive it on the admin API, on both queues: refused before
// it opens, pre-queued with no position and spread polls, shuffled once at
// the start with admission following the recorded order, then sold out
// (reject) and ended.
func TestAScheduledOnSaleOverHTTP(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			o := defaultOptions()
			o.server.AdminToken = adminToken
			h := newHarness(t, backend, o)
			now := time.Now()

			// Before it opens: 403 saying when.
			opens := now.Add(time.Hour).Truncate(time.Second)
			putSettings(t, h, "SALE", fmt.Sprintf(`{"opensAt":%q,"startsAt":%q}`, rfc(opens), rfc(opens.Add(time.Hour))))
			r := h.joinKey("SALE", "early", "k-early")
			p := problem(t, r)
			if r.Status != http.StatusForbidden || p.Code != api.CodeEventNotOpen || p.OpensAt == nil || !p.OpensAt.Equal(opens) {
				t.Fatalf("join before opensAt = %d %s", r.Status, r.Body)
			}
			if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 3500 || ra > 3601 {
				t.Fatalf("Retry-After %q before opensAt, want the hour to go", r.Header.Get("Retry-After"))
			}
			preQueueOverHTTP(t, h, now.Add(time.Hour).Truncate(time.Second))
			later := startOverHTTP(t, h)
			// Sold out: joins get the message, the waiting end.
			putSettings(t, h, "SALE", `{"queueingMethod":"reject","message":"Sold out - thank you"}`)
			r = h.joinKey("SALE", "too-late", "k-tl")
			if p := problem(t, r); r.Status != http.StatusServiceUnavailable || p.Code != api.CodeEventRejected || p.Detail != "Sold out - thank you" {
				t.Fatalf("join under reject = %d %s", r.Status, r.Body)
			}
			if s := h.status(later.SessionID); s.Status != api.StatusExpired || s.EndReason != "rejected" {
				t.Fatalf("waiting session under reject = %s %s", s.Status, s.EndReason)
			}

			// Ended: 410 event_ended.
			ends := time.Now().Add(-time.Second).Truncate(time.Second)
			putSettings(t, h, "SALE", fmt.Sprintf(`{"startsAt":%q,"endsAt":%q}`, rfc(ends.Add(-time.Minute)), rfc(ends)))
			r = h.joinKey("SALE", "after", "k-after")
			if p := problem(t, r); r.Status != http.StatusGone || p.Code != api.CodeEventEnded || p.EndsAt == nil || !p.EndsAt.Equal(ends) {
				t.Fatalf("join after endsAt = %d %s", r.Status, r.Body)
			}
			got := decode[api.AdminEvent](t, adminDo(h, "GET", api.AdminEventsPath+"/SALE", adminToken, "").Body)
			if got.Stats.Phase != "ended" || got.Effective.EndsAt.IsZero() || got.Effective.Method != "fifo" {
				t.Fatalf("admin view after the end = %+v", got)
			}
		})
	}
}

// preQueued are the joins before the start in TestAScheduledOnSaleOverHTTP.
const preQueued = 30

// preQueueOverHTTP: the joins before the start wait with no position, are
// told the start, and are asked to poll at times spread within a third of
// the waiting TTL (60s); stats and metrics say so.
func preQueueOverHTTP(t *testing.T, h *harness, starts time.Time) {
	const n = preQueued
	putSettings(t, h, "SALE", fmt.Sprintf(`{"startsAt":%q}`, rfc(starts)))
	retries := map[int]bool{}
	for i := range n {
		r := h.joinKey("SALE", fmt.Sprint("u", i), fmt.Sprint("k", i))
		s := decode[api.Session](t, r.Body)
		if r.Status != http.StatusAccepted || s.Position != nil || s.StartsAt == nil || !s.StartsAt.Equal(starts) || s.EstimatedWaitSeconds != nil {
			t.Fatalf("pre-queued join = %d %s", r.Status, r.Body)
		}
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 10 || ra > 20 {
			t.Fatalf("pre-queue Retry-After %q, want 10..20s (half to all of waitingTTL/3)", r.Header.Get("Retry-After"))
		}
		retries[ra] = true
	}
	if len(retries) < 3 {
		t.Fatalf("pre-queue Retry-After took %d values over %d joins: not spread", len(retries), n)
	}
	stats := decode[api.EventStats](t, h.do("GET", api.EventStatsPath("SALE"), "", nil).Body)
	if stats.Phase != "prequeue" || stats.PreQueued != n || stats.Waiting != n || stats.StartsAt == nil || stats.Admitted != 0 {
		t.Fatalf("stats in the pre-queue = %+v", stats)
	}
	m := scrape(t, h)
	if m[`wrctl_event_prequeued{event=SALE}`] != n || m[`wrctl_event_starts_in_seconds{event=SALE}`] < 3500 || m[`wrctl_joins_total{result=not_open}`] != 1 ||
		m[`wrctl_store_requests_total{op=join,outcome=error}`] != 0 {
		t.Fatalf("metrics in the pre-queue: prequeued %v, starts in %v, not_open %v", m[`wrctl_event_prequeued{event=SALE}`],
			m[`wrctl_event_starts_in_seconds{event=SALE}`], m[`wrctl_joins_total{result=not_open}`])
	}
	if r := adminDo(h, "GET", api.AdminShufflePath("SALE"), adminToken, ""); r.Status != http.StatusNotFound {
		t.Fatalf("shuffle record before the start = %d", r.Status)
	}
}

// startOverHTTP: the operator starts it now; the capacity (5) is admitted
// in the recorded order, the rest hold the next places, and a later join
// waits behind them. It returns the later join.
func startOverHTTP(t *testing.T, h *harness) api.Session {
	const n = preQueued
	putSettings(t, h, "SALE", fmt.Sprintf(`{"startsAt":%q}`, rfc(time.Now().Add(-time.Second))))
	await.Until(t, 10*time.Second, "the first five admitted", func() bool { return h.stats("SALE").Active == 5 })
	rec := decode[api.Shuffle](t, adminDo(h, "GET", api.AdminShufflePath("SALE"), adminToken, "").Body)
	if len(rec.Order) != n || rec.Seed == "" || rec.Algorithm == "" {
		t.Fatalf("shuffle record = %+v", rec)
	}
	byTicket := map[int64]api.Session{}
	for i := range n {
		s := decode[api.Session](t, h.joinKey("SALE", fmt.Sprint("u", i), fmt.Sprint("k", i)).Body) // a re-join keeps the place
		byTicket[s.Ticket] = s
	}
	for i, ticket := range rec.Order {
		s := byTicket[ticket]
		switch {
		case i < 5 && (s.Status != api.StatusActive || s.Admission != int64(i+1)):
			t.Fatalf("place %d (ticket %d): %s admission %d", i+1, ticket, s.Status, s.Admission)
		case i >= 5 && (s.Position == nil || *s.Position != int64(i-4)):
			t.Fatalf("place %d (ticket %d): position %v, want %d", i+1, ticket, s.Position, i-4)
		}
	}
	if slices.IsSorted(rec.Order) {
		t.Fatal("the start kept the join order")
	}
	later := h.join("SALE", "later")
	if later.Position == nil || *later.Position != n-5+1 {
		t.Fatalf("a join after the start: position %v, want behind the pre-queue", later.Position)
	}
	return later
}

// TestScheduleSettingsAreChecked: settings that cannot work are refused
// with a problem and change nothing.
func TestScheduleSettingsAreChecked(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.server.AdminToken = adminToken
	h := newHarness(t, "memory", o)
	at := time.Now().Add(time.Hour)
	for _, bad := range []string{
		`{"queueingMethod":"lifo"}`,
		fmt.Sprintf(`{"startsAt":%q,"endsAt":%q}`, rfc(at), rfc(at.Add(-time.Minute))),
		fmt.Sprintf(`{"opensAt":%q,"startsAt":%q}`, rfc(at), rfc(at.Add(-time.Minute))),
		`{"startsAt":"tomorrow"}`,
	} {
		r := adminDo(h, "PUT", api.AdminEventsPath+"/E", adminToken, bad)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("PUT %s = %d %s", bad, r.Status, r.Body)
		}
		problem(t, r)
	}
	if r := adminDo(h, "GET", api.AdminEventsPath+"/E", adminToken, ""); decode[api.AdminEvent](t, r.Body).Settings.Method != "" {
		t.Fatal("a refused PUT changed the settings")
	}
	// passthrough admits at once past the capacity (5).
	putSettings(t, h, "E", `{"queueingMethod":"passthrough"}`)
	for i := range 7 {
		if s := h.join("E", fmt.Sprint("p", i)); s.Status != api.StatusActive || s.AccessToken == "" {
			t.Fatalf("join under passthrough = %s", s.Status)
		}
	}
}
