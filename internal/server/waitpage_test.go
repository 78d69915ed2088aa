package server_test

import (
	"bufio"
	"context"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/server"
)

// browserClient is a cookie-keeping client that does not follow redirects,
// so a test sees where the page sends it, and asks as a browser's
// top-level navigation does (navigator).
func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: navigator{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// navigator sends a request as a browser's direct top-level navigation
// (Accept: text/html and Fetch Metadata) unless the test set Accept.
type navigator struct{}

func (navigator) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Accept") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		r.Header.Set("Sec-Fetch-Mode", "navigate")
		r.Header.Set("Sec-Fetch-Dest", "document")
		r.Header.Set("Sec-Fetch-Site", "none")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func fetch(t *testing.T, c *http.Client, rawURL string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestTheWaitingPageSaysWhereTheEventStands: the page's words follow the
// event's schedule and settings (not open yet, the pre-queue's draw,
// paused, sold out, ended), with the HTTP status to match; a reload keeps
// the place; the page is one response under a strict CSP.
func TestTheWaitingPageSaysWhereTheEventStands(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	o.server.AdminToken = adminToken
	h := newHarness(t, "memory", o)
	page := func(c *http.Client, event string) (*http.Response, string) {
		return fetch(t, c, h.URL+"/wait/"+event+"?return=/shop")
	}
	opens := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	putSettings(t, h, "SOON", fmt.Sprintf(`{"opensAt":%q}`, rfc(opens)))
	if resp, body := page(browserClient(), "SOON"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "The line is not open yet.") ||
		!strings.Contains(body, opens.Format("15:04 MST")) {
		t.Fatalf("before opensAt: %d\n%s", resp.StatusCode, body)
	}

	putSettings(t, h, "DRAW", fmt.Sprintf(`{"startsAt":%q}`, rfc(opens)))
	resp, body := page(browserClient(), "DRAW")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "at random") || !strings.Contains(body, `data-countdown="`+opens.Format(time.RFC3339)+`"`) {
		t.Fatalf("in the pre-queue: %d\n%s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(body, "<script src") || strings.Contains(body, "<link") {
		t.Fatalf("the page is not self-contained under a strict CSP: %q", csp)
	}

	// Someone inside, then a second in line: the place is kept on reload.
	first, second := browserClient(), browserClient()
	await.Until(t, 10*time.Second, "the first admitted", func() bool {
		resp, _ := page(first, "E")
		return resp.StatusCode == http.StatusSeeOther
	})
	_, body = page(second, "E")
	_, again := page(second, "E")
	if !strings.Contains(body, `id="position">1<`) || !strings.Contains(again, `id="position">1<`) || h.stats("E").Joined != 2 {
		t.Fatalf("the second's place after a reload:\n%s", again)
	}
	putSettings(t, h, "E", `{"paused":true}`)
	if _, body := page(second, "E"); !strings.Contains(body, "Entry is paused") {
		t.Fatalf("paused:\n%s", body)
	}
	putSettings(t, h, "E", `{"queueingMethod":"reject","message":"Sold out - thank you"}`)
	if resp, body := page(second, "E"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Sold out - thank you") {
		t.Fatalf("sold out: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := page(browserClient(), "E"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Sold out - thank you") {
		t.Fatalf("a newcomer when sold out: %d\n%s", resp.StatusCode, body)
	}
	ends := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	putSettings(t, h, "OVER", fmt.Sprintf(`{"startsAt":%q,"endsAt":%q}`, rfc(ends.Add(-time.Hour)), rfc(ends)))
	if resp, body := page(browserClient(), "OVER"); resp.StatusCode != http.StatusGone || !strings.Contains(body, "This event has ended.") {
		t.Fatalf("ended: %d\n%s", resp.StatusCode, body)
	}
}

// TestTheWaitingPageReturnsTheAdmitted: a path on this site gets the
// token as an HttpOnly, SameSite cookie (Secure behind a trusted proxy on
// TLS), an allowed origin gets it as a parameter, and any other address is
// refused.
func TestTheWaitingPageReturnsTheAdmitted(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.server.Page.ReturnOrigins = []string{"https://shop.example.com"}
	o.server.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	h := newHarness(t, "memory", o)
	admitted := func(c *http.Client, ret string, hdr ...string) *http.Response {
		var resp *http.Response
		await.Until(t, 10*time.Second, "admitted", func() bool {
			resp, _ = fetch(t, c, h.URL+"/wait/R?return="+url.QueryEscape(ret), hdr...)
			return resp.StatusCode == http.StatusSeeOther
		})
		return resp
	}
	resp := admitted(browserClient(), "/checkout?step=1", "X-Forwarded-Proto", "https")
	if loc := resp.Header.Get("Location"); loc != "/checkout?step=1" {
		t.Fatalf("sent to %q", loc)
	}
	var tok *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == server.TokenCookie {
			tok = c
		}
	}
	if tok == nil || !tok.HttpOnly || !tok.Secure || tok.SameSite != http.SameSiteLaxMode || tok.Path != "/" {
		t.Fatalf("token cookie = %+v", tok)
	}
	resp = admitted(browserClient(), "https://shop.example.com/cart")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Host != "shop.example.com" || loc.Query().Get(server.TokenParam) == "" {
		t.Fatalf("to another origin: %q", resp.Header.Get("Location"))
	}
	// Without a return address (and no gate), the page says it is the
	// user's turn and holds the token in a cookie.
	c := browserClient()
	var body string
	await.Until(t, 10*time.Second, "admitted without a return address", func() bool {
		_, body = fetch(t, c, h.URL+"/wait/R")
		return strings.Contains(body, "It is your turn.")
	})
	u, _ := url.Parse(h.URL)
	if ck := c.Jar.Cookies(u); !slices.ContainsFunc(ck, func(c *http.Cookie) bool { return c.Name == server.TokenCookie && c.Value != "" }) {
		t.Fatalf("no token cookie with the page that says it is the user's turn: %v", ck)
	}
	for _, bad := range []string{"https://evil.example.com/", "//evil.example.com/", "javascript:alert(1)", "/\\evil.example.com"} {
		if resp, _ := fetch(t, browserClient(), h.URL+"/wait/R?return="+url.QueryEscape(bad)); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("return %q = %d, want 400", bad, resp.StatusCode)
		}
	}
}

// TestAPageTemplateBrandsThePage: an operator's html/template replaces the
// page and gets the same fields.
func TestAPageTemplateBrandsThePage(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.policy.Capacity = 1
	o.server.Page.Template = template.Must(template.New("p").Parse(
		`<html><body><h1>ACME {{.Title}}</h1><p id="state">{{.State}} {{.Position}}</p><style nonce="{{.Nonce}}"></style></body></html>`))
	o.server.Page.Title = "Drop"
	h := newHarness(t, "memory", o)
	await.Until(t, 10*time.Second, "someone inside", func() bool {
		resp, _ := fetch(t, browserClient(), h.URL+"/wait/T")
		return resp.StatusCode == http.StatusOK && h.stats("T").Active == 1
	})
	if _, body := fetch(t, browserClient(), h.URL+"/wait/T"); !strings.Contains(body, "ACME Drop") || !strings.Contains(body, `<p id="state">waiting `) {
		t.Fatalf("the operator's template:\n%s", body)
	}
}

// TestTheGatePassesWebSockets: an admitted user's WebSocket upgrade reaches
// the origin, and bytes flow both ways.
func TestTheGatePassesWebSockets(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get(gate.HeaderUser) == "" {
			http.Error(w, "want an admitted upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo " + line)
		rw.Flush()
	}))
	t.Cleanup(up.Close)
	h := newGate(t, up.URL, 30*time.Second)
	c := admittedAtGate(t, h, "/socket")
	u, _ := url.Parse(h.URL)
	var tok string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == server.TokenCookie {
			tok = ck.Value
		}
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /socket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: %s=%s\r\n\r\n", u.Host, server.TokenCookie, tok)
	br := bufio.NewReader(conn)
	status, _ := br.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("upgrade through the gate: %q", status)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	fmt.Fprintf(conn, "hello\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if echo, err := br.ReadString('\n'); err != nil || echo != "echo hello\n" {
		t.Fatalf("through the upgraded connection: %q %v", echo, err)
	}
}

// TestTheGateStreams: a server-sent event reaches the admitted browser
// while the origin's response is still open (the origin sends its second
// event only after the client has read the first).
func TestTheGateStreams(t *testing.T) {
	t.Parallel()
	read := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/events" {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-read:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: second\n\n")
	}))
	t.Cleanup(up.Close)
	h := newGate(t, up.URL, 30*time.Second)
	c := admittedAtGate(t, h, "/events")
	// A proxy that buffered the stream would hold the first event back
	// until the origin's second, which waits for the first to be read:
	// the deadline turns that deadlock into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.URL+"/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, err := br.ReadString('\n'); err != nil || l != "data: first\n" {
		t.Fatalf("first event through the gate: %q %v", l, err)
	}
	close(read)
	br.ReadString('\n')
	if l, err := br.ReadString('\n'); err != nil || l != "data: second\n" {
		t.Fatalf("second event: %q %v", l, err)
	}
}
