package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// PageConfig brands the waiting page and says where it may send people.
type PageConfig struct {
	// Title heads the page; Message is said under it.
	Title, Message string
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
	// uidCookie is the browser's random user id, which is also the key of
	// its joins: a reload keeps the place.
	uidCookie = "wrctl_uid"
	// sessionCookie names the browser's session, with the position it
	// first had ("id.p0"), for the page's progress.
	sessionCookie = "wrctl_s"
	// TokenCookie carries the access token to the protected site.
	TokenCookie = "wrctl_token"
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
	// State is waiting, prequeue, lottery, paused, notopen, ended,
	// rejected, full or unavailable.
	State string
	// Headline and Detail say the state in words.
	Headline, Detail string
	// Position is the place in line, 0 when there is none to show.
	Position int64
	// Progress is how far the user has come since joining, 0..100.
	Progress int
	// Wait is the estimated wait in words, "" when unknown.
	Wait string
	// StartsAt is the start (pre-queue) or the opening (not open), UTC.
	StartsAt time.Time
	// Refresh is the seconds until the page reloads itself (no script).
	Refresh int
	// StatusURL is polled by the page's script.
	StatusURL string
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
	StartsAt   string `json:"startsAt,omitempty"`
	RetryAfter int    `json:"retryAfter"`
	// Ready: the user is admitted; reloading the page lets them in.
	Ready bool `json:"ready,omitempty"`
}

// waitPage is GET /wait/{event}?return=URL: joins on arrival and shows
// where the browser stands; once admitted, sends it to return with its
// access token.
func (s *Server) waitPage(w http.ResponseWriter, r *http.Request) {
	event := r.PathValue("event")
	if err := room.ValidateID(event); err != nil {
		s.pageError(w, r, http.StatusBadRequest, "This waiting room address is not valid.", "event id "+err.Error())
		return
	}
	ret := r.URL.Query().Get("return")
	if ret == "" && s.gate != nil {
		ret = "/" // the site behind the gate
	}
	s.servePage(w, r, event, ret)
}

// waitStatus is GET /wait/{event}/status: the page's poll, as JSON.
func (s *Server) waitStatus(w http.ResponseWriter, r *http.Request) {
	event := r.PathValue("event")
	if err := room.ValidateID(event); err != nil {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "eventId", "event id "+err.Error())
		return
	}
	d, sess, status, _ := s.pageState(w, r, event)
	w.Header().Set("Cache-Control", "no-store")
	out := pageStatus{State: d.State, Headline: d.Headline, Detail: d.Detail, Position: d.Position, Progress: d.Progress,
		Wait: d.Wait, RetryAfter: d.Refresh, Ready: sess.Status == room.StatusActive}
	if !d.StartsAt.IsZero() {
		out.StartsAt = d.StartsAt.Format(time.RFC3339)
	}
	if out.Ready {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
}

// servePage answers a browser that waits for event: the page, or once
// admitted, a redirect to ret with the access token (without ret, a page
// that says it is the user's turn, with the token in a cookie).
func (s *Server) servePage(w http.ResponseWriter, r *http.Request, event, ret string) {
	var target *url.URL
	sameSite := true
	if ret != "" {
		var err error
		if target, sameSite, err = s.returnTarget(r, ret); err != nil {
			s.pageError(w, r, http.StatusBadRequest, "This waiting room cannot send you there.", err.Error())
			return
		}
	}
	d, sess, status, retry := s.pageState(w, r, event)
	if sess.Status == room.StatusActive {
		s.admit(w, r, sess, target, sameSite)
		return
	}
	d.StatusURL = "/wait/" + event + "/status"
	if ret != "" {
		d.StatusURL += "?" + url.Values{"return": {ret}}.Encode()
	}
	if retry > 0 {
		w.Header().Set("Retry-After", retryAfter(retry))
	}
	s.renderPage(w, r, status, d)
}

