package server

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/config"
)

// MinAdminTokenLen is the shortest admin token the API takes.
const MinAdminTokenLen = 16

// Validate reports every setting of c that cannot work, by its
// configuration key, as config.FieldErrors.
func (c Config) Validate() error {
	var ck config.Check
	ck.AtLeast("server.pollInterval", c.PollInterval, time.Millisecond)
	ck.AtLeast("server.shutdownTimeout", c.ShutdownTimeout, time.Millisecond)
	ck.NotNegative("server.maxConcurrent", c.MaxConcurrent)
	ck.NotNegative("server.maxConns", c.MaxConns)
	ck.NotNegative("server.maxConnsPerAddr", c.MaxConnsPerAddr)
	if c.AdminToken != "" && len(c.AdminToken) < MinAdminTokenLen {
		ck.Bad("admin.token", "must be at least %d characters, got %d (e.g. openssl rand -hex 24)", MinAdminTokenLen, len(c.AdminToken))
	}
	if c.JoinRatePerIP < 0 {
		ck.Bad("limits.joinRatePerIP", "must not be negative, got %v", c.JoinRatePerIP)
	}
	if c.JoinBurstPerIP < 1 {
		ck.Bad("limits.joinBurstPerIP", "must be at least 1, got %d", c.JoinBurstPerIP)
	}
	ck.Add("page", c.Page.Validate())
	return ck.Err()
}

// Validate reports every setting of the page that cannot work.
func (p PageConfig) Validate() error {
	var ck config.Check
	for _, o := range p.ReturnOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			ck.Bad("page.returnOrigins", "%q is not an origin such as https://shop.example.com", o)
		}
	}
	if u, err := url.Parse(p.SiteURL); p.SiteURL != "" && (err != nil || !(u.Scheme == "" && strings.HasPrefix(u.Path, "/") && u.Host == "") &&
		!((u.Scheme == "https" || u.Scheme == "http") && u.Host != "")) {
		ck.Bad("page.siteURL", "%q is not an http(s) URL or a path such as https://shop.example.com/ or /", p.SiteURL)
	}
	for key, c := range map[string]string{"page.color": p.Color, "page.background": p.Background} {
		if !cssColor(c) {
			ck.Bad(key, "%q is not a CSS colour such as #1f6feb or rebeccapurple", c)
		}
	}
	return ck.Err()
}

// cssColor accepts the colours a page setting may hold: #rgb, #rrggbb,
// #rrggbbaa or a colour name; nothing that could end the CSS value.
func cssColor(c string) bool {
	if c == "" {
		return true
	}
	if c[0] == '#' {
		if n := len(c) - 1; n != 3 && n != 4 && n != 6 && n != 8 {
			return false
		}
		_, err := strconv.ParseUint(c[1:], 16, 64)
		return err == nil
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
