package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wrctl/wrctl/internal/await"
)

// site is an origin behind the gate that routes the way nginx does: it
// decodes the path once, removes dot segments and folds slashes, then
// serves a guarded page unless the path is under one of its public
// prefixes. It records every request it serves, so a test sees what the
// gate forwarded.
type site struct {
	*httptest.Server
	public []string // prefixes served to anyone
	only   []string // if set, the only guarded paths (and what is below them)
	fold   bool     // routes without regard to case, as IIS does
	mu     sync.Mutex
	seen   []seenRequest
}

type seenRequest struct {
	Path    string
	Guarded bool
	Header  http.Header
}

func newSite(t *testing.T, fold bool, only []string, public ...string) *site {
	s := &site{public: public, only: only, fold: fold}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// nginxPath is the path as nginx routes it.
func nginxPath(raw string) string {
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return raw
	}
	p := path.Clean("/" + dec)
	if strings.HasSuffix(dec, "/") && p != "/" {
		p += "/"
	}
	return p
}

func (s *site) guarded(p string) bool {
	if s.fold {
		p = strings.ToLower(p)
	}
	if len(s.only) > 0 {
		for _, o := range s.only {
			if p == o || strings.HasPrefix(p, o+"/") {
				return true
			}
		}
		return false
	}
	for _, pub := range s.public {
		if strings.HasPrefix(p, pub) {
			return false
		}
	}
	return true
}

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	p := nginxPath(r.URL.EscapedPath())
	req := seenRequest{Path: p, Guarded: s.guarded(p), Header: r.Header.Clone()}
	s.mu.Lock()
	s.seen = append(s.seen, req)
	s.mu.Unlock()
	w.Header().Set("X-Site", "1")
	switch {
	case strings.HasSuffix(p, "/public-cache"):
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("CDN-Cache-Control", "max-age=600")
	case strings.HasSuffix(p, "/no-store"):
		w.Header().Set("Cache-Control", "no-store")
	case strings.HasSuffix(p, "/ws"):
		echo(w, r)
		return
	case strings.HasSuffix(p, "/events"):
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		s.stream(w, r)
		return
	}
	fmt.Fprintf(w, "site page %s", p)
}

// stream writes a server-sent event every 200ms until the client goes.
func (s *site) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
			return
		}
		rc.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

// unvouched lists the guarded paths the site served without the gate
// vouching for the request (no session header).
func (s *site) unvouched() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.seen {
		if r.Guarded && r.Header.Get("X-Wrctl-Session-Id") == "" {
			out = append(out, r.Path)
		}
	}
	return out
}

func (s *site) last() seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[len(s.seen)-1]
}

// navigate sets the headers of a browser's direct top-level navigation.
func navigate(h http.Header) {
	h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	h.Set("Sec-Fetch-Mode", "navigate")
	h.Set("Sec-Fetch-Dest", "document")
	h.Set("Sec-Fetch-Site", "none")
}

