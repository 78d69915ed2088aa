package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/room"
)

// PageConfig brands the waiting page and says where it may send people.
type PageConfig struct {
	// Title heads the page; default SiteName, else the event's id.
	Title string
	// SiteName names the site people wait for ("Acme Tickets").
	SiteName string
	// SiteURL is where the "your turn" page's button leads a buyer who
	// came without a return address; empty: no button.
	SiteURL string
	// Message is said under the title.
	Message string
	// Color is the accent colour and Background the page's, as CSS colours.
	Color, Background string
	// Template, if set, replaces the page: an html/template executed with
	// a PageData.
	Template *template.Template
	// ReturnOrigins are the origins (https://shop.example.com) besides the
	// page's own that an admitted user may be sent back to; any other
	// return address is refused (no open redirect).
	ReturnOrigins []string
}

// Cookies of the waiting page and the gate. Each is HttpOnly and
// SameSite=Lax; Secure when the request came over TLS.
const (
	// uidCookie is the browser's random id: a secret that never leaves the
	// browser and the room (see pseudonym).
	uidCookie = gate.CookiePrefix + "uid"
	// sessionCookie names the browser's session, with the position it
	// first had ("id.p0"), for the page's progress.
	sessionCookie = gate.CookiePrefix + "s"
	// TokenCookie carries the access token to the protected site.
	TokenCookie = gate.TokenCookie
	// TokenParam carries it to a return address on another site.
	TokenParam = "wrctl_token"
)

//go:embed waitpage.tmpl
var pageFS embed.FS

var defaultPage = template.Must(template.New("waitpage.tmpl").ParseFS(pageFS, "waitpage.tmpl"))

// PageData is what the waiting page's template is given.
type PageData struct {
	EventID string
	Title   string
	Message string
	Color   string
	// Background is the page's colour.
	Background string
	// State is waiting, prequeue, lottery, paused, notopen, arriving,
	// ready, ended, rejected, full, unknown, unavailable or error.
	State string
	// Headline and Detail say the state in words.
	Headline, Detail string
	// Position is the place in line, 0 when there is none to show.
	Position int64
	// Progress is how far the user has come since joining, 0..100.
	Progress int
	// Wait is the estimated wait in words, "" when unknown.
	Wait string
	// At is a time the page shows (in the reader's time zone, UTC in its
	// tooltip): AtLabel says what it is ("The line opens at").
	At      time.Time
	AtLabel string
	// Countdown is what the page counts down to (the draw, the opening),
	// zero for nothing.
	Countdown time.Time
	// Refresh is the seconds until the page reloads itself (no script);
	// 0 on a page that has nothing more to say.
	Refresh int
	// StatusURL is polled by the page's script.
	StatusURL string
	// Continue is where the page's button leads, "" for no button;
	// ContinueLabel its words.
	Continue, ContinueLabel string
	// Reference is a short code the buyer can quote to support.
	Reference string
	// Nonce allows the inline style and script under the page's CSP.
	Nonce string
}

// pageStatus is the JSON the page's script polls.
type pageStatus struct {
	State      string `json:"state"`
	Headline   string `json:"headline"`
	Detail     string `json:"detail"`
	Position   int64  `json:"position,omitempty"`
	Progress   int    `json:"progress"`
	Wait       string `json:"wait,omitempty"`
	At         string `json:"at,omitempty"`
	AtLabel    string `json:"atLabel,omitempty"`
	Countdown  string `json:"countdown,omitempty"`
	RetryAfter int    `json:"retryAfter"`
	// Ready: the user is admitted; reloading the page lets them in.
	Ready bool `json:"ready,omitempty"`
}

// gateRoom is the room as the gate sees it.
type gateRoom struct{ s *Server }

func (g gateRoom) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.s.room.ServeHTTP(w, r) }

