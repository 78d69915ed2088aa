package gate

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Headers the origin receives with a proxied request, set by the gate
// only: whatever a client sends under these names, in any case or with _
// for -, is removed first.
const (
	// HeaderUser is the admitted user: the id the join gave, or for a
	// browser that joined at the gate or the waiting page a keyed
	// pseudonym of its browser id (never the id itself).
	HeaderUser = "X-Wrctl-User-Id"
	// HeaderUserVerified is "true" when the user id was proven by a user
	// token the site signed, "false" when it is the client's claim.
	HeaderUserVerified = "X-Wrctl-User-Verified"
	// HeaderSession is the admitted session.
	HeaderSession = "X-Wrctl-Session-Id"
	// HeaderEvent is the event whose line admitted the request.
	HeaderEvent = "X-Wrctl-Event-Id"
)

// CookiePrefix starts the name of every cookie the waiting room sets; the
// gate takes these out of what it forwards, and nothing else.
const CookiePrefix = "wrctl_"

// forwarding are the headers that say who the client is, which origins
// believe; their underscore spellings are never forwarded.
var forwarding = map[string]bool{"x-forwarded-for": true, "x-forwarded-host": true, "x-forwarded-proto": true,
	"forwarded": true, "x-real-ip": true}

// scrub removes from h every client-sent spelling of the gate's identity
// headers, and the underscore spellings of the forwarding headers, which
// CGI, WSGI, Rack and PHP fold into the same variable as the real ones.
func scrub(h http.Header) {
	for k := range h {
		folded := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if strings.HasPrefix(folded, "x-wrctl-") || (strings.Contains(k, "_") && forwarding[folded]) {
			delete(h, k)
		}
	}
}

// stripCookies takes the waiting room's cookies out of the Cookie
// headers and leaves every other pair exactly as the browser sent it,
// including pairs a strict parser would refuse.
func stripCookies(h http.Header) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		for _, pair := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(pair, "=")
			if strings.HasPrefix(strings.TrimSpace(name), CookiePrefix) || strings.TrimSpace(pair) == "" {
				continue
			}
			kept = append(kept, strings.TrimLeft(pair, " "))
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

// forwarded sets X-Forwarded-For, -Proto and -Host on out for a request
// from peer. A trusted proxy's headers are kept and the peer appended;
// anyone else's are replaced, as are Forwarded and X-Real-Ip.
func forwarded(out, in http.Header, peer string, host string, tls bool, trusted func(netip.Addr) bool) {
	ip, _, err := net.SplitHostPort(peer)
	if err != nil {
		ip = peer
	}
	proto := "http"
	if tls {
		proto = "https"
	}
	addr, aerr := netip.ParseAddr(ip)
	if aerr == nil && trusted(addr.Unmap()) {
		if prior := in.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		if p := in.Get("X-Forwarded-Proto"); p != "" {
			proto = p
		}
		if h := in.Get("X-Forwarded-Host"); h != "" {
			host = h
		}
	} else {
		out.Del("Forwarded")
		out.Del("X-Real-Ip")
	}
	out.Set("X-Forwarded-For", ip)
	out.Set("X-Forwarded-Proto", proto)
	out.Set("X-Forwarded-Host", host)
}

// privateResponse makes a response to an admitted request one that no
// shared cache keeps: Cache-Control private (no-store stays when the site
// sent it; public and s-maxage go), Vary: Cookie, and no CDN-targeted
// cache header that would override it (RFC 9213).
func privateResponse(h http.Header) {
	var keep []string
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			d = strings.TrimSpace(d)
			name, _, _ := strings.Cut(strings.ToLower(d), "=")
			switch name {
			case "", "public", "private", "s-maxage", "proxy-revalidate":
				continue
			}
			keep = append(keep, d)
		}
	}
	cc := "private"
	if len(keep) > 0 {
		cc += ", " + strings.Join(keep, ", ")
	}
	h.Set("Cache-Control", cc)
	for _, k := range []string{"CDN-Cache-Control", "Surrogate-Control", "Cloudflare-CDN-Cache-Control"} {
		h.Del(k)
	}
	vary := h.Values("Vary")
	for _, line := range vary {
		for _, v := range strings.Split(line, ",") {
			if v = strings.TrimSpace(v); v == "*" || strings.EqualFold(v, "Cookie") {
				return
			}
		}
	}
	h.Add("Vary", "Cookie")
}