// visitor is a browser-like client of the gate: cookies, navigations, no
// redirect followed unless asked.
type visitor struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newVisitor(t *testing.T, base string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (v *visitor) get(p string, hdr ...string) (*http.Response, string) {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodGet, v.base+p, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	navigate(req.Header)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (v *visitor) cookie(name string) string {
	u, _ := url.Parse(v.base)
	for _, c := range v.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// admit waits in line at p until the gate lets the visitor through to
// the site, and returns the site's page.
func (v *visitor) admit(p string) string {
	v.t.Helper()
	var body string
	await.Until(v.t, 20*time.Second, "let through "+p, func() bool {
		resp, b := v.get(p)
		if resp.StatusCode == http.StatusSeeOther {
			resp, b = v.get(resp.Header.Get("Location"))
		}
		body = b
		return resp.Header.Get("X-Site") == "1"
	})
	return body
}

// raw sends a request target exactly as written (no client clean-up) and
// returns the status code.
func raw(t *testing.T, base, target string, hdr ...string) int {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", target, u.Host)
	if len(hdr) == 0 || !strings.EqualFold(hdr[0], "Accept") {
		hdr = append([]string{"Accept", "text/html"}, hdr...)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(conn, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	fmt.Fprint(conn, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hostilePaths try to reach /account (guarded) by way of /static/ or
// /health (public), or to climb out of the site.
var hostilePaths = []string{
	"/static/../account", "/static/%2e%2e/account", "/static/%2E%2E/account", "/static/.%2e/account",
	"/static/%2e./account", "/static/..%2faccount", "/static/..%2Faccount", "/static%2f..%2faccount",
	"/static%2F..%2F..%2Faccount", "/static/%2e%2e%2faccount", "/static/..%5caccount", "/static/..%5Caccount",
	`/static/..\account`, "/static/%252e%252e/account", "/static/%252e%252e%252faccount", "/static/..;/account",
	"/static/.;/../account", "/static/..;jsessionid=1/account", "/static//../account", "//static/../account",
	"/static/./../account", "/./static/../account", "/static/x/../../account", "/static/%c0%ae%c0%ae/account",
	"/static/%00/../account", "/static/..%00/account", "/static/..%09/account", "/static/%2e%2e%3b/account",
	"/static/../../account", "/%2e%2e/account", "/health/../account", "/health/%2e%2e/account",
	"/healthz/../account", "/wait/../account", "/wait/%2e%2e/account", "/api/waiting-room/../../account",
	"/STATIC/../account", "/Static/%2e%2e/account", "/static/.%2E/account", "/static/%2e%2e//account",
	"/static/..%2f%2faccount", "/account", "/Account", "/account/", "/account/../account",
}

// TestTheGateRoutesOnTheSitesPath: no hostile spelling of a path reaches
// a guarded page of a site that routes like nginx without a token; the
// site sees the path the gate decided on. With --gate-case-insensitive,
// a site that routes without regard to case is guarded the same way.
func TestTheGateRoutesOnTheSitesPath(t *testing.T) {
	t.Parallel()
	origin := newSite(t, false, nil, "/static/", "/health")
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "SHOP",
		"--gate-exclude", "/static/", "--gate-exclude", "/health")
	for _, p := range hostilePaths {
		code := raw(t, s.URL, p, "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image")
		if bad := origin.unvouched(); len(bad) > 0 {
			t.Fatalf("%s (%d) reached the guarded %v with no token", p, code, bad)
		}
		if code == http.StatusOK {
			if got := origin.last().Path; origin.guarded(got) {
				t.Fatalf("%s was forwarded as the guarded %s", p, got)
			}
		}
	}
	// What a plain visitor asks for still works, on the path it means.
	if code := raw(t, s.URL, "/static/./css/../app.css"); code != http.StatusOK || origin.last().Path != "/static/app.css" {
		t.Fatalf("a public asset: %d, the site saw %q", code, origin.last().Path)
	}
	// An encoded dot segment is decided on as the site reads it (guarded:
	// a machine gets 503); a spelling sites read in different ways is 400.
	if code := raw(t, s.URL, "/static/%2e%2e/account", "Accept", "application/json"); code != http.StatusServiceUnavailable {
		t.Fatalf("an encoded dot segment = %d, want 503 (guarded)", code)
	}
	for _, p := range []string{`/static/..%5caccount`, "/static/%252e%252e/account", "/static/..;/account"} {
		if code := raw(t, s.URL, p); code != http.StatusBadRequest {
			t.Fatalf("%s = %d, want 400", p, code)
		}
	}

	// A site that ignores case, behind a gate told so.
	folding := newSite(t, true, []string{"/account", "/checkout"})
	g := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", folding.URL, "--gate-route", "/account=SHOP",
		"--gate-route", "/checkout=SHOP", "--gate-case-insensitive")
	for _, p := range []string{"/ACCOUNT", "/Account/orders", "/aCcOuNt/../checkout", "/CHECKOUT%2f", "/%41ccount", "/account"} {
		code := raw(t, g.URL, p, "Accept", "application/json")
		if bad := folding.unvouched(); len(bad) > 0 {
			t.Fatalf("case-insensitive: %s (%d) reached %v with no token", p, code, bad)
		}
	}
}

// TestTheSiteSeesOnlyWhatTheGateVouchesFor: every client spelling of the
// gate's identity headers (any case, _ for -) is removed; the site's own
// cookies pass byte for byte and the room's do not; X-Forwarded-* are
// appended to only from a trusted proxy; the user id of a browser is a
// pseudonym the browser id does not appear in, marked unverified; a user
// proven by a site-signed user token is marked verified.
func TestTheSiteSeesOnlyWhatTheGateVouchesFor(t *testing.T) {
	t.Parallel()
	origin := newSite(t, false, nil, "/static/")
	const userSecret = "a-user-token-secret-of-32-bytes!!"
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "SHOP",
		"--trusted-proxies", "127.0.0.2/32", "--user-token-secret", userSecret, "--token-secret", strings.Repeat("k", 32))
	v := newVisitor(t, s.URL)
	v.admit("/")
	token, uid := v.cookie("wrctl_token"), v.cookie("wrctl_uid")
	if token == "" || uid == "" {
		t.Fatalf("no token or browser id after admission: %q %q", token, uid)
	}

	send := func(from string, hdr http.Header) seenRequest {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/account", nil)
		req.Header = hdr
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Site") != "1" {
			t.Fatalf("an admitted request was not let through: %d", resp.StatusCode)
		}
		return origin.last()
	}
	cookies := `theme=dark; cart="a,b c"; wrctl_token=` + token + `; odd=%zz{"j":1}; wrctl_uid=` + uid + `; =novalue; last=1`
	hdr := http.Header{}
	hdr["Cookie"] = []string{cookies}
	for _, k := range []string{"X-Wrctl-User-Id", "x-wrctl-user-id", "X_Wrctl_User_Id", "X-WRCTL-SESSION-ID", "x_wrctl_event_id",
		"X-Wrctl-User-Verified", "X_WRCTL_USER_VERIFIED", "X-Wrctl-Anything"} {
		hdr[k] = []string{"forged"}
	}
	hdr["X_Forwarded_For"] = []string{"6.6.6.6"}
	hdr["X-Forwarded-For"] = []string{"203.0.113.7"}
	hdr["X-Forwarded-Proto"] = []string{"https"}
	hdr["X-Forwarded-Host"] = []string{"shop.example.com"}
	hdr["Forwarded"] = []string{"for=6.6.6.6"}

	got := send("127.0.0.1", hdr) // an ordinary client: its forwarding headers are not believed
	for k, vals := range got.Header {
		folded := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if strings.Contains(k, "_") || (strings.HasPrefix(folded, "x-wrctl-") && strings.Contains(strings.Join(vals, ","), "forged")) {
			t.Errorf("the site received the client's %s: %v", k, vals)
		}
	}
	if c := got.Header.Get("Cookie"); c != `theme=dark; cart="a,b c"; odd=%zz{"j":1}; =novalue; last=1` {
		t.Errorf("the site's cookies did not pass byte for byte: %q", c)
	}
	if xff, proto, host, fwd := got.Header.Get("X-Forwarded-For"), got.Header.Get("X-Forwarded-Proto"),
		got.Header.Get("X-Forwarded-Host"), got.Header.Get("Forwarded"); xff != "127.0.0.1" || proto != "http" ||
		host != strings.TrimPrefix(s.URL, "http://") || fwd != "" {
		t.Errorf("an untrusted client's forwarding headers were kept: %q %q %q %q", xff, proto, host, fwd)
	}
	user := got.Header.Get("X-Wrctl-User-Id")
	if user == "" || strings.Contains(user, uid) || strings.Contains(token, uid) || got.Header.Get("X-Wrctl-User-Verified") != "false" {
		t.Errorf("the browser id leaves the browser, or the user is not marked unverified: user %q verified %q",
			user, got.Header.Get("X-Wrctl-User-Verified"))
	}
	if got.Header.Get("X-Wrctl-Session-Id") == "" || got.Header.Get("X-Wrctl-Event-Id") != "SHOP" {
		t.Errorf("the gate's own headers are missing: %v", got.Header)
	}

	got = send("127.0.0.2", hdr) // a trusted proxy: appended to
	if xff, proto, host := got.Header.Get("X-Forwarded-For"), got.Header.Get("X-Forwarded-Proto"),
		got.Header.Get("X-Forwarded-Host"); xff != "203.0.113.7, 127.0.0.2" || proto != "https" || host != "shop.example.com" {
		t.Errorf("a trusted proxy's forwarding headers: %q %q %q", xff, proto, host)
	}

	// Whoever sees the pseudonym (in the site's logs) cannot take the
	// session with it: the join's key is another secret.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/waiting-room/sessions", strings.NewReader(`{"eventId":"SHOP","userId":"`+user+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || strings.Contains(string(b), "accessToken") {
		t.Errorf("a re-join with the pseudonym = %d %s, want 409 without the session", resp.StatusCode, b)
	}

	// A user the site vouches for with a signed user token is verified.
	aliceToken := admitByAPI(t, s.URL, "SHOP", "alice", signUserToken(t, userSecret, "alice"))
	got = send("127.0.0.1", http.Header{"Cookie": {"wrctl_token=" + aliceToken}})
	if got.Header.Get("X-Wrctl-User-Id") != "alice" || got.Header.Get("X-Wrctl-User-Verified") != "true" {
		t.Errorf("a verified user: %q %q", got.Header.Get("X-Wrctl-User-Id"), got.Header.Get("X-Wrctl-User-Verified"))
	}
}

// TestNothingAdmittedIsPubliclyCacheable: an admitted response is private
// (no-store kept), varies on Cookie and carries no CDN cache header; every
// response that sets the token cookie is one no shared cache may keep.
func TestNothingAdmittedIsPubliclyCacheable(t *testing.T) {
	t.Parallel()
	origin := newSite(t, false, nil)
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--upstream", origin.URL, "--gate-event", "SHOP")
	v := newVisitor(t, s.URL)
	var tokenSet []http.Header
	await.Until(t, 20*time.Second, "let through", func() bool {
		resp, _ := v.get("/public-cache")
		if has(resp.Header, "Set-Cookie", "wrctl_token=") {
			tokenSet = append(tokenSet, resp.Header)
		}
		return resp.Header.Get("X-Site") == "1"
	})
	// The first proxied request heartbeats the session and renews its token.
	for range 3 {
		for _, p := range []string{"/public-cache", "/no-store", "/plain"} {
			resp, _ := v.get(p)
			if has(resp.Header, "Set-Cookie", "wrctl_token=") {
				tokenSet = append(tokenSet, resp.Header)
			}
			cc := strings.Join(resp.Header.Values("Cache-Control"), ", ")
			if !strings.Contains(cc, "private") || strings.Contains(cc, "public") || !has(resp.Header, "Vary", "Cookie") ||
				resp.Header.Get("CDN-Cache-Control") != "" {
				t.Fatalf("%s: Cache-Control %q, Vary %q, CDN-Cache-Control %q", p, cc, resp.Header.Values("Vary"), resp.Header.Get("CDN-Cache-Control"))
			}
			if p == "/no-store" && !strings.Contains(cc, "no-store") {
				t.Fatalf("the site's no-store was dropped: %q", cc)
			}
			if p == "/public-cache" && !strings.Contains(cc, "max-age=600") {
				t.Fatalf("the browser's own caching was dropped: %q", cc)
			}
		}
	}
	if len(tokenSet) < 1 {
		t.Fatal("the token cookie was never set")
	}
	for _, h := range tokenSet {
		cc := strings.Join(h.Values("Cache-Control"), ", ")
		if !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private") {
			t.Fatalf("a token cookie on a response a shared cache may keep: %q", cc)
		}
	}
}

func has(h http.Header, key, part string) bool {
	for _, v := range h.Values(key) {
		if strings.Contains(strings.ToLower(v), strings.ToLower(part)) {
			return true
		}
	}
	return false
}

// admitByAPI joins user through the API (with a user token when given)
// and polls until admitted; it returns the access token.
func admitByAPI(t *testing.T, base, event, user, userToken string) string {
	t.Helper()
	var sess struct{ SessionID, AccessToken string }
	await.Until(t, 20*time.Second, user+" admitted", func() bool {
		var resp *http.Response
		var err error
		if sess.SessionID == "" {
			req, _ := http.NewRequest(http.MethodPost, base+"/api/waiting-room/sessions",
				strings.NewReader(`{"eventId":"`+event+`","userId":"`+user+`"}`))
			req.Header.Set("Content-Type", "application/json")
			if userToken != "" {
				req.Header.Set("Authorization", "Bearer "+userToken)
			}
			resp, err = http.DefaultClient.Do(req)
		} else {
			resp, err = http.Get(base + "/api/waiting-room/sessions/" + sess.SessionID)
		}
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&sess)
		resp.Body.Close()
		return sess.AccessToken != ""
	})
	return sess.AccessToken
}

