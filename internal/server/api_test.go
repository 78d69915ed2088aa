package server_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/usertoken"
)

func TestJoinAnswers202WithLocationAndRetryAfter(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true // keep the session WAITING
	h := newHarness(t, "memory", o)
	r := h.do("POST", api.SessionsPath, "application/json; charset=utf-8", []byte(`{"eventId":"E1","userId":"U1"}`))
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	s := decode[api.Session](t, r.Body)
	if !room.ValidSessionID(s.SessionID) || s.Status != api.StatusWaiting || s.Position == nil || *s.Position != 1 {
		t.Fatalf("session = %+v", s)
	}
	if s.EstimatedWaitSeconds != nil || s.ActivatedAt != nil || s.AccessToken != "" {
		t.Fatalf("waiting session has admission fields: %+v", s)
	}
	if got, want := r.Header.Get("Location"), api.SessionsPath+"/"+s.SessionID; got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	st := h.do("GET", r.Header.Get("Location"), "", nil)
	if st.Status != http.StatusOK || st.Header.Get("Retry-After") == "" {
		t.Fatalf("status via Location: %d, Retry-After %q", st.Status, st.Header.Get("Retry-After"))
	}
	if got := decode[api.Session](t, st.Body); got.SessionID != s.SessionID || got.EventID != "E1" || got.UserID != "U1" {
		t.Fatalf("status = %+v", got)
	}
}

func TestSessionIDsAreDistinct128BitValues(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true
	h := newHarness(t, "memory", o)
	seen := map[string]bool{}
	for i := range 50 {
		id := h.join("E1", "U"+strconv.Itoa(i)).SessionID
		if len(id) != 32 || seen[id] {
			t.Fatalf("session id %q: want 32 hex characters, distinct", id)
		}
		seen[id] = true
	}
}

func TestIdempotentJoin(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			o := defaultOptions()
			o.policy.Capacity = 1
			h := newHarness(t, backend, o)
			first := h.join("E1", "U1")
			again := h.join("E1", "U1")
			if again.SessionID != first.SessionID {
				t.Fatalf("second join gave %s, want %s", again.SessionID, first.SessionID)
			}
			// Anyone without the first join's key is refused, and learns
			// neither the session id nor anything that would let it leave.
			for _, key := range []string{"", "someone-else"} {
				r := h.joinKey("E1", "U1", key)
				if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), `"already_joined"`) || strings.Contains(string(r.Body), first.SessionID) {
					t.Fatalf("re-join with key %q: %d %s, want 409 already_joined without the session", key, r.Status, r.Body)
				}
				if r.Header.Get("Location") != "" {
					t.Fatalf("a refused re-join got a Location: %s", r.Header.Get("Location"))
				}
			}
			if s := h.status(first.SessionID); s.Status != api.StatusWaiting && s.Status != api.StatusActive {
				t.Fatalf("refused re-joins changed the session: %+v", s)
			}
			other := h.join("E1", "U2")
			await.Until(t, 10*time.Second, "first user admitted", func() bool { return h.status(first.SessionID).Status == api.StatusActive })
			if h.join("E1", "U1").SessionID != first.SessionID {
				t.Fatal("join while ACTIVE did not return the active session")
			}
			if st := h.stats("E1"); st.Joined != 2 || st.Active != 1 || st.Waiting != 1 {
				t.Fatalf("stats = %+v, want 2 joined (one place per user)", st)
			}
			if h.post(first.SessionID, "leave") != http.StatusNoContent {
				t.Fatal("leave failed")
			}
			await.Until(t, 10*time.Second, "second user admitted", func() bool { return h.status(other.SessionID).Status == api.StatusActive })
			if h.join("E1", "U1").SessionID == first.SessionID {
				t.Fatal("join after leave returned the ended session")
			}
		})
	}
}

func TestBadInputIsRefusedWithProblemAndChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "memory", defaultOptions())
	long := strings.Repeat("a", room.MaxIDLen+1)
	max := strings.Repeat("a", room.MaxIDLen)
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		field       string
	}{
		{"missing eventId", "application/json", `{"userId":"U1"}`, 400, "eventId"},
		{"missing userId", "application/json", `{"eventId":"E1"}`, 400, "userId"},
		{"empty eventId", "application/json", `{"eventId":"","userId":"U1"}`, 400, "eventId"},
		{"empty userId", "application/json", `{"eventId":"E1","userId":""}`, 400, "userId"},
		{"eventId too long", "application/json", `{"eventId":"` + long + `","userId":"U1"}`, 400, "eventId"},
		{"userId too long", "application/json", `{"eventId":"E1","userId":"` + long + `"}`, 400, "userId"},
		{"space in eventId", "application/json", `{"eventId":"E 1","userId":"U1"}`, 400, "eventId"},
		{"slash in userId", "application/json", `{"eventId":"E1","userId":"U/1"}`, 400, "userId"},
		{"unicode in userId", "application/json", `{"eventId":"E1","userId":"Ü1"}`, 400, "userId"},
		{"null eventId", "application/json", `{"eventId":null,"userId":"U1"}`, 400, "eventId"},
		{"number eventId", "application/json", `{"eventId":1,"userId":"U1"}`, 400, "eventId"},
		{"object userId", "application/json", `{"eventId":"E1","userId":{}}`, 400, "userId"},
		{"unknown field", "application/json", `{"eventId":"E1","userId":"U1","admin":true}`, 400, "admin"},
		{"malformed JSON", "application/json", `{"eventId":"E1",`, 400, ""},
		{"not JSON", "application/json", `eventId=E1`, 400, ""},
		{"array body", "application/json", `[{"eventId":"E1","userId":"U1"}]`, 400, ""},
		{"null body", "application/json", `null`, 400, "eventId"},
		{"empty body", "application/json", ``, 400, ""},
		{"two objects", "application/json", `{"eventId":"E1","userId":"U1"}{"eventId":"E2","userId":"U2"}`, 400, ""},
		{"oversize body", "application/json", `{"eventId":"E1","userId":"U1","pad":"` + strings.Repeat("x", 8<<10) + `"}`, 413, ""},
		{"form content type", "application/x-www-form-urlencoded", `{"eventId":"E1","userId":"U1"}`, 415, ""},
		{"no content type", "", `{"eventId":"E1","userId":"U1"}`, 415, ""},
		{"text content type", "text/plain", `{"eventId":"E1","userId":"U1"}`, 415, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", api.SessionsPath, c.contentType, []byte(c.body))
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			p := problem(t, r)
			if p.Field != c.field {
				t.Fatalf("problem field %q, want %q (%+v)", p.Field, c.field, p)
			}
			if p.Detail == "" {
				t.Fatal("problem has no detail")
			}
		})
	}
	for _, ev := range []string{"E1", "E2", "E 1", long} {
		if st := h.stats(ev); st.Joined != 0 {
			t.Fatalf("bad input changed state: %+v", st)
		}
	}
	// The limits themselves are accepted.
	if s := h.join(max, "a.b_c:d-1"); s.EventID != max {
		t.Fatalf("join at the limits = %+v", s)
	}
}

func TestSessionEndpointsRefuseBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "memory", defaultOptions())
	s := h.join("E1", "U1")
	unknown := room.NewSessionID()
	cases := []struct {
		name, method, path string
		status             int
	}{
		{"status of unknown id", "GET", api.SessionsPath + "/" + unknown, 404},
		{"status of malformed id", "GET", api.SessionsPath + "/not-a-session", 404},
		{"heartbeat unknown", "POST", api.SessionsPath + "/" + unknown + ":heartbeat", 404},
		{"leave unknown", "POST", api.SessionsPath + "/" + unknown + ":leave", 404},
		{"unknown custom method", "POST", api.SessionsPath + "/" + s.SessionID + ":admit", 404},
		{"GET a custom method", "GET", api.SessionsPath + "/" + s.SessionID + ":leave", 405},
		{"DELETE a session", "DELETE", api.SessionsPath + "/" + s.SessionID, 405},
		{"GET the collection", "GET", api.SessionsPath, 405},
		{"unknown path", "GET", "/api/waiting-room/nothing", 404},
		{"deeper path", "GET", api.SessionsPath + "/" + s.SessionID + "/x", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.path, "", nil)
			if r.Status != c.status {
				t.Fatalf("%s %s = %d, want %d: %s", c.method, c.path, r.Status, c.status, r.Body)
			}
			problem(t, r)
			if c.status == 405 && r.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	if got := h.status(s.SessionID); got.Status != s.Status && got.Status != api.StatusActive {
		t.Fatalf("session changed to %s", got.Status)
	}
}

