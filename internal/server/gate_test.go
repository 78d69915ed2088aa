package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/browsertest"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/server"
)

// origin is a site behind the gate: it says who it served, and records the
// users the gate named.
type origin struct {
	*httptest.Server
	mu    sync.Mutex
	users map[string]int
}

func newOrigin(t *testing.T) *origin {
	o := &origin{users: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get(gate.HeaderUser)
		o.mu.Lock()
		o.users[user]++
		o.mu.Unlock()
		if strings.Contains(r.Header.Get("Cookie"), "wrctl_") {
			http.Error(w, "the gate leaked its cookies", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>shop</title><h1 id="shop">the shop</h1><p id="who">%s %s</p>`,
			user, r.Header.Get(gate.HeaderSession))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) servedUser(user string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.users[user]
}

func newGate(t *testing.T, up string, heartbeatTTL time.Duration) *harness {
	o := defaultOptions()
	o.policy.Capacity = 1
	o.policy.HeartbeatTTL = heartbeatTTL
	u, _ := url.Parse(up)
	o.server.Gate = &gate.Config{Upstream: u, Routes: []gate.Route{{Prefix: "/", Event: "SHOP"}}, Exclude: []string{"/static/"}}
	o.server.Page = server.PageConfig{Title: "Launch day", Message: "Thanks for waiting: the shop lets people in a few at a time."}
	return newHarness(t, "memory", o)
}

// TestTheGateInRealBrowsers puts the gate (capacity 1) in front of a test
// origin and sends two Chromium browsers, each with its own cookies: the
// first is let through to the origin; the second sees its place (1) and an
// estimate on the waiting page, at 320 px wide with no console error, and
// is let through by itself once the first closes and its heartbeat lapses.
func TestTheGateInRealBrowsers(t *testing.T) {
	t.Parallel()
	up := newOrigin(t)
	// The heartbeat TTL outlasts the page's poll interval (2s), so the
	// first browser hears of its admission before its slot lapses.
	h := newGate(t, up.URL, 3*time.Second)

	a := browsertest.New(t, 1024, 768)
	if err := chromedp.Do(a.Ctx, chromedp.Navigate(h.URL+"/products?id=7"), chromedp.WaitVisible(chromedp.ID("shop"))); err != nil {
		t.Fatalf("the first browser was not let through: %v", err)
	}
	who, err := chromedp.Run(a.Ctx, chromedp.Text(chromedp.ID("who")))
	if err != nil || len(strings.Fields(who)) != 2 {
		t.Fatalf("the origin did not see the user and session: %q %v", who, err)
	}
	url, err := chromedp.Run(a.Ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(url, "/products?id=7") {
		t.Fatalf("the first browser ended at %q, not where it asked to go", url)
	}
	// The first keeps using the site (its page fetches through the gate, as
	// a shop's page does), so it stays in until its browser closes.
	if _, err := chromedp.Run(a.Ctx, chromedp.Evaluate[int](`setInterval(() => fetch("/cart.json"), 250)`)); err != nil {
		t.Fatal(err)
	}

	b := browsertest.New(t, 320, 640)
	if err := chromedp.Do(b.Ctx, chromedp.EmulateViewport(320, 640), chromedp.Navigate(h.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("position"))); err != nil {
		t.Fatal(err)
	}
	pos, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("position")))
	if err != nil || strings.TrimSpace(pos) != "1" {
		t.Fatalf("the second browser's place = %q (%v), want 1", pos, err)
	}
	wait, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("wait")))
	if err != nil || !strings.Contains(wait, "Estimated wait:") {
		t.Fatalf("no estimate on the waiting page: %q %v", wait, err)
	}
	live, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("[aria-live]").getAttribute("aria-live")`))
	if err != nil || live != "polite" {
		t.Fatalf("the place is not in a live region: %q %v", live, err)
	}
	fits, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= 320`))
	if err != nil || !fits {
		t.Fatalf("the waiting page does not fit 320 px: %v", err)
	}
	shot, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil || len(shot) == 0 {
		t.Fatalf("screenshot: %v", err)
	}
	if path := os.Getenv("WRCTL_SCREENSHOT_PAGE"); path != "" {
		os.WriteFile(path, shot, 0o644)
	}

	// A third, with scripts off, waits behind the second: the page still
	// works, by reloading itself.
	c := browsertest.New(t, 800, 600)
	noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	if err := chromedp.Do(c.Ctx, noScript, chromedp.Navigate(h.URL+"/"), chromedp.WaitVisible(chromedp.ID("position"))); err != nil {
		t.Fatal(err)
	}
	if note, err := chromedp.Run(c.Ctx, chromedp.Text(chromedp.ID("noscript-note"))); err != nil || !strings.Contains(note, "refreshes itself") {
		t.Fatalf("the third browser runs scripts after all: %q %v", note, err)
	}
	if pos, _ := chromedp.Run(c.Ctx, chromedp.Text(chromedp.ID("position"))); strings.TrimSpace(pos) != "2" {
		t.Fatalf("the third browser's place = %q, want 2", pos)
	}

	// The first closes its browser: no more requests, so no heartbeat; after
	// the heartbeat TTL its place frees and the second goes through alone.
	a.Close()
	if err := chromedp.Do(b.Ctx, chromedp.WaitVisible(chromedp.ID("shop"))); err != nil {
		t.Fatalf("the second browser was not let through after the first left: %v", err)
	}
	// Then the second leaves, and the third is let in by its reloads alone.
	b.Close()
	if err := chromedp.Do(c.Ctx, chromedp.WaitVisible(chromedp.ID("shop"))); err != nil {
		t.Fatalf("the browser without scripts was not let through: %v", err)
	}
	for _, br := range []*browsertest.Browser{a, b, c} {
		if p := br.Problems(); len(p) > 0 {
			t.Fatalf("console problems: %v", p)
		}
	}
}

// TestTheGateKeepsABrowsingUserIn: each proxied request is a heartbeat (at
// most one store write every few seconds), so a user who keeps browsing
// past the heartbeat TTL stays in, and the next in line keeps waiting;
// excluded paths pass without a token; a forged token gets the page.
func TestTheGateKeepsABrowsingUserIn(t *testing.T) {
	t.Parallel()
	up := newOrigin(t)
	h := newGate(t, up.URL, 2*time.Second)
	client := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Transport: navigator{}}
	}
	get := func(c *http.Client, path string) (int, string) {
		resp, err := c.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	a, b := client(), client()
	await.Until(t, 10*time.Second, "the first user let through", func() bool {
		_, body := get(a, "/")
		return strings.Contains(body, `id="shop"`)
	})
	if _, body := get(b, "/"); !strings.Contains(body, `id="position">1<`) {
		t.Fatalf("the second user is not first in line:\n%s", body)
	}
	// Browse for three heartbeat TTLs, a request every 300ms.
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); <-tick.C {
		if _, body := get(a, "/page"); !strings.Contains(body, `id="shop"`) {
			t.Fatal("a browsing user was sent back to the waiting page")
		}
		get(b, "/wait/SHOP/status") // the second keeps its place alive
	}
	if st := h.stats("SHOP"); st.Active != 1 || st.Waiting != 1 {
		t.Fatalf("after browsing: active %d waiting %d", st.Active, st.Waiting)
	}
	// Static assets pass without a token; a forged token gets the page.
	if code, body := get(client(), "/static/app.css"); code != http.StatusOK || !strings.Contains(body, "the shop") {
		t.Fatalf("an excluded path = %d", code)
	}
	forged := client()
	u, _ := url.Parse(h.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: server.TokenCookie, Value: "eyJhbGciOiJub25lIn0.eyJldnQiOiJTSE9QIn0."}})
	if _, body := get(forged, "/"); strings.Contains(body, `id="shop"`) {
		t.Fatal("a forged token was let through")
	}
	// A return address on another origin is refused: no open redirect.
	if code, _ := get(client(), "/wait/SHOP?return=https://evil.example/"); code != http.StatusBadRequest {
		t.Fatalf("an open redirect: %d", code)
	}
}

// TestTheGateHeartbeatsAtMostEveryFewSeconds: fifty requests of one
// admitted user in a burst cost one heartbeat in the store, not fifty,
// counted by the replica's own store metrics.
func TestTheGateHeartbeatsAtMostEveryFewSeconds(t *testing.T) {
	t.Parallel()
	up := newOrigin(t)
	h := newGate(t, up.URL, 30*time.Second)
	before := scrape(t, h)[`wrctl_store_requests_total{op=heartbeat,outcome=ok}`]
	c := admittedAtGate(t, h, "/") // let through at once: the room is empty
	for range 50 {
		if _, body := fetch(t, c, h.URL+"/"); !strings.Contains(body, `id="shop"`) {
			t.Fatal("an admitted user was not let through")
		}
	}
	if n := scrape(t, h)[`wrctl_store_requests_total{op=heartbeat,outcome=ok}`] - before; n < 1 || n > 2 {
		t.Fatalf("%v heartbeats in the store for 50 requests in a burst, want 1 (at most one every few seconds)", n)
	}
}

// admittedAtGate is a browser-like client (cookies, no redirects followed)
// that has waited at the gate for path until the page sent it back with
// its access token.
func admittedAtGate(t *testing.T, h *harness, path string) *http.Client {
	t.Helper()
	c := browserClient()
	// Admitted, the browser has its token: passed straight through (an
	// empty room) or sent back by the page (303).
	await.Until(t, 10*time.Second, "admitted at the gate", func() bool {
		resp, err := c.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // unread: it may be a stream
		return resp.StatusCode == http.StatusSeeOther || hasCookie(c, h.URL, TokenCookieName)
	})
	return c
}

// TokenCookieName is the gate's token cookie.
const TokenCookieName = "wrctl_token"

// hasCookie reports whether the browser holds a cookie name for u.
func hasCookie(c *http.Client, u, name string) bool {
	pu, _ := url.Parse(u)
	for _, k := range c.Jar.Cookies(pu) {
		if k.Name == name {
			return true
		}
	}
	return false
}
