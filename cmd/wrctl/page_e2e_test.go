package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/wrctl/wrctl/internal/await"
	"github.com/wrctl/wrctl/internal/browsertest"
)

// pageWidths are the widths every state of the page is looked at: a
// phone and a laptop.
var pageWidths = []int64{390, 1280}

// shoot takes a full-page screenshot into $WRCTL_SCREENSHOTS/NAME-WIDTH.png
// when that folder is set (make screenshots).
func shoot(t *testing.T, b *browsertest.Browser, name string, width int64) {
	t.Helper()
	dir := os.Getenv("WRCTL_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, width)), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func adminPut(t *testing.T, base, event, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/api/admin/events/"+event, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s %s: %d %s", event, body, resp.StatusCode, b)
	}
}

// inTokyo sets the browser's time zone to one that is not the server's.
var inTokyo = chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
	_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
	return err
})

// pageState is what a test reads of the page in the browser.
type pageState struct {
	Title, Headline, Text, At, AtTitle, Ref string
	CountdownInLive, AtVisible              bool
	Width                                   int
}

const readPage = `(() => {
  const q = s => document.querySelector(s);
  const at = q("#at");
  return {
    Title: document.title,
    Headline: q("#headline") ? q("#headline").textContent : "",
    Text: document.body.innerText,
    At: at ? at.textContent : "",
    AtTitle: at ? at.title : "",
    Ref: q("#ref") ? q("#ref").textContent : "",
    CountdownInLive: !!q("[aria-live] #countdown"),
    AtVisible: !!(at && at.offsetParent),
    Width: document.documentElement.scrollWidth,
  };
})()`

// pageStatesConfig writes a config file with an event in each state the
// page shows, and returns it with the time the future ones open or start.
func pageStatesConfig(t *testing.T) (string, time.Time) {
	soon := time.Now().Add(90 * time.Minute).UTC().Truncate(time.Minute)
	file := filepath.Join(t.TempDir(), "wrctl.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`room:
  capacity: 1
events:
  SHOP: {}
  NOTYET:
    opensAt: %[1]s
  DRAW:
    startsAt: %[1]s
  SOLD:
    queueingMethod: reject
    message: Sold out. Thank you for coming.
  OVER:
    opensAt: %[2]s
    endsAt: %[3]s
  LOTTO:
    queueingMethod: random
  PAUSE: {}
  FULL: {}
`, soon.Format(time.RFC3339), time.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339), time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))), 0o600)
	return file, soon
}

// TestThePageABuyerTrusts opens every state of the waiting page, served by
// the real binary, in Chromium at 390 and 1280 px, in a time zone that is
// not the server's: the countdown is outside the live region; times are
// in the buyer's zone (UTC in the tooltip); the title names the site; a
// reference code is shown that is not the session id; no page that has
// nothing more to say claims to refresh itself; the 400 page speaks to
// buyers; and when polls fail the page says it is reconnecting and when
// it last heard, instead of showing a stale place as live.
func TestThePageABuyerTrusts(t *testing.T) {
	t.Parallel()
	file, soon := pageStatesConfig(t)
	origin := newSite(t, false, nil)
	s := startServe(t, []string{"WRCTL_CONFIG=" + file, "WRCTL_ADMIN_TOKEN=" + e2eAdminToken}, "--addr", "127.0.0.1:0",
		"--upstream", origin.URL, "--gate-route", "/shop=SHOP", "--page-site-name", "Acme Tickets", "--unknown-events", "refuse",
		"--page-message", "The winter tour on-sale: thank you for waiting.", "--heartbeat-ttl", "10m", "--waiting-ttl", "10m")
	// Someone inside each capped event, so the browser waits.
	newVisitor(t, s.URL).admit("/shop")
	for _, e := range []string{"LOTTO", "PAUSE", "FULL"} {
		s.join(e, "inside")
	}
	adminPut(t, s.URL, "PAUSE", `{"paused":true}`)
	adminPut(t, s.URL, "FULL", `{"maxWaiting":1}`)
	s.join("FULL", "waiting")

	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	states := []struct {
		name, path, headline string
		terminal             bool
	}{
		{"waiting", "/shop", "You are in line.", false},
		{"prequeue", "/wait/DRAW", "You are in the waiting room.", false},
		{"notopen", "/wait/NOTYET", "The line is not open yet.", false},
		{"lottery", "/wait/LOTTO", "You are in the draw.", false},
		{"paused", "/wait/PAUSE", "Entry is paused for a moment.", false},
		{"full", "/wait/FULL", "The line is full right now.", false},
		{"soldout", "/wait/SOLD", "Sold out. Thank you for coming.", true},
		{"ended", "/wait/OVER", "This event has ended.", true},
		{"unknown", "/wait/NOPE", "There is no such waiting room.", true},
		{"error", "/wait/SHOP?return=https://evil.example/", "This link cannot take you back to the site.", true},
	}
	waiting := map[int64]*browsertest.Browser{}
	for _, w := range pageWidths {
		for _, st := range states {
			b := browsertest.New(t, int(w), 800)
			err := chromedp.Do(b.Ctx, inTokyo, chromedp.EmulateViewport(w, 800),
				chromedp.Navigate(s.URL+st.path), chromedp.WaitVisible(chromedp.ID("headline")))
			if err != nil {
				t.Fatalf("%s at %d px: %v", st.name, w, err)
			}
			p, err := chromedp.Run(b.Ctx, chromedp.Evaluate[pageState](readPage))
			if err != nil {
				t.Fatal(err)
			}
			if p.Headline != st.headline || p.CountdownInLive || int64(p.Width) > w {
				t.Fatalf("%s at %d px: headline %q, countdown in the live region %v, width %d", st.name, w, p.Headline, p.CountdownInLive, p.Width)
			}
			if !strings.Contains(p.Title, "Acme Tickets") {
				t.Fatalf("%s: the title %q does not name the site", st.name, p.Title)
			}
			if st.name == "notopen" || st.name == "prequeue" {
				local := soon.In(tokyo).Format("03:04")
				if !p.AtVisible || !strings.Contains(p.At, local) || !strings.Contains(p.AtTitle, "GMT") {
					t.Fatalf("%s: the time %q (tooltip %q) is not the buyer's %s with UTC in the tooltip", st.name, p.At, p.AtTitle, local)
				}
			}
			if st.name == "waiting" {
				sid, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.cookie`)) // HttpOnly: the id is not readable
				if !regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}$`).MatchString(p.Ref) || strings.Contains(sid, "wrctl_s") {
					t.Fatalf("the reference code %q", p.Ref)
				}
			}
			if st.name == "error" && (strings.Contains(p.Text, "returnOrigins") || !strings.Contains(p.Text, "Go back to the site")) {
				t.Fatalf("the 400 page speaks to operators: %q", p.Text)
			}
			shoot(t, b, st.name, w)
			if problems := b.Problems(); len(problems) > 0 {
				t.Fatalf("%s: console problems %v", st.name, problems)
			}
			if st.name == "waiting" {
				waiting[w] = b // kept open for the outage below
			} else {
				b.Close()
			}
		}
	}
	// A page with nothing more to say does not claim to refresh itself.
	for _, st := range states {
		if st.terminal {
			noRefresh(t, s.URL, st.path)
		}
	}

	// The room goes away: the waiting page says so and when it last heard.
	s.cmd.Process.Signal(syscall.SIGKILL)
	for _, w := range pageWidths {
		b := waiting[w]
		if err := chromedp.Do(b.Ctx, chromedp.WaitVisible(chromedp.ID("conn"))); err != nil {
			t.Fatalf("no word of the lost connection: %v", err)
		}
		p, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[pageState](readPage))
		stale, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.getElementById("room").classList.contains("stale")`))
		if !strings.Contains(p.Text, "Reconnecting") || !strings.Contains(p.Text, "Last updated at") || !stale {
			t.Fatalf("the page shows a stale place as live: %q", p.Text)
		}
		shoot(t, b, "reconnecting", w)
	}
}