// signUserToken is a user token as a site signs it: HS256, sub = the user.
func signUserToken(t *testing.T, secret, sub string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: sub,
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMachinesGetNoPageAndMakeNoJoin: without a token, a request that is
// not a top-level page visit (an API call, an asset, a favicon, a POST, a
// cross-site <img> or fetch, curl's */*) gets a JSON 503 with Retry-After
// and makes no session, at the gate and at the waiting page; a cross-site
// navigation gets a page that joins by a request of its own. The public
// list of events shows a scheduled drop only once someone has joined it,
// or when the operator made it public.
func TestMachinesGetNoPageAndMakeNoJoin(t *testing.T) {
	t.Parallel()
	starts := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	file := filepath.Join(t.TempDir(), "wrctl.yaml")
	os.WriteFile(file, []byte("events:\n  DROP:\n    startsAt: "+starts+"\n  PUB:\n    public: true\n    startsAt: "+starts+"\n"), 0o600)
	origin := newSite(t, false, nil)
	s := startServe(t, []string{"WRCTL_CONFIG=" + file, "WRCTL_ADMIN_TOKEN=" + e2eAdminToken}, "--addr", "127.0.0.1:0",
		"--upstream", origin.URL, "--gate-event", "SHOP")
	joined := func(event string) int64 {
		resp, err := http.Get(s.URL + "/api/waiting-room/events/" + event + "/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct{ Joined int64 }
		json.NewDecoder(resp.Body).Decode(&st)
		return st.Joined
	}
	img := []string{"Accept", "image/avif,image/webp,*/*", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site"}
	xhr := []string{"Accept", "*/*", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "Sec-Fetch-Site", "cross-site"}
	for _, c := range []struct {
		name, method, path string
		hdr                []string
	}{
		{"an API call", "GET", "/api/x", []string{"Accept", "application/json"}},
		{"curl", "GET", "/", []string{"Accept", "*/*"}},
		{"no Accept", "GET", "/", []string{"Accept", ""}},
		{"a favicon", "GET", "/favicon.ico", nil},
		{"robots.txt", "GET", "/robots.txt", nil},
		{"a script", "GET", "/assets/app.js", nil},
		{"a POST", "POST", "/checkout", nil},
		{"a HEAD", "HEAD", "/", nil},
		{"a cross-site img", "GET", "/", img},
		{"a cross-site fetch", "GET", "/cart", xhr},
		{"a cross-site img of the page", "GET", "/wait/SHOP", img},
		{"an iframe", "GET", "/", []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe"}},
	} {
		req, _ := http.NewRequest(c.method, s.URL+c.path, nil)
		navigate(req.Header)
		for i := 0; i+1 < len(c.hdr); i += 2 {
			if c.hdr[i+1] == "" {
				req.Header.Del(c.hdr[i])
			} else {
				req.Header.Set(c.hdr[i], c.hdr[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			(c.method != "HEAD" && (resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(b), `"code":"waiting_room"`))) ||
			has(resp.Header, "Set-Cookie", "wrctl_") {
			t.Errorf("%s: %d %q %s", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	// The page's poll from another site makes no session either.
	newVisitor(t, s.URL).get("/wait/SHOP/status", xhr...)
	// A link followed from another site: the page, which takes the place
	// itself (same-origin), and no session yet.
	resp, body := newVisitor(t, s.URL).get("/products", "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Taking you to the line") || has(resp.Header, "Set-Cookie", "wrctl_s=") {
		t.Fatalf("a cross-site navigation: %d %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	if n := joined("SHOP"); n != 0 {
		t.Fatalf("%d sessions made by requests that were not page visits", n)
	}
	// The page's own request (same-origin) joins.
	if resp, _ := newVisitor(t, s.URL).get("/products", "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusOK || joined("SHOP") != 1 {
		t.Fatalf("a same-origin navigation did not join: %d, %d joined", resp.StatusCode, joined("SHOP"))
	}

	eventListHidesUnjoinedDrops(t, s)

}

// eventListHidesUnjoinedDrops: the public list shows the public PUB, not
// the unjoined DROP, until someone joins it; the operator (the admin
// token, as wrctl top sends it) sees DROP before that.
func eventListHidesUnjoinedDrops(t *testing.T, s *serveProc) {
	t.Helper()
	listed := func() []string {
		resp, err := http.Get(s.URL + "/api/waiting-room/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l struct{ Events []struct{ EventID string } }
		json.NewDecoder(resp.Body).Decode(&l)
		var ids []string
		for _, e := range l.Events {
			ids = append(ids, e.EventID)
		}
		return ids
	}
	if ids := listed(); !slices.Contains(ids, "PUB") || slices.Contains(ids, "DROP") {
		t.Fatalf("listed %v: want the public PUB, not the unjoined DROP", ids)
	}
	// The operator's wall sees the drop before anyone joins it.
	r := wrctl(t, []string{"WRCTL_SERVER=" + s.URL, "WRCTL_ADMIN_TOKEN=" + e2eAdminToken}, "top", "--once", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"eventId": "DROP"`) {
		t.Fatalf("top with the admin token does not show the unjoined drop: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := wrctl(t, []string{"WRCTL_SERVER=" + s.URL}, "top", "--once", "--output", "json"); strings.Contains(r.stdout, `"DROP"`) {
		t.Fatalf("top without the admin token shows the unjoined drop: %s", r.stdout)
	}
	s.join("DROP", "first-fan")
	if ids := listed(); !slices.Contains(ids, "DROP") {
		t.Fatalf("listed %v: a drop people have joined is listed", ids)
	}
}
