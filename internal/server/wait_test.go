package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/room"
)

// heldNow is the replica's count of held status requests, from /metrics.
func heldNow(t *testing.T, h *harness) float64 { return scrape(t, h)[`wrctl_status_requests_held{}`] }

// holdStatus sends a status request with query (and header hdr) in the
// background; its answer arrives on the channel.
func holdStatus(h *harness, id, query string, hdr http.Header) <-chan response {
	out := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest("GET", h.URL+api.SessionsPath+"/"+id+query, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := h.http.Do(req)
		if err != nil {
			out <- response{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out <- response{resp.StatusCode, resp.Header, b}
	}()
	return out
}

func TestAHeldStatusRequestAnswersTheMomentTheSessionIsAdmitted(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	h := newHarness(t, "memory", o)
	a := h.join("W1", "a") // the empty room lets a in at once
	if a.Status != api.StatusActive {
		t.Fatalf("first join = %s", a.Status)
	}
	b := h.join("W1", "b")
	answer := holdStatus(h, b.SessionID, "?wait=30s", nil)
	await.Until(t, 10*time.Second, "the status request is held", func() bool { return heldNow(t, h) == 1 })
	if h.post(a.SessionID, "leave") != http.StatusNoContent {
		t.Fatal("leave")
	}
	// The hold is 30s; the test's own limit is far less, so only the
	// admission can answer it.
	select {
	case r := <-answer:
		s := decode[api.Session](t, r.Body)
		if r.Status != http.StatusOK || s.Status != api.StatusActive || s.AccessToken == "" {
			t.Fatalf("held status after the admission = %d %+v", r.Status, s)
		}
		if r.Header.Get("Retry-After") != "" || r.Header.Get("Preference-Applied") == "" {
			t.Fatalf("headers %v: want Preference-Applied and no Retry-After", r.Header)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the held status request did not answer the admission")
	}
	if n := heldNow(t, h); n != 0 {
		t.Fatalf("%v requests still held", n)
	}
}

func TestAHeldStatusRequestAnswersAtItsTimeoutWithTheUsualBody(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true
	h := newHarness(t, "memory", o)
	s := h.join("W2", "a")
	for _, c := range []struct {
		name, query string
		hdr         http.Header
		applied     string
	}{
		{"query", "?wait=1s", nil, "wait=1"},
		{"seconds", "?wait=1", nil, "wait=1"},
		{"Prefer", "", http.Header{"Prefer": {"respond-async, wait=1"}}, "wait=1"},
	} {
		r := <-holdStatus(h, s.SessionID, c.query, c.hdr)
		got := decode[api.Session](t, r.Body)
		if r.Status != http.StatusOK || got.Status != api.StatusWaiting || got.Position == nil || *got.Position != 1 {
			t.Fatalf("%s: held status at its timeout = %d %s", c.name, r.Status, r.Body)
		}
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || r.Header.Get("Preference-Applied") != c.applied {
			t.Fatalf("%s: Retry-After %q Preference-Applied %q", c.name, r.Header.Get("Retry-After"), r.Header.Get("Preference-Applied"))
		}
	}
	// A status request that does not ask to wait answers at once, as ever.
	if r := h.do("GET", api.SessionsPath+"/"+s.SessionID, "", nil); r.Status != http.StatusOK || r.Header.Get("Preference-Applied") != "" {
		t.Fatalf("plain status = %d %v", r.Status, r.Header)
	}
}

func TestABadWaitIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true
	h := newHarness(t, "memory", o)
	s := h.join("W3", "a")
	before, _ := h.Store.Get(context.Background(), s.SessionID)
	for _, q := range []string{"?wait=soon", "?wait=-1s", "?wait=-3", "?wait=1s&wait=2s", "?wait="} {
		r := h.do("GET", api.SessionsPath+"/"+s.SessionID+q, "", nil)
		if p := problem(t, r); r.Status != http.StatusBadRequest || p.Field != "wait" {
			t.Fatalf("%s: %d %s, want 400 naming wait", q, r.Status, r.Body)
		}
	}
	after, _ := h.Store.Get(context.Background(), s.SessionID)
	if !after.LastSeenAt.Equal(before.LastSeenAt) || after.Status != room.StatusWaiting {
		t.Fatalf("refused requests changed the session: seen %v → %v", before.LastSeenAt, after.LastSeenAt)
	}
	// A Prefer the server cannot read is no error (RFC 7240): a plain poll.
	if r := h.doWith("GET", api.SessionsPath+"/"+s.SessionID, "", nil, http.Header{"Prefer": {"wait=never"}}); r.Status != http.StatusOK {
		t.Fatalf("unreadable Prefer = %d", r.Status)
	}
}

func TestPastTheCapStatusRequestsAreAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true
	o.server.MaxHeld = 1
	h := newHarness(t, "memory", o)
	a, b := h.join("W4", "a"), h.join("W4", "b")
	first := holdStatus(h, a.SessionID, "?wait=30s", nil)
	await.Until(t, 10*time.Second, "the first request is held", func() bool { return heldNow(t, h) == 1 })
	select {
	case r := <-holdStatus(h, b.SessionID, "?wait=30s", nil):
		if r.Status != http.StatusOK || r.Header.Get("Retry-After") == "" || r.Header.Get("Preference-Applied") != "" {
			t.Fatalf("status past the cap = %d %v, want an answer at once with Retry-After", r.Status, r.Header)
		}
	case <-first:
		t.Fatal("the held request answered first")
	case <-time.After(15 * time.Second):
		t.Fatal("a status request past the cap was held")
	}
}

func TestAHeldRequestMovesWithItsPlaceAndTheLine(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true
	o.policy.WaitingTTL = 5 * time.Minute // holds up to LongestPoll: 30s here
	h := newHarness(t, "memory", o)
	var ids []string
	for i := range 5 {
		ids = append(ids, h.join("W5", fmt.Sprint("u", i)).SessionID)
	}
	// The operator pauses the event: every held request of it answers,
	// and the last one shows the pause.
	answer := holdStatus(h, ids[4], "?wait=30s", nil)
	await.Until(t, 10*time.Second, "held", func() bool { return heldNow(t, h) == 1 })
	if err := h.Store.PutSettings(context.Background(), "W5", room.Settings{Paused: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-answer:
		if r.Status != http.StatusOK || r.Header.Get("Preference-Applied") == "" {
			t.Fatalf("held status after a change of the line = %d %s", r.Status, r.Body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a change of the event's settings did not answer the held request")
	}
	// Its own leave (from another tab) answers it too.
	answer = holdStatus(h, ids[3], "?wait=30s", nil)
	await.Until(t, 10*time.Second, "held", func() bool { return heldNow(t, h) == 1 })
	if h.post(ids[3], "leave") != http.StatusNoContent {
		t.Fatal("leave")
	}
	select {
	case r := <-answer:
		if s := decode[api.Session](t, r.Body); s.Status != api.StatusLeft {
			t.Fatalf("held status after its leave = %s", s.Status)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the session's leave did not answer its held request")
	}
}
