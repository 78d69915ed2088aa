package server_test

import (
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/sqstest"
)

// scrape reads /metrics and returns each sample by "name{labels}".
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	r := h.do("GET", "/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics = %d", r.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count{"+strings.Join(labels, ",")+"}"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsFollowAJoinAdmitLeaveSequence(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	h := newHarness(t, "memory", o)
	a, b := h.join("M1", "a"), h.join("M1", "b")
	h.join("M1", "a") // the same user again: an existing place
	await.Until(t, 10*time.Second, "a admitted", func() bool { return h.status(a.SessionID).Status == api.StatusActive })
	if h.post(a.SessionID, "leave") != http.StatusNoContent {
		t.Fatal("leave")
	}
	await.Until(t, 10*time.Second, "b admitted", func() bool { return h.status(b.SessionID).Status == api.StatusActive })
	m := scrape(t, h)
	want := map[string]float64{
		`wrctl_joins_total{result=created}`:                                           2,
		`wrctl_joins_total{result=existing}`:                                          1,
		`wrctl_granter_decisions_total{outcome=admitted}`:                             1, // a was admitted at its join
		`wrctl_join_to_admission_seconds_count{}`:                                     2,
		`wrctl_event_active{event=M1}`:                                                1,
		`wrctl_event_waiting{event=M1}`:                                               0,
		`wrctl_event_capacity{event=M1}`:                                              1,
		`wrctl_event_joins_total{event=M1}`:                                           2,
		`wrctl_event_admissions_total{event=M1}`:                                      2,
		`wrctl_event_leaves_total{event=M1}`:                                          1,
		`wrctl_event_expiries_total{event=M1,reason=heartbeat}`:                       0,
		`wrctl_http_requests_total{code=202,route=/api/waiting-room/sessions}`:        3,
		`wrctl_http_request_duration_seconds_count{route=/api/waiting-room/sessions}`: 3,
		`wrctl_store_requests_total{op=join,outcome=ok}`:                              3,
		`wrctl_store_requests_total{op=leave,outcome=ok}`:                             1,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for _, k := range []string{`wrctl_sqs_requests_total{action=send,outcome=ok}`, `wrctl_sqs_requests_total{action=delete,outcome=ok}`,
		`wrctl_store_requests_total{op=grant,outcome=ok}`} {
		if m[k] < 1 {
			t.Errorf("%s = %v, want at least 1", k, m[k])
		}
	}
	if _, ok := m[`wrctl_granter_loop_lag_seconds_count{}`]; !ok {
		t.Error("no granter loop lag histogram")
	}
	for k := range m {
		if strings.Contains(k, a.SessionID) || strings.Contains(k, "user") {
			t.Fatalf("a session or user id in a label: %s", k)
		}
	}
}

func TestRequestIDsAndLogsWithoutSecrets(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var logs bytes.Buffer
	o := defaultOptions()
	o.log = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	h := newHarness(t, "memory", o)
	s := h.join("L1", "u")
	r := h.do("GET", api.SessionsPath+"/"+s.SessionID, "", nil)
	if id := r.Header.Get("X-Request-Id"); len(id) != 16 {
		t.Fatalf("X-Request-Id = %q", id)
	}
	req, _ := http.NewRequest("GET", h.URL+"/healthz", nil)
	req.Header.Set("X-Request-Id", "lb-abc.123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") != "lb-abc.123" {
		t.Fatalf("the load balancer's request id was not kept: %q", resp.Header.Get("X-Request-Id"))
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "request_id=lb-abc.123") || !strings.Contains(out, "route=/api/waiting-room/sessions/{seg}") {
		t.Fatalf("request logs:\n%s", out)
	}
	if strings.Contains(out, s.SessionID) {
		t.Fatalf("a session id (a bearer secret) was logged:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

const adminToken = "admin-token-for-tests-0123"

func adminDo(h *harness, method, path, token, body string) response {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return response{resp.StatusCode, resp.Header, b.Bytes()}
}

func TestAdminAPIIsOffWithoutAToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "memory", defaultOptions())
	if r := adminDo(h, "GET", api.AdminEventsPath, "anything", ""); r.Status != http.StatusNotFound {
		t.Fatalf("admin API without a token configured = %d", r.Status)
	}
}

func TestAdminAPIChangesCapacityLive(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	o.granter.Tick = slowTick // only the settings' wake-up may admit
	o.server.AdminToken = adminToken
	h := newHarness(t, "memory", o)
	path := api.AdminEventsPath + "/LIVE"
	for _, tok := range []string{"", "wrong-token-wrong-token"} {
		r := adminDo(h, "GET", path, tok, "")
		if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("token %q: %d", tok, r.Status)
		}
		problem(t, r)
	}
	a, b, c := h.join("LIVE", "a"), h.join("LIVE", "b"), h.join("LIVE", "c")
	await.Until(t, 10*time.Second, "a admitted", func() bool { return h.status(a.SessionID).Status == api.StatusActive })
	r := adminDo(h, "PUT", path, adminToken, `{"capacity":2}`)
	if r.Status != http.StatusOK {
		t.Fatalf("PUT = %d %s", r.Status, r.Body)
	}
	ev := decode[api.AdminEvent](t, r.Body)
	if ev.Settings.Capacity != 2 || ev.Effective.Capacity != 2 || ev.Effective.HeartbeatTTL != o.policy.HeartbeatTTL {
		t.Fatalf("PUT answer = %+v", ev)
	}
	await.Until(t, 5*time.Second, "b admitted right after the raise", func() bool { return h.status(b.SessionID).Status == api.StatusActive })
	if h.status(c.SessionID).Status != api.StatusWaiting {
		t.Fatal("c admitted past the raised capacity")
	}
	// Paused keeps the line; unpausing with more room admits at once.
	if r := adminDo(h, "PUT", path, adminToken, `{"capacity":3,"paused":true}`); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	if st := h.stats("LIVE"); !st.Paused || st.Waiting != 1 {
		t.Fatalf("stats while paused = %+v", st)
	}
	if r := adminDo(h, "PUT", path, adminToken, `{"capacity":3,"paused":false}`); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	await.Until(t, 5*time.Second, "c admitted on unpause", func() bool { return h.status(c.SessionID).Status == api.StatusActive })
	got := decode[api.AdminEvent](t, adminDo(h, "GET", path, adminToken, "").Body)
	if got.Stats.Active != 3 || got.Settings.Capacity != 3 {
		t.Fatalf("GET = %+v", got)
	}
	list := adminDo(h, "GET", api.AdminEventsPath, adminToken, "")
	if list.Status != http.StatusOK || !strings.Contains(string(list.Body), `"eventId":"LIVE"`) {
		t.Fatalf("list = %d %s", list.Status, list.Body)
	}
	for _, bad := range []string{`{"capacity":-1}`, `{"heartbeatTTL":"soon"}`, `{"waitingTTL":"10ms"}`, `{"capacity":"two"}`, `{"cap":1}`, `not json`} {
		if r := adminDo(h, "PUT", path, adminToken, bad); r.Status != http.StatusBadRequest {
			t.Fatalf("PUT %s = %d", bad, r.Status)
		}
	}
	if got := decode[api.AdminEvent](t, adminDo(h, "GET", path, adminToken, "").Body); got.Settings.Capacity != 3 {
		t.Fatalf("a refused PUT changed the settings: %+v", got.Settings)
	}
}

func TestUnknownEventsCanBeRefused(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.server.RefuseUnknownEvents = true
	o.server.KnownEvents = []string{"CONF"}
	o.server.AdminToken = adminToken
	h := newHarness(t, "memory", o)
	r := h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"NEW","userId":"u"}`))
	if r.Status != http.StatusNotFound || problem(t, r).Code != api.CodeUnknownEvent {
		t.Fatalf("join to an unknown event = %d %s", r.Status, r.Body)
	}
	h.join("CONF", "u")
	if r := adminDo(h, "PUT", api.AdminEventsPath+"/NEW", adminToken, `{"capacity":5}`); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	h.join("NEW", "u")
}

func TestJoinRateLimitPerIP(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true
	o.server.JoinRatePerIP = 2
	o.server.JoinBurstPerIP = 2
	o.server.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	h := newHarness(t, "memory", o)
	join := func(user, xff string) response {
		req, _ := http.NewRequest("POST", h.URL+api.SessionsPath, strings.NewReader(`{"eventId":"R1","userId":"`+user+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return response{resp.StatusCode, resp.Header, b.Bytes()}
	}
	for i := range 2 {
		if r := join("u"+strconv.Itoa(i), "203.0.113.7"); r.Status != http.StatusAccepted {
			t.Fatalf("join %d within the burst = %d", i, r.Status)
		}
	}
	r := join("u2", "203.0.113.7")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || problem(t, r).Code != api.CodeRateLimited {
		t.Fatalf("join past the limit = %d (Retry-After %q) %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if st := h.stats("R1"); st.Joined != 2 {
		t.Fatalf("a limited join changed state: %+v", st)
	}
	// Another client behind the same trusted proxy has its own bucket.
	if r := join("v0", "198.51.100.9, 203.0.113.7"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("the rightmost untrusted hop decides: got %d", r.Status)
	}
	if r := join("v1", "198.51.100.9"); r.Status != http.StatusAccepted {
		t.Fatalf("another client = %d", r.Status)
	}
	await.Until(t, 5*time.Second, "the limit recovers", func() bool { return join("u3", "203.0.113.7").Status == http.StatusAccepted })
}

func TestMaxWaitingRefusesJoinsWith503(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.noGranter = true
	o.policy.MaxWaiting = 2
	h := newHarness(t, "memory", o)
	first := h.join("F1", "a")
	h.join("F1", "b")
	r := h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"F1","userId":"c"}`))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || problem(t, r).Code != api.CodeLineFull {
		t.Fatalf("join past maxWaiting = %d %s", r.Status, r.Body)
	}
	if again := h.join("F1", "a"); again.SessionID != first.SessionID {
		t.Fatal("a user in line lost the place to the limit")
	}
	if st := h.stats("F1"); st.Joined != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

// switchProxy forwards TCP to target while up; Down closes it and every
// connection, Up listens again on the same address: an SQS outage and its end.
type switchProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	p := &switchProxy{t: t, target: target}
	p.Up()
	t.Cleanup(p.Down)
	return p
}

func (p *switchProxy) Up() {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after Down
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // retrying the bind
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { defer c.Close(); defer u.Close(); copyConn(u, c) }()
			go func() { defer c.Close(); defer u.Close(); copyConn(c, u) }()
		}
	}()
}

func (p *switchProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func copyConn(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestSQSOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	url := emu.NewQueue(t, true, nil)
	proxy := newSwitchProxy(t, strings.TrimPrefix(emu.URL, "http://"))
	client := sqs.New(sqs.Options{
		Region: sqstest.Region, BaseEndpoint: aws.String("http://" + proxy.addr),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	o := defaultOptions()
	o.noGranter = true
	o.queue = sqsqueue.New(client, url)
	h := newHarness(t, "sqs", o)
	h.join("Q1", "before")
	proxy.Down()
	r := h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"Q1","userId":"during"}`))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("join with SQS down = %d %s", r.Status, r.Body)
	}
	if st := h.stats("Q1"); st.Joined != 1 || st.Waiting != 1 {
		t.Fatalf("the refused join left a session: %+v", st)
	}
	proxy.Up()
	await.Until(t, 20*time.Second, "joins succeed once SQS is back", func() bool {
		return h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"Q1","userId":"during"}`)).Status == http.StatusAccepted
	})
	if st := h.stats("Q1"); st.Joined != 2 {
		t.Fatalf("stats after recovery = %+v", st)
	}
}

// TestAdminGetOfAnUnknownEventIs404: an event neither configured, nor
// given settings, nor joined is 404 unknown_event, not a made-up idle
// event; once it has settings, or a session, it is known.
func TestAdminGetOfAnUnknownEventIs404(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.server.AdminToken = adminToken
	o.server.KnownEvents = []string{"CONF"}
	h := newHarness(t, "memory", o)
	r := adminDo(h, "GET", api.AdminEventsPath+"/NOPE", adminToken, "")
	if p := problem(t, r); r.Status != http.StatusNotFound || p.Code != api.CodeUnknownEvent || !strings.Contains(p.Detail, "event set NOPE") {
		t.Fatalf("GET of an unknown event = %d %s", r.Status, r.Body)
	}
	if r := adminDo(h, "GET", api.AdminEventsPath+"/CONF", adminToken, ""); r.Status != http.StatusOK {
		t.Fatalf("GET of a configured event = %d %s", r.Status, r.Body)
	}
	h.join("JOINED", "a")
	if r := adminDo(h, "GET", api.AdminEventsPath+"/JOINED", adminToken, ""); r.Status != http.StatusOK {
		t.Fatalf("GET of a joined event = %d %s", r.Status, r.Body)
	}
	if r := adminDo(h, "PUT", api.AdminEventsPath+"/NOPE", adminToken, `{"capacity":3}`); r.Status != http.StatusOK {
		t.Fatalf("PUT of a new event = %d %s", r.Status, r.Body)
	}
	if r := adminDo(h, "GET", api.AdminEventsPath+"/NOPE", adminToken, ""); r.Status != http.StatusOK {
		t.Fatalf("GET of an event with settings = %d %s", r.Status, r.Body)
	}
}