// Page serves the waiting page under the API's limit and deadlines; an
// admitted visitor gets its token cookie and goes through the gate.
func (g gateRoom) Page(w http.ResponseWriter, r *http.Request, event, returnTo string, join bool) *accesstoken.Claims {
	if !g.s.enter(w) {
		return nil
	}
	defer g.s.exit()
	return g.s.servePage(w, r, event, returnTo, join, true)
}

// Renew sets the token cookie of a session the gate just heartbeated.
func (g gateRoom) Renew(w http.ResponseWriter, r *http.Request, sess room.Session) {
	if tok, err := g.s.accessToken(sess); err == nil {
		g.s.setCookie(w, r, TokenCookie, tok, sess.ExpiresAt.Sub(g.s.Now())+time.Minute)
	}
}

// waitPage is GET /wait/{event}?return=URL: joins on a page visit and
// shows where the browser stands; once admitted, sends it to return with
// its access token. A request that is not a page visit makes no session.
func (s *Server) waitPage(w http.ResponseWriter, r *http.Request) {
	event := r.PathValue("event")
	if err := room.ValidateID(event); err != nil {
		s.pageError(w, r, http.StatusBadRequest, "This waiting room link is not complete.",
			"Go back to the site and follow its link again.", "event id "+err.Error())
		return
	}
	visit := gate.Classify(r, "")
	if visit == gate.Machine {
		gate.Refuse(w, s.cfg.PollInterval, "the waiting page is for browsers: join through POST "+api.SessionsPath)
		return
	}
	ret := r.URL.Query().Get("return")
	if ret == "" && s.gate != nil {
		ret = "/" // the site behind the gate
	}
	s.servePage(w, r, event, ret, visit == gate.PageVisit, false)
}

