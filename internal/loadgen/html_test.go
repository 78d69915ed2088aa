package loadgen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wrctl/wrctl/internal/browsertest"
	"github.com/wrctl/wrctl/internal/loadgen"
)

// TestHTMLReportInABrowser opens the HTML report of a real run in
// Chromium: it loads with no console error, every chart has data, the
// verdicts are there, and a screenshot is written for a person to look at
// (WRCTL_SCREENSHOT=path keeps it).
func TestHTMLReportInABrowser(t *testing.T) {
	page := reportPage(t)
	b := browsertest.New(t, 1400, 1000)
	ctx := b.Ctx
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS("#verdict"))); err != nil {
		t.Fatal(err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll("svg.chart")].map(s => ({
		title: s.getAttribute("aria-label"),
		points: s.getAttribute("data-points"),
		drawn: String(s.querySelectorAll("polyline[points]:not([points='']), rect.bar").length),
		width: String(s.getBoundingClientRect().width)}))`))
	if err != nil {
		t.Fatal(err)
	}
	verdict, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#verdict")))
	if err != nil {
		t.Fatal(err)
	}
	events, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#events")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is a PNG
	if err != nil {
		t.Fatal(err)
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("the page logged problems: %v", problems)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(text, "%!"); i >= 0 {
		t.Fatalf("the page shows a formatting error: %q", text[max(i-40, 0):min(i+40, len(text))])
	}
	want := map[string]bool{"Inside t-e0 against capacity": false, "Inside t-e1 against capacity": false, "Waiting": false,
		"Join and admission rates": false, "Latency of join": false, "Latency of status": false, "Latency of leave": false, "Time to admission": false}
	for _, c := range charts {
		if c["points"] == "0" || c["points"] == "" || c["drawn"] == "0" || c["width"] == "0" {
			t.Errorf("chart %q has no data: %v", c["title"], c)
		}
		if _, ok := want[c["title"]]; ok {
			want[c["title"]] = true
		}
	}
	for title, seen := range want {
		if !seen {
			t.Errorf("no chart %q among %v", title, charts)
		}
	}
	if !strings.Contains(verdict, "FAILED") || !strings.Contains(events, "CAPACITY VIOLATED") {
		t.Fatalf("verdict %q, events %q: the page does not say the run failed on capacity", verdict, events)
	}
	if len(shot) < 10000 {
		t.Fatalf("screenshot of %d bytes", len(shot))
	}
	out := os.Getenv("WRCTL_SCREENSHOT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "report.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// reportPage writes the HTML report of a real run on the fake server, one
// event of which lets in more than its capacity, and returns its path.
func reportPage(t *testing.T) string {
	t.Helper()
	cfg := scenario(120, 200)
	cfg.Events = 2
	cfg.Capacity = 2 // the fake lets 3 in: the page must say so
	cfg.SampleInterval = 50 * time.Millisecond
	cfg.Hold = loadgen.Dist{Min: 50 * time.Millisecond, Max: 150 * time.Millisecond}
	rep := run(t, cfg, newFake(3, 3, inOrder))
	th, _ := loadgen.ParseThreshold("join_p95<5s")
	rep.Check(loadgen.Gates([]loadgen.Threshold{th}, 0, false, false))
	page := filepath.Join(t.TempDir(), "report.html")
	if err := rep.WriteHTMLFile(page); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(page)
	// The page fetches nothing: the only URL in it is the SVG namespace.
	rest := strings.ReplaceAll(string(raw), "http://www.w3.org/2000/svg", "")
	for _, banned := range []string{"http://", "https://", "<script src", "<link", "@import", "url("} {
		if strings.Contains(rest, banned) {
			t.Fatalf("the page refers to outside resources (%s): it must work offline", banned)
		}
	}

	return page
}

// TestHTMLReportReadsOnAPhone: at 390 px the page does not scroll
// sideways (wide tables scroll in their own box), the charts fit the
// screen, and the text stays readable.
func TestHTMLReportReadsOnAPhone(t *testing.T) {
	page := reportPage(t)
	b := browsertest.New(t, 390, 844)
	if err := chromedp.Do(b.Ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS("#verdict"))); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(b.Ctx, chromedp.Evaluate[map[string]float64](`({
		page: document.documentElement.scrollWidth,
		widestChart: Math.max(...[...document.querySelectorAll("svg.chart")].map(s => s.getBoundingClientRect().right)),
		widestBox: Math.max(...[...document.querySelectorAll("h1, h2, p, .scroll, .banner")].map(e => e.getBoundingClientRect().right)),
		smallestText: Math.min(...[...document.querySelectorAll("td, p")].map(e => parseFloat(getComputedStyle(e).fontSize))),
		tables: document.querySelectorAll(".scroll > table").length})`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("WRCTL_SCREENSHOT_PHONE")
	if out == "" {
		out = filepath.Join(t.TempDir(), "report-390.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if got["page"] > 390 || got["widestChart"] > 390 || got["widestBox"] > 390 {
		t.Errorf("at 390 px the page is %v px wide, its widest chart ends at %v px, its widest block at %v px", got["page"], got["widestChart"], got["widestBox"])
	}
	if got["smallestText"] < 13 || got["tables"] < 4 {
		t.Errorf("smallest text %v px, %v tables in scroll boxes", got["smallestText"], got["tables"])
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("the page logged problems: %v", problems)
	}
}
