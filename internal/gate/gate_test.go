package gate

import (
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/", "/"},
		{"/shop/cart", "/shop/cart"},
		{"/shop/", "/shop/"},
		{"//shop///cart", "/shop/cart"},
		{"/static/../account", "/account"},
		{"/static/%2e%2e/account", "/account"},
		{"/static/%2E%2e/account", "/account"},
		{"/static/..%2faccount", "/account"},
		{"/static%2F..%2Faccount", "/account"},
		{"/a/./b/.", "/a/b/"},
		{"/a/b/..", "/a/"},
		{"/a%20b", "/a b"},
		{"/caf%C3%A9", "/café"},
		{"/a%3Fb", "/a?b"},
	} {
		got, err := Normalize(c.in)
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "shop", "*", "/..", "/a/../..", "/%2e%2e/x", `/a\b`, "/a%5cb", "/a%5Cb", "/a%00b", "/a%0d%0ab",
		"/%252e%252e/x", "/a%25%32%65", "/a/..;/b", "/a/.;x/b", "/%c0%ae%c0%ae/x", "/%zz", "/a%7f"} {
		if got, err := Normalize(in); err == nil {
			t.Errorf("Normalize(%q) = %q, want ErrAmbiguousPath", in, got)
		}
	}
}

// FuzzNormalize: what Normalize accepts is a fixed point (normalising it
// again changes nothing), has no dot segment, no empty segment and no
// backslash, and is what nginx would route on.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/static/%2e%2e/account", "/a//b/./c/..", "/a%2fb", "/%252e", "/a/..;/b", `/a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Normalize(in)
		if err != nil {
			return
		}
		again, err := Normalize((&url.URL{Path: got}).EscapedPath())
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, which normalises again to %q, %v", in, got, again, err)
		}
		for _, seg := range strings.Split(strings.Trim(got, "/"), "/") {
			if seg == "." || seg == ".." || (seg == "" && got != "/") || strings.Contains(seg, `\`) {
				t.Fatalf("Normalize(%q) = %q has segment %q", in, got, seg)
			}
		}
		dec, _ := url.PathUnescape(in)
		nginx := path.Clean(dec)
		if strings.HasSuffix(got, "/") && got != "/" {
			nginx += "/"
		}
		if nginx != got {
			t.Fatalf("Normalize(%q) = %q, nginx routes on %q", in, got, nginx)
		}
	})
}

func TestRoutes(t *testing.T) {
	g := New(Config{Routes: []Route{{"/", "SITE"}, {"/shop", "SHOP"}}, Exclude: []string{"/static/", "/health"}}, Deps{})
	fold := New(Config{Routes: []Route{{"/shop", "SHOP"}}, CaseInsensitive: true}, Deps{})
	for _, c := range []struct {
		g          *Gate
		path, want string
	}{
		{g, "/", "SITE"}, {g, "/shop", "SHOP"}, {g, "/shop/cart", "SHOP"}, {g, "/shopping", "SITE"},
		{g, "/static/app.css", ""}, {g, "/static", "SITE"}, {g, "/STATIC/app.css", "SITE"}, {g, "/health", ""},
		{g, "/healthz", "SITE"}, {fold, "/SHOP/cart", "SHOP"}, {fold, "/Shop", "SHOP"}, {fold, "/ſhop", ""},
		{fold, "/shopping", ""},
	} {
		if got := c.g.Route(c.path); got != c.want {
			t.Errorf("Route(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	nav := map[string]string{"Accept": "text/html,*/*;q=0.8", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none"}
	with := func(over map[string]string) http.Header {
		h := http.Header{}
		for k, v := range nav {
			h.Set(k, v)
		}
		for k, v := range over {
			if v == "" {
				h.Del(k)
			} else {
				h.Set(k, v)
			}
		}
		return h
	}
	for _, c := range []struct {
		name, method, path string
		h                  http.Header
		want               Visit
	}{
		{"a direct navigation", "GET", "/", with(nil), PageVisit},
		{"a same-site link", "GET", "/", with(map[string]string{"Sec-Fetch-Site": "same-site"}), PageVisit},
		{"an old browser", "GET", "/", with(map[string]string{"Sec-Fetch-Site": "", "Sec-Fetch-Mode": "", "Sec-Fetch-Dest": ""}), PageVisit},
		{"a link from another site", "GET", "/", with(map[string]string{"Sec-Fetch-Site": "cross-site"}), Arrival},
		{"a cross-site img", "GET", "/", with(map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site"}), Machine},
		{"a fetch", "GET", "/", with(map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}), Machine},
		{"an iframe", "GET", "/", with(map[string]string{"Sec-Fetch-Dest": "iframe"}), Machine},
		{"curl", "GET", "/", with(map[string]string{"Accept": "*/*", "Sec-Fetch-Mode": "", "Sec-Fetch-Dest": "", "Sec-Fetch-Site": ""}), Machine},
		{"html refused", "GET", "/", with(map[string]string{"Accept": "text/html;q=0, application/json"}), Machine},
		{"a favicon", "GET", "/favicon.ico", with(nil), Machine},
		{"robots.txt", "GET", "/robots.txt", with(nil), Machine},
		{"a stylesheet", "GET", "/a/site.CSS", with(nil), Machine},
		{"a POST", "POST", "/", with(nil), Machine},
		{"a HEAD", "HEAD", "/", with(nil), Machine},
	} {
		r, _ := http.NewRequest(c.method, "http://x"+c.path, nil)
		r.Header = c.h
		if got := Classify(r, c.path); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestScrubAndCookies(t *testing.T) {
	h := http.Header{"X-Wrctl-User-Id": {"a"}, "X_wrctl_user_id": {"b"}, "X-WRCTL-EVENT-ID": {"c"}, "X_Forwarded_For": {"d"},
		"Forwarded": {"kept here, replaced by forwarded()"}, "Accept": {"text/html"}, "X_custom": {"the site's own"}}
	scrub(h)
	for k := range h {
		if k != "Forwarded" && k != "Accept" && k != "X_custom" {
			t.Errorf("scrub kept %s", k)
		}
	}
	h = http.Header{"Cookie": {`a=1; wrctl_token=t; b="x,y"; wrctl_uid=u`, `c=%zz; =v; wrctl_s=s`}}
	stripCookies(h)
	if got := h.Get("Cookie"); got != `a=1; b="x,y"; c=%zz; =v` {
		t.Errorf("cookies = %q", got)
	}
	out := http.Header{"Forwarded": {"for=6.6.6.6"}}
	forwarded(out, http.Header{"X-Forwarded-For": {"203.0.113.7"}}, "10.0.0.9:1234", "room.example", false,
		func(a netip.Addr) bool { return false })
	if out.Get("X-Forwarded-For") != "10.0.0.9" || out.Get("Forwarded") != "" || out.Get("X-Forwarded-Host") != "room.example" {
		t.Errorf("untrusted peer: %v", out)
	}
}

func TestPrivateResponse(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "private"},
		{"public, max-age=600", "private, max-age=600"},
		{"no-store", "private, no-store"},
		{"s-maxage=60, max-age=10, must-revalidate", "private, max-age=10, must-revalidate"},
	} {
		h := http.Header{"Cdn-Cache-Control": {"max-age=600"}, "Vary": {"Accept-Encoding"}}
		if c.in != "" {
			h.Set("Cache-Control", c.in)
		}
		privateResponse(h)
		if got := h.Get("Cache-Control"); got != c.want || h.Get("CDN-Cache-Control") != "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Cookie") {
			t.Errorf("%q: Cache-Control %q Vary %v", c.in, got, h.Values("Vary"))
		}
	}
}