// waitStatus is GET /wait/{event}/status: the page's poll, as JSON. It
// never joins: a browser without a session is told to reload the page.
// With ?wait= it is held for a change, as the API's status request is.
func (s *Server) waitStatus(w http.ResponseWriter, r *http.Request) {
	event := r.PathValue("event")
	if err := room.ValidateID(event); err != nil {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "eventId", "event id "+err.Error())
		return
	}
	wait, ok := waitParam(w, r)
	if !ok {
		return
	}
	d, sess, status, _ := s.pageState(w, r, event, false)
	if wait > 0 && sess.Status == room.StatusWaiting {
		if wt, wait, ok := s.register(&sess, wait); ok {
			held, err := s.holdOn(w, r, wt, wait)
			if err != nil {
				return // the browser went away
			}
			d, sess, status, _ = s.pageState(w, r, event, false)
			preferenceApplied(w, held)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	out := pageStatus{State: d.State, Headline: d.Headline, Detail: d.Detail, Position: d.Position, Progress: d.Progress,
		Wait: d.Wait, AtLabel: d.AtLabel, RetryAfter: d.Refresh, Ready: sess.Status == room.StatusActive}
	if !d.At.IsZero() {
		out.At = d.At.Format(time.RFC3339)
	}
	if !d.Countdown.IsZero() {
		out.Countdown = d.Countdown.Format(time.RFC3339)
	}
	if out.Ready {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
}

// servePage answers a browser that waits for event: the page, or once
// admitted, a redirect to ret with the access token (without ret, a page
// that says it is the user's turn, with the token in a cookie). Without
// join it only shows a session the browser has. At the gate (inline), an
// admitted browser gets its token cookie and no answer: the claims say
// the gate may pass the request itself.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request, event, ret string, join, inline bool) *accesstoken.Claims {
	var target *url.URL
	sameSite := true
	if ret != "" {
		var err error
		if target, sameSite, err = s.returnTarget(r, ret); err != nil {
			s.pageError(w, r, http.StatusBadRequest, "This link cannot take you back to the site.",
				"Go back to the site and follow its link to the waiting room again.", err.Error())
			return nil
		}
	}
	d, sess, status, retry := s.pageState(w, r, event, join)
	if sess.Status == room.StatusActive {
		if inline {
			if c, ok := s.passThrough(w, r, sess); ok {
				return c
			}
		}
		s.admit(w, r, sess, target, sameSite)
		return nil
	}
	d.StatusURL = "/wait/" + event + "/status"
	if ret != "" {
		d.StatusURL += "?" + url.Values{"return": {ret}}.Encode()
	}
	if retry > 0 {
		w.Header().Set("Retry-After", retryAfter(retry))
	}
	s.renderPage(w, r, status, d)
	return nil
}

// passThrough sets an admitted browser's token cookie for the gate to let
// its request through, and returns the token's claims.
func (s *Server) passThrough(w http.ResponseWriter, r *http.Request, sess room.Session) (*accesstoken.Claims, bool) {
	tok, err := s.accessToken(sess)
	if err != nil {
		return nil, false
	}
	s.setCookie(w, r, TokenCookie, tok, sess.ExpiresAt.Sub(s.Now())+time.Minute)
	return s.claims(sess), true
}

// pageState polls the browser's session of event, or joins it when join
// is set, and describes it: the page data, the session (zero if none),
// the HTTP status and when to come back.
func (s *Server) pageState(w http.ResponseWriter, r *http.Request, event string, join bool) (PageData, room.Session, int, time.Duration) {
	d := s.pageData(event)
	sess, p0, found, err := s.pageSession(w, r, event, join)
	if err != nil {
		a := outcome(err, s.Now())
		if a.log {
			s.log.Warn("waiting page", "event", event, "err", err)
		}
		d.State, d.Headline, d.Detail, d.At, d.AtLabel = a.state, a.headline, a.pageDetail, a.at, a.atLabel
		if a.state == "notopen" {
			d.Countdown = a.at
			a.retry = min(a.retry, 30*time.Second)
		}
		d.Refresh = int(math.Ceil(a.retry.Seconds()))
		return d, sess, a.status, a.retry
	}
	if !found {
		// A visit from another site: the page takes the place with a
		// request of its own (same-origin), so no other site can.
		d.State, d.Headline = "arriving", "Taking you to the line…"
		d.Detail = "If this page does not move on by itself, use the button."
		d.Continue, d.ContinueLabel, d.Refresh = r.URL.RequestURI(), "Join the line", 1
		return d, sess, http.StatusOK, time.Second
	}
	d.Reference = s.reference(sess.ID)
	switch sess.Status {
	case room.StatusActive:
		d.State, d.Headline = "ready", "It is your turn."
		return d, sess, http.StatusOK, 0
	case room.StatusLeft, room.StatusExpired:
		d.State, d.Headline, d.Detail = "ended", "Your place in line has ended.", "This event is no longer letting people in from this line."
		return d, sess, http.StatusGone, 0
	}
	retry := s.pollInterval(sess)
	d.Refresh = int(math.Ceil(retry.Seconds()))
	switch {
	case sess.PreQueued:
		d.State, d.Countdown, d.At, d.AtLabel = "prequeue", sess.StartsAt.UTC(), sess.StartsAt.UTC(), "Places are drawn at"
		d.Headline = "You are in the waiting room."
		d.Detail = "When the sale starts, everyone here gets a place in line at random: arriving earlier gives no advantage. Keep this page open."
	case sess.Method == room.MethodRandom:
		d.State, d.Headline = "lottery", "You are in the draw."
		d.Detail = "Each place that frees is given to someone waiting, drawn at random. Keep this page open."
	case sess.Paused:
		d.State, d.Position, d.Headline = "paused", sess.Position, "Entry is paused for a moment."
		d.Detail = "You keep your place; this page lets you in as soon as entry resumes."
	default:
		d.State, d.Position = "waiting", sess.Position
		d.Headline = "You are in line."
		d.Detail = "Keep this page open: it lets you in by itself when it is your turn."
		if wait, ok := room.EstimatedWait(sess.Position, sess.AdmissionRate); ok {
			d.Wait = waitWords(wait)
		}
	}
	if d.Position > 0 && p0 > 1 {
		d.Progress = int(100 * float64(p0-d.Position) / float64(p0-1))
	}
	return d, sess, http.StatusOK, retry
}

// pageSession finds the browser's session of event (a poll, which keeps it
// alive), or with join, joins the line under the browser's pseudonym.
// found is false when there is no session and join was not asked for. p0
// is the position the session first had.
func (s *Server) pageSession(w http.ResponseWriter, r *http.Request, event string, join bool) (sess room.Session, p0 int64, found bool, err error) {
	uid, known := s.browserID(r)
	if known {
		if c, err := r.Cookie(sessionCookie); err == nil {
			id, p0s, _ := strings.Cut(c.Value, ".")
			if room.ValidSessionID(id) {
				sess, err := s.st.Touch(r.Context(), id)
				if err == nil && sess.Status == room.StatusActive {
					// An admitted browser back at the page is alive: its
					// heartbeat gives it a token with the time it has left,
					// never one that expired while the store had not yet
					// ended the session.
					sess, err = s.st.Heartbeat(r.Context(), id)
				}
				if err == nil && sess.EventID == event && sess.UserID == s.pseudonym(uid) && sess.Status.Live() {
					p0, _ := strconv.ParseInt(p0s, 10, 64)
					return sess, p0, true, nil
				}
			}
		}
	}
	if !join {
		return room.Session{}, 0, false, nil
	}
	if s.cfg.RefuseUnknownEvents && !s.known(r, event) {
		return room.Session{}, 0, false, errUnknownEvent
	}
	if s.limiter != nil {
		if ok, _ := s.limiter.allow(s.clientIP(r), s.Now()); !ok {
			return room.Session{}, 0, false, errRateLimited
		}
	}
	if !known {
		s.setCookie(w, r, uidCookie, uid, 7*24*time.Hour)
	}
	sess, created, err := s.intake.Join(context.WithoutCancel(r.Context()),
		room.JoinRequest{EventID: event, UserID: s.pseudonym(uid), Key: s.joinKey(uid)})
	if err != nil {
		return room.Session{}, 0, false, err
	}
	if created {
		s.log.Debug("joined from the waiting page", "event", event, "ticket", sess.Seq, "ref", s.reference(sess.ID))
	}
	s.setCookie(w, r, sessionCookie, sess.ID+"."+strconv.FormatInt(sess.Position, 10), 24*time.Hour)
	return sess, sess.Position, true, nil
}

// browserID is the browser's random id, and whether it had one already
// (a new one is set as a cookie only when the browser joins).
func (s *Server) browserID(r *http.Request) (string, bool) {
	if c, err := r.Cookie(uidCookie); err == nil && len(c.Value) == 32 && room.ValidSessionID(c.Value) {
		return c.Value, true
	}
	return room.NewSessionID(), false
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for the whole site,
// Secure when the browser reached us over TLS.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.overTLS(r)})
}

// overTLS reports whether the browser reached us over TLS: directly, or
// through a trusted proxy that says so.
func (s *Server) overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if ap, err := netipAddr(r.RemoteAddr); err == nil && s.trusted(ap) {
		return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	}
	return false
}

