package gate

import (
	"mime"
	"net/http"
	"path"
	"strings"
)

// A Visit is what the gate makes of a request without a valid token.
type Visit int

const (
	// Machine: not a page navigation (an API call, an asset, a favicon, a
	// cross-site <img> or fetch, any method but GET). It gets a JSON 503
	// with Retry-After and makes no session.
	Machine Visit = iota
	// Arrival: a top-level navigation from another site. It gets the
	// waiting page, which takes its place with a same-origin request of
	// its own, so a page elsewhere cannot make sessions for its visitors.
	Arrival
	// PageVisit: a same-site or direct top-level navigation: the waiting
	// page joins the line for it.
	PageVisit
)

// assetExts are extensions of what a page loads, never navigates to.
var assetExts = map[string]bool{".js": true, ".mjs": true, ".css": true, ".map": true, ".png": true, ".jpg": true,
	".jpeg": true, ".gif": true, ".svg": true, ".webp": true, ".avif": true, ".ico": true, ".woff": true,
	".woff2": true, ".ttf": true, ".otf": true, ".eot": true, ".json": true, ".xml": true, ".txt": true,
	".webmanifest": true, ".wasm": true, ".mp4": true, ".webm": true, ".mp3": true}

// Classify says what a request is by its method, its Accept header, its
// Fetch Metadata (Sec-Fetch-Mode, -Dest, -Site) and its normalised path.
// Browsers without Fetch Metadata are judged by Accept alone.
func Classify(r *http.Request, cleanPath string) Visit {
	if r.Method != http.MethodGet {
		return Machine
	}
	h := r.Header
	if m := h.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return Machine
	}
	if d := h.Get("Sec-Fetch-Dest"); d != "" && d != "document" {
		return Machine
	}
	if !acceptsHTML(h.Values("Accept")) {
		return Machine
	}
	base := strings.ToLower(path.Base(cleanPath))
	if assetExts[path.Ext(base)] || strings.HasPrefix(base, "apple-touch-icon") {
		return Machine
	}
	switch h.Get("Sec-Fetch-Site") {
	case "", "none", "same-origin", "same-site":
		return PageVisit
	}
	return Arrival
}

// acceptsHTML reports whether an Accept header names an HTML type with a
// non-zero quality: a browser's navigation does, */* alone (curl) does not.
func acceptsHTML(lines []string) bool {
	for _, line := range lines {
		for _, mr := range strings.Split(line, ",") {
			t, params, err := mime.ParseMediaType(strings.TrimSpace(mr))
			if err != nil || (t != "text/html" && t != "application/xhtml+xml") {
				continue
			}
			if q, ok := params["q"]; ok && strings.Trim(q, "0.") == "" {
				continue
			}
			return true
		}
	}
	return false
}