// pageState joins or polls the browser's session of event and describes
// it: the page data, the session (zero if none), the HTTP status and when
// to come back.
func (s *Server) pageState(w http.ResponseWriter, r *http.Request, event string) (PageData, room.Session, int, time.Duration) {
	d := s.pageData(event)
	sess, p0, err := s.pageSession(w, r, event)
	var (
		notOpen  *room.NotOpenError
		ended    *room.EndedError
		rejected *room.RejectedError
	)
	switch {
	case errors.As(err, &notOpen):
		d.State, d.Headline, d.StartsAt = "notopen", "The line is not open yet.", notOpen.OpensAt.UTC()
		d.Detail = "It opens at " + notOpen.OpensAt.UTC().Format("15:04 MST, 2 January") + ". This page will let you in then."
		wait := notOpen.OpensAt.Sub(s.Now())
		d.Refresh = int(math.Ceil(min(max(wait, time.Second), 30*time.Second).Seconds()))
		return d, sess, http.StatusForbidden, wait
	case errors.As(err, &ended):
		d.State, d.Headline, d.Detail = "ended", "This event has ended.", "It closed at "+ended.EndsAt.UTC().Format("15:04 MST, 2 January")+" and takes no one else."
		return d, sess, http.StatusGone, 0
	case errors.As(err, &rejected):
		d.State, d.Headline, d.Detail = "rejected", cmp.Or(rejected.Message, "This event takes no one else."), "Thank you for your patience."
		return d, sess, http.StatusServiceUnavailable, 0
	case errors.Is(err, room.ErrLineFull):
		d.State, d.Headline, d.Detail, d.Refresh = "full", "The line is full right now.", "This page tries again by itself.", 10
		return d, sess, http.StatusServiceUnavailable, 10 * time.Second
	case errors.Is(err, errUnknownEvent):
		d.State, d.Headline, d.Detail = "unknown", "There is no such waiting room.", "Check the address you were given."
		return d, sess, http.StatusNotFound, 0
	case errors.Is(err, errRateLimited):
		d.State, d.Headline, d.Detail, d.Refresh = "unavailable", "Too many tries from your network.", "This page tries again by itself.", 5
		return d, sess, http.StatusTooManyRequests, 5 * time.Second
	case err != nil:
		s.log.Warn("waiting page", "event", event, "err", err)
		d.State, d.Headline, d.Detail, d.Refresh = "unavailable", "The waiting room is busy.", "This page tries again by itself; your place is kept.", 5
		return d, sess, http.StatusServiceUnavailable, 5 * time.Second
	}
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
		d.State, d.StartsAt = "prequeue", sess.StartsAt.UTC()
		d.Headline = "You are in the waiting room."
		d.Detail = "At " + sess.StartsAt.UTC().Format("15:04:05 MST") + " everyone here gets a place in line at random; arriving earlier gives no advantage. Keep this page open."
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

var (
	errUnknownEvent = errors.New("unknown event")
	errRateLimited  = errors.New("too many joins from this address")
)

// pageSession finds the browser's session of event (a poll, which keeps it
// alive), or joins it with the browser's id as both user id and key. p0 is
// the position the session first had.
func (s *Server) pageSession(w http.ResponseWriter, r *http.Request, event string) (room.Session, int64, error) {
	uid := s.browserID(w, r)
	if c, err := r.Cookie(sessionCookie); err == nil {
		id, p0s, _ := strings.Cut(c.Value, ".")
		if room.ValidSessionID(id) {
			sess, err := s.st.Touch(r.Context(), id)
			if err == nil && sess.EventID == event && sess.UserID == uid && sess.Status.Live() {
				p0, _ := strconv.ParseInt(p0s, 10, 64)
				return sess, p0, nil
			}
		}
	}
	if s.cfg.RefuseUnknownEvents && !s.known(r, event) {
		return room.Session{}, 0, errUnknownEvent
	}
	if s.limiter != nil {
		if ok, _ := s.limiter.allow(s.clientIP(r), s.Now()); !ok {
			return room.Session{}, 0, errRateLimited
		}
	}
	sess, created, err := s.intake.Join(context.WithoutCancel(r.Context()), room.JoinRequest{EventID: event, UserID: uid, Key: uid})
	if err != nil {
		return room.Session{}, 0, err
	}
	if created {
		s.log.Debug("joined from the waiting page", "event", event, "ticket", sess.Seq)
	}
	s.setCookie(w, r, sessionCookie, sess.ID+"."+strconv.FormatInt(sess.Position, 10), 24*time.Hour)
	return sess, sess.Position, nil
}

// browserID is the browser's random id, set on its first visit.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(uidCookie); err == nil && len(c.Value) == 32 && room.ValidSessionID(c.Value) {
		return c.Value
	}
	id := room.NewSessionID()
	s.setCookie(w, r, uidCookie, id, 7*24*time.Hour)
	r.AddCookie(&http.Cookie{Name: uidCookie, Value: id}) // the rest of this request sees it
	return id
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
		s.pageError(w, r, http.StatusServiceUnavailable, "The waiting room is busy.", "Reload this page in a moment; your place is kept.")
		return
	}
	if target == nil {
		s.setCookie(w, r, TokenCookie, tok, sess.ExpiresAt.Sub(s.Now())+time.Minute)
		d := s.pageData(sess.EventID)
		d.State, d.Headline, d.Detail = "ready", "It is your turn.", "You are in: your access is held in this browser until "+sess.ExpiresAt.UTC().Format("15:04:05 MST")+"."
		s.renderPage(w, r, http.StatusOK, d)
		return
	}
	dest := *target
	if sameSite {
		s.setCookie(w, r, TokenCookie, tok, sess.ExpiresAt.Sub(s.Now())+time.Minute)
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

// pageError shows a page that only says what went wrong.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, status int, headline, detail string) {
	d := s.pageData("")
	d.State, d.Headline, d.Detail = "error", headline, detail
	s.renderPage(w, r, status, d)
}

func (s *Server) pageData(event string) PageData {
	p := s.cfg.Page
	return PageData{EventID: event, Title: cmp.Or(p.Title, "Waiting room"), Message: p.Message,
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

// netipAddr is the address of a request's peer.
func netipAddr(remote string) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(remote)
	return ap.Addr().Unmap(), err
}