// returnTarget checks a return address: a path on this site, or a URL on
// an allowed origin. sameSite says the token can go as a cookie.
func (s *Server) returnTarget(r *http.Request, ret string) (*url.URL, bool, error) {
	u, err := url.Parse(ret)
	if err != nil || u.Opaque != "" || u.User != nil {
		return nil, false, fmt.Errorf("the return address %q is not a URL", ret)
	}
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(ret, "//") || strings.Contains(ret, `\`) {
			return nil, false, fmt.Errorf("the return address %q must be a path starting with / or an allowed URL", ret)
		}
		return u, true, nil
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, false, fmt.Errorf("the return address %q is not http(s)", ret)
	}
	origin := u.Scheme + "://" + strings.ToLower(u.Host)
	for _, o := range s.cfg.Page.ReturnOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return u, strings.EqualFold(u.Host, r.Host), nil
		}
	}
	return nil, false, fmt.Errorf("the return address's origin %s is not among the allowed ones (page.returnOrigins)", origin)
}

// admit sends an admitted browser to its return address with its access
// token: a cookie for this site, a parameter for another.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, sess room.Session, target *url.URL, sameSite bool) {
	tok, err := s.accessToken(sess)
	if err != nil {
		s.log.Error("sign access token", "err", err)
		s.pageError(w, r, http.StatusServiceUnavailable, "The waiting room is busy.", "Reload this page in a moment; your place is kept.", "")
		return
	}
	held := sess.ExpiresAt.Sub(s.Now())
	if target == nil {
		s.setCookie(w, r, TokenCookie, tok, held+time.Minute)
		d := s.pageData(sess.EventID)
		d.State, d.Headline, d.Reference = "ready", "It is your turn.", s.reference(sess.ID)
		d.Detail = "Your place is held for " + heldWords(held) + ", and for as long as you keep using the site. Go back to the site now."
		d.At, d.AtLabel = sess.ExpiresAt.UTC(), "Held until"
		if u := s.cfg.Page.SiteURL; u != "" {
			d.Continue, d.ContinueLabel = u, "Continue to "+cmp.Or(s.cfg.Page.SiteName, "the site")
		}
		s.renderPage(w, r, http.StatusOK, d)
		return
	}
	dest := *target
	if sameSite {
		s.setCookie(w, r, TokenCookie, tok, held+time.Minute)
	} else {
		q := dest.Query()
		q.Set(TokenParam, tok)
		dest.RawQuery = q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, dest.String(), http.StatusSeeOther)
}

// renderPage writes the waiting page under a strict CSP: no external
// asset, only this response's inline style and script.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, d PageData) {
	var nonce [16]byte
	rand.Read(nonce[:])
	d.Nonce = base64.StdEncoding.EncodeToString(nonce[:])
	tmpl := s.cfg.Page.Template
	if tmpl == nil {
		tmpl = defaultPage
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, d); err != nil {
		s.log.Error("waiting page template", "err", err)
		http.Error(w, "the waiting page could not be shown", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+d.Nonce+"'; script-src 'nonce-"+d.Nonce+
		"'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// pageError shows a page that says, in a buyer's words, what went wrong
// and what to do; the operator's words go to the log.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, status int, headline, detail, why string) {
	if why != "" {
		s.log.Info("waiting page refused", "status", status, "why", why)
	}
	d := s.pageData("")
	d.State, d.Headline, d.Detail = "error", headline, detail
	s.renderPage(w, r, status, d)
}

func (s *Server) pageData(event string) PageData {
	p := s.cfg.Page
	return PageData{EventID: event, Title: cmp.Or(p.Title, p.SiteName, event, "Waiting room"), Message: p.Message,
		Color: cmp.Or(p.Color, "#1f6feb"), Background: cmp.Or(p.Background, "#f6f8fa")}
}

// waitWords says an estimated wait as a person would.
func waitWords(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < 90*time.Second:
		return "about a minute"
	case d < time.Hour:
		return fmt.Sprintf("about %d minutes", int(math.Round(d.Minutes())))
	}
	return fmt.Sprintf("about %.1f hours", d.Hours())
}

// heldWords says how long an admitted place is held.
func heldWords(d time.Duration) string {
	if d < 90*time.Second {
		return fmt.Sprintf("%d seconds", max(int(d.Seconds()), 1))
	}
	return waitWords(d)
}

// netipAddr is the address of a request's peer.
func netipAddr(remote string) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(remote)
	return ap.Addr().Unmap(), err
}