func TestHeartbeatAndLeave(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "memory", defaultOptions())
	s := h.join("E1", "U1")
	await.Until(t, 5*time.Second, "admitted", func() bool { return h.status(s.SessionID).Status == api.StatusActive })
	if c := h.post(s.SessionID, "heartbeat"); c != http.StatusNoContent {
		t.Fatalf("heartbeat = %d", c)
	}
	for range 2 { // leave is idempotent
		if c := h.post(s.SessionID, "leave"); c != http.StatusNoContent {
			t.Fatalf("leave = %d", c)
		}
	}
	got := h.status(s.SessionID)
	if got.Status != api.StatusLeft || got.EndedAt == nil || got.ExpiresAt != nil || got.Position != nil {
		t.Fatalf("after leave = %+v", got)
	}
	r := h.do("POST", api.SessionsPath+"/"+s.SessionID+":heartbeat", "", nil)
	if r.Status != http.StatusConflict {
		t.Fatalf("heartbeat after leave = %d, want 409", r.Status)
	}
	if p := problem(t, r); p.Code != api.CodeSessionEnded {
		t.Fatalf("problem = %+v", p)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend, defaultOptions())
			for _, path := range []string{"/healthz", "/readyz"} {
				if r := h.do("GET", path, "", nil); r.Status != http.StatusOK {
					t.Fatalf("%s = %d %s", path, r.Status, r.Body)
				}
			}
			r := h.do("GET", "/metrics", "", nil)
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "wrctl_joins_total") {
				t.Fatalf("/metrics = %d", r.Status)
			}
		})
	}
}

func TestReadinessFailsWhenTheQueueIsUnreachable(t *testing.T) {
	t.Parallel()
	dead := newHarnessOnDeadQueue(t)
	r := dead.do("GET", "/readyz", "", nil)
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("/readyz with the queue down = %d %s", r.Status, r.Body)
	}
	if !strings.Contains(string(r.Body), `"queue"`) {
		t.Fatalf("/readyz body does not name the queue: %s", r.Body)
	}
	problem(t, r)
}

func TestJoinAnswers503WhenTheQueueIsDownAndLeavesNoSession(t *testing.T) {
	t.Parallel()
	h := newHarnessOnDeadQueue(t)
	r := h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"E1","userId":"U1"}`))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("join with the queue down = %d (Retry-After %q): %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	problem(t, r)
	if st := h.stats("E1"); st.Joined != 0 || st.Waiting != 0 {
		t.Fatalf("a failed join left a session behind: %+v", st)
	}
}

func TestEventStatsEndpoint(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	h := newHarness(t, "memory", o)
	a := h.join("S1", "A")
	b := h.join("S1", "B")
	if a.Ticket != 1 || b.Ticket != 2 {
		t.Fatalf("tickets %d, %d; want 1, 2", a.Ticket, b.Ticket)
	}
	await.Until(t, 10*time.Second, "A admitted", func() bool { return h.status(a.SessionID).Status == api.StatusActive })
	r := h.do("GET", api.EventStatsPath("S1"), "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("stats = %d %s", r.Status, r.Body)
	}
	st := decode[api.EventStats](t, r.Body)
	if st.EventID != "S1" || st.Capacity != 1 || st.Active != 1 || st.Waiting != 1 || st.Joined != 2 || st.Admitted != 1 || st.PeakActive != 1 || st.AdmissionRate <= 0 || st.EstimatedWaitSeconds == nil {
		t.Fatalf("stats = %+v", st)
	}
	if r := h.do("GET", api.EventStatsPath("nobody"), "", nil); r.Status != http.StatusOK || decode[api.EventStats](t, r.Body).Joined != 0 {
		t.Fatalf("stats of an unused event = %d %s", r.Status, r.Body)
	}
	if h.post(b.SessionID, "leave") != http.StatusNoContent {
		t.Fatal("leave")
	}
	if st := decode[api.EventStats](t, h.do("GET", api.EventStatsPath("S1"), "", nil).Body); st.Waiting != 0 || st.EstimatedWaitSeconds != nil {
		t.Fatalf("stats with nobody waiting = %+v, want no estimated wait", st)
	}
	if r := h.do("GET", "/api/waiting-room/events/bad%20id/stats", "", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("stats of a bad id = %d", r.Status)
	} else {
		problem(t, r)
	}
	if r := h.do("POST", api.EventStatsPath("S1"), "", nil); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST stats = %d", r.Status)
	}
	h.join("A0", "x")
	r = h.do("GET", api.EventsPath, "", nil)
	list := decode[api.EventList](t, r.Body)
	if r.Status != http.StatusOK || list.Total != 2 || len(list.Events) != 2 || list.Events[0].EventID != "A0" || list.Events[1].Joined != 2 {
		t.Fatalf("events = %d %+v", r.Status, list)
	}
	if r := h.do("GET", api.EventsPath+"?limit=1", "", nil); len(decode[api.EventList](t, r.Body).Events) != 1 {
		t.Fatalf("limit=1: %s", r.Body)
	}
	if r := h.do("GET", api.EventsPath+"?limit=0", "", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("limit=0 = %d", r.Status)
	}
}

// TestSmallEdgesOfInput checks the edges found with the guarantees: exact
// key case, duplicate keys, non-ASCII ids named as characters, /metrics by
// GET only, the Bearer scheme in any case, and 413 from the declared length.
func TestSmallEdgesOfInput(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.server.AdminToken = adminToken
	h := newHarness(t, "memory", o)
	for _, c := range []struct{ body, want string }{
		{`{"EVENTID":"E1","userId":"U1"}`, `did you mean \"eventId\"`},
		{`{"eventId":"E1","eventId":"E2","userId":"U1"}`, `duplicate key \"eventId\"`},
		{`{"eventId":"Eü","userId":"U1"}`, `'ü'`},
	} {
		r := h.do("POST", api.SessionsPath, "application/json", []byte(c.body))
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), c.want) {
			t.Fatalf("%s: %d %s, want 400 saying %s", c.body, r.Status, r.Body, c.want)
		}
	}
	if st := h.stats("E1"); st.Joined != 0 {
		t.Fatalf("refused joins changed the store: %+v", st)
	}
	if r := h.do("POST", "/metrics", "", nil); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics = %d", r.Status)
	}
	req, _ := http.NewRequest("GET", h.URL+api.AdminEventsPath, nil)
	req.Header.Set("Authorization", "bearer "+adminToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("lower-case bearer scheme: %v %v", resp.StatusCode, err)
	}
	// A declared length over the limit is refused before the body is sent.
	req, _ = http.NewRequest("POST", h.URL+api.SessionsPath, nil)
	req.ContentLength = 1 << 20
	req.Header.Set("Content-Type", "application/json")
	arrived := make(chan struct{})
	defer close(arrived) // lets the client's body writer go
	req.Body = io.NopCloser(blockingReader{arrived})
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared 1 MiB body: %v %v, want 413 at once", resp, err)
	}
	resp.Body.Close()
}