// noRefresh fails the test if the page at path says it refreshes itself
// or asks to be fetched again.
func noRefresh(t *testing.T, base, path string) {
	t.Helper()
	resp, body := newVisitor(t, base).get(path)
	if strings.Contains(body, "refreshes itself") || strings.Contains(body, "http-equiv") || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("%s (%d) says it refreshes itself", path, resp.StatusCode)
	}
}

// TestTheYourTurnPage: admitted without a return address, the page says
// it is the user's turn and, in words, how long the place is held.
func TestTheYourTurnPage(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--page-site-name", "Acme Tickets", "--page-site-url", "https://tickets.example.com/")
	for _, w := range pageWidths {
		b := browsertest.New(t, int(w), 800)
		var p pageState
		await.Until(t, 20*time.Second, "the your-turn page", func() bool {
			if err := chromedp.Do(b.Ctx, chromedp.EmulateViewport(w, 800), chromedp.Navigate(s.URL+"/wait/FREE"),
				chromedp.WaitVisible(chromedp.ID("headline"))); err != nil {
				t.Fatal(err)
			}
			p, _ = chromedp.Run(b.Ctx, chromedp.Evaluate[pageState](readPage))
			return p.Headline == "It is your turn."
		})
		if !regexp.MustCompile(`held for (about )?\d+ (seconds|minutes)`).MatchString(p.Text) || !p.AtVisible || strings.Contains(p.Text, "refreshes itself") {
			t.Fatalf("the your-turn page does not say how long the place is held: %q", p.Text)
		}
		if href, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("continue").href`)); href != "https://tickets.example.com/" ||
			!strings.Contains(p.Text, "Continue to Acme Tickets") {
			t.Fatalf("the your-turn page has no button to the site: %q %q", href, p.Text)
		}
		shoot(t, b, "ready", w)
	}
}