// blockingReader is a request body that does not arrive until done closes.
type blockingReader struct{ done chan struct{} }

func (b blockingReader) Read([]byte) (int, error) {
	<-b.done
	return 0, io.EOF
}

// TestSiteSignedUserTokenProvesARejoin: with user tokens configured, a join
// carrying the site's token for that user gets the live session back
// without the first join's key; a token for someone else, or a forged one,
// is refused and changes nothing.
func TestSiteSignedUserTokenProvesARejoin(t *testing.T) {
	t.Parallel()
	site := []byte("site-signing-secret-site-signing-secret")
	v, err := usertoken.New(usertoken.Config{Secret: site})
	if err != nil {
		t.Fatal(err)
	}
	o := defaultOptions()
	o.noGranter = true
	o.server.UserTokens = v
	h := newHarness(t, "memory", o)
	token := func(secret []byte, sub string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	body := []byte(`{"eventId":"E1","userId":"alice"}`)
	first := h.join("E1", "alice") // with its key, from the first device
	for _, c := range []struct {
		name, auth string
		status     int
	}{
		{"forged", "Bearer " + token([]byte("not-the-site-secret-not-the-site-secret"), "alice"), http.StatusUnauthorized},
		{"another user's", "Bearer " + token(site, "mallory"), http.StatusForbidden},
		{"not a bearer token", "Basic YWxpY2U6eA==", http.StatusUnauthorized},
	} {
		r := h.doWith("POST", api.SessionsPath, "application/json", body, http.Header{"Authorization": {c.auth}})
		if r.Status != c.status || strings.Contains(string(r.Body), first.SessionID) {
			t.Fatalf("%s token: %d %s, want %d without the session", c.name, r.Status, r.Body, c.status)
		}
		problem(t, r)
	}
	// A second device of the same user, signed in on the site, no key.
	r := h.doWith("POST", api.SessionsPath, "application/json", body, http.Header{"Authorization": {"Bearer " + token(site, "alice")}})
	if r.Status != http.StatusAccepted || decode[api.Session](t, r.Body).SessionID != first.SessionID {
		t.Fatalf("re-join with the site's token for alice: %d %s, want 202 with %s", r.Status, r.Body, first.SessionID)
	}
	if st := h.stats("E1"); st.Joined != 1 {
		t.Fatalf("stats = %+v, want one place", st)
	}
}
