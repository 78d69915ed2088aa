// Package client is the waiting room's API client, shared by the join,
// status, heartbeat and leave commands, the load generator and the dashboard.
package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/api"
)

// Client talks to one wrctl server.
type Client struct {
	base string
	http *http.Client
	// timeout bounds each request (a held one, for its hold on top);
	// zero leaves it to hc.
	timeout time.Duration
}

// requestTimeout bounds each request of a client made with hc nil.
const requestTimeout = 10 * time.Second

// New returns a client for the server at base (http://host:port). hc nil
// means a client whose requests time out after 10s, plus the hold of a
// held status request; hc's own Timeout must allow for holds.
func New(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port]", base)
	}
	c := &Client{base: strings.TrimRight(base, "/"), http: hc}
	if hc == nil {
		c.http, c.timeout = &http.Client{}, requestTimeout
	}
	return c, nil
}

// BaseURL returns the server's URL.
func (c *Client) BaseURL() string { return c.base }

// APIError is a response other than the one asked for, with its problem body.
type APIError struct {
	StatusCode int
	Problem    api.Problem
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := e.Problem.Detail
	if msg == "" {
		msg = e.Problem.Title
	}
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("server answered %d: %s", e.StatusCode, msg)
}

// Temporary reports whether trying again later may succeed (5xx, 429).
func (e *APIError) Temporary() bool {
	if e.Problem.Code == api.CodeEventRejected {
		return false // the event's answer (sold out), not an outage
	}
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// NetworkError is a request that got no HTTP answer.
type NetworkError struct{ Err error }

func (e *NetworkError) Error() string { return "cannot reach the server: " + e.Err.Error() }
func (e *NetworkError) Unwrap() error { return e.Err }

// response is a decoded answer.
type response struct {
	status     int
	body       []byte
	retryAfter time.Duration
	held       bool // the server held the request (Preference-Applied)
}

func (c *Client) do(ctx context.Context, method, path string, body any, want int) (response, error) {
	return c.doWith(ctx, method, path, body, nil, want)
}

func (c *Client) doWith(ctx context.Context, method, path string, body any, hdr http.Header, want int) (response, error) {
	return c.doHeld(ctx, method, path, body, hdr, want, 0)
}

// doHeld sends a request the server may hold for up to hold.
func (c *Client) doHeld(ctx context.Context, method, path string, body any, hdr http.Header, want int, hold time.Duration) (response, error) {
	parent := ctx // its end is the caller's; the timeout's is a network error
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout+hold)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return response{}, parent.Err()
		}
		return response{}, &NetworkError{err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return response{}, &NetworkError{err}
	}
	r := response{status: resp.StatusCode, body: b, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After")),
		held: resp.Header.Get("Preference-Applied") != ""}
	if resp.StatusCode != want {
		e := &APIError{StatusCode: resp.StatusCode, RetryAfter: r.retryAfter}
		json.Unmarshal(b, &e.Problem)
		return r, e
	}
	return r, nil
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func decodeSession(r response) (api.Session, error) {
	var s api.Session
	if err := json.Unmarshal(r.body, &s); err != nil {
		return s, fmt.Errorf("decode session: %w", err)
	}
	return s, nil
}

// Join joins an event's line (or returns the place the user already holds).
func (c *Client) Join(ctx context.Context, eventID, userID, key string) (api.Session, error) {
	s, _, err := c.JoinRetryAfter(ctx, eventID, userID, key)
	return s, err
}

// JoinRetryAfter is Join that also returns how long the server asks to wait
// before the first status poll. key, if not empty, is sent as the
// Idempotency-Key: a retry with the same key gets the same session back,
// and nobody without it can.
func (c *Client) JoinRetryAfter(ctx context.Context, eventID, userID, key string) (api.Session, time.Duration, error) {
	var hdr http.Header
	if key != "" {
		hdr = http.Header{"Idempotency-Key": {key}}
	}
	r, err := c.doWith(ctx, http.MethodPost, api.SessionsPath, api.JoinRequest{EventID: eventID, UserID: userID}, hdr, http.StatusAccepted)
	if err != nil {
		return api.Session{}, 0, err
	}
	s, err := decodeSession(r)
	return s, r.retryAfter, err
}

// JoinRetrying joins, retrying a network error or a 503 with the same key,
// so a join that reached the server before the error is never made twice:
// until ctx is done, or tries attempts when tries > 0. It waits the
// server's Retry-After between tries, at least a second.
func (c *Client) JoinRetrying(ctx context.Context, eventID, userID, key string, tries int) (api.Session, error) {
	for try := 1; ; try++ {
		s, err := c.Join(ctx, eventID, userID, key)
		var ae *APIError
		var ne *NetworkError
		wait := time.Second
		switch {
		case err == nil:
			return s, nil
		case errors.As(err, &ae) && ae.StatusCode == http.StatusServiceUnavailable && ae.Temporary():
			wait = max(ae.RetryAfter, wait)
		case errors.As(err, &ne):
		default:
			return s, err
		}
		if try == tries {
			return s, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return s, err
		case <-t.C:
		}
	}
}

// NewIdempotencyKey returns a random key for a join.
func NewIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Status returns a session and how long the server asks to wait before
// polling again (zero unless WAITING).
func (c *Client) Status(ctx context.Context, id string) (api.Session, time.Duration, error) {
	r, err := c.do(ctx, http.MethodGet, api.SessionPath(url.PathEscape(id), ""), nil, http.StatusOK)
	if err != nil {
		return api.Session{}, 0, err
	}
	s, err := decodeSession(r)
	return s, r.retryAfter, err
}

// DefaultHold is how long Wait asks the server to hold each status
// request for a change: under the usual load balancers' idle timeout.
const DefaultHold = 25 * time.Second

// StatusHeld is Status held by the server until the session changes (or
// its place moves by a step), at most hold: ?wait=. held says the server
// did hold it; when it did not (at its limit of held requests), retry is
// its Retry-After, to be obeyed as for a plain poll.
func (c *Client) StatusHeld(ctx context.Context, id string, hold time.Duration) (s api.Session, retry time.Duration, held bool, err error) {
	path := api.SessionPath(url.PathEscape(id), "") + "?wait=" + strconv.Itoa(int(hold.Round(time.Second)/time.Second))
	r, err := c.doHeld(ctx, http.MethodGet, path, nil, nil, http.StatusOK, hold)
	if err != nil {
		return api.Session{}, r.retryAfter, false, err
	}
	s, err = decodeSession(r)
	return s, r.retryAfter, r.held, err
}

// Heartbeat keeps a session alive.
func (c *Client) Heartbeat(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodPost, api.SessionPath(url.PathEscape(id), "heartbeat"), nil, http.StatusNoContent)
	return err
}

// Leave ends a session and frees its place.
func (c *Client) Leave(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodPost, api.SessionPath(url.PathEscape(id), "leave"), nil, http.StatusNoContent)
	return err
}

// Ready checks the server answers and its store and queue can be
// reached (GET /readyz).
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, http.StatusOK)
	return err
}

// JWKSURL is where the server publishes its token keys.
func (c *Client) JWKSURL() string { return c.base + api.JWKSPath }

// IsNotFound reports whether err is the server's 404: no such session, or
// (admin API) no such event.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// ErrEnded is returned by Wait when the session ended before admission.
var ErrEnded = errors.New("session ended")

// WaitOptions tunes Wait.
type WaitOptions struct {
	// PollInterval, when positive, polls this often without asking the
	// server to hold the requests.
	PollInterval time.Duration
	// Hold is how long each status request asks to be held for a change;
	// 0 is DefaultHold, negative polls without holding (following the
	// server's Retry-After).
	Hold time.Duration
	// Progress, if set, sees every status while waiting.
	Progress func(api.Session)
}

// Wait polls a session until it is ACTIVE (returned with its token), it ends
// (ErrEnded), or ctx is done. Each status request is held by the server
// until something changes (WaitOptions.Hold), so the admission is heard the
// moment it happens; a request the server did not hold is followed by the
// next after its Retry-After. Polling keeps a WAITING session alive; Wait
// rides out temporary errors (5xx, 429, network) with backoff.
func (c *Client) Wait(ctx context.Context, id string, o WaitOptions) (api.Session, error) {
	backoff := 250 * time.Millisecond
	hold := cmp.Or(o.Hold, DefaultHold)
	if o.PollInterval > 0 {
		hold = -1
	}
	for first := true; ; first = false {
		var (
			s     api.Session
			retry time.Duration
			held  bool
			err   error
		)
		// The first request answers at once (where the session stands
		// now); the next ones wait for a change.
		if hold > 0 && !first {
			s, retry, held, err = c.StatusHeld(ctx, id, hold)
		} else {
			s, retry, err = c.Status(ctx, id)
		}
		var ae *APIError
		var ne *NetworkError
		switch {
		case err == nil:
			backoff = 250 * time.Millisecond
			if o.Progress != nil {
				o.Progress(s)
			}
			switch {
			case s.Status == api.StatusActive:
				return s, nil
			case s.Ended():
				return s, fmt.Errorf("%w: %s (%s)", ErrEnded, s.Status, s.EndReason)
			}
			switch {
			case o.PollInterval > 0:
				retry = o.PollInterval
			case held, first && hold > 0:
				continue // ask again at once, to be held
			case retry <= 0:
				retry = 2 * time.Second
			}
		case errors.As(err, &ae) && ae.Temporary(), errors.As(err, &ne):
			retry = max(backoff, 0)
			if ae != nil && ae.RetryAfter > 0 {
				retry = ae.RetryAfter
			}
			backoff = min(backoff*2, 10*time.Second)
		default:
			return s, err
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return s, ctx.Err()
		case <-t.C:
		}
	}
}

// EventStats returns an event's counts.
func (c *Client) EventStats(ctx context.Context, eventID string) (api.EventStats, error) {
	var st api.EventStats
	r, err := c.do(ctx, http.MethodGet, api.EventStatsPath(url.PathEscape(eventID)), nil, http.StatusOK)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(r.body, &st); err != nil {
		return st, fmt.Errorf("decode stats: %w", err)
	}
	return st, nil
}

// Events returns the stats of the listed events (up to the server's
// limit): those that have had sessions and the public ones.
func (c *Client) Events(ctx context.Context) (api.EventList, error) {
	var l api.EventList
	r, err := c.do(ctx, http.MethodGet, api.EventsPath, nil, http.StatusOK)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		return l, fmt.Errorf("decode events: %w", err)
	}
	return l, nil
}

// AdminClient calls the admin API with a bearer token.
type AdminClient struct {
	c     *Client
	token string
}

// Admin returns an admin API client.
func (c *Client) Admin(token string) *AdminClient { return &AdminClient{c: c, token: token} }

// EventStats returns the stats of every event the server knows, scheduled
// drops nobody has joined yet included (the operator's view of the list).
func (a *AdminClient) EventStats(ctx context.Context) (api.EventList, error) {
	var l api.EventList
	r, err := a.c.doWith(ctx, http.MethodGet, api.EventsPath, nil, http.Header{"Authorization": {"Bearer " + a.token}}, http.StatusOK)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		return l, fmt.Errorf("decode events: %w", err)
	}
	return l, nil
}

func (a *AdminClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &NetworkError{err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		e := &APIError{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
		json.Unmarshal(b, &e.Problem)
		return e
	}
	return json.Unmarshal(b, out)
}

// Events lists every event with its settings.
func (a *AdminClient) Events(ctx context.Context) ([]api.AdminEvent, error) {
	var out struct {
		Events []api.AdminEvent `json:"events"`
	}
	err := a.do(ctx, http.MethodGet, api.AdminEventsPath, nil, &out)
	return out.Events, err
}

// Event returns one event's settings.
func (a *AdminClient) Event(ctx context.Context, id string) (api.AdminEvent, error) {
	var ev api.AdminEvent
	err := a.do(ctx, http.MethodGet, api.AdminEventsPath+"/"+url.PathEscape(id), nil, &ev)
	return ev, err
}

// Shuffle returns the record of the event's last start (its pre-queue's
// shuffle); a 404 APIError when it had none.
func (a *AdminClient) Shuffle(ctx context.Context, id string) (api.Shuffle, error) {
	var sh api.Shuffle
	err := a.do(ctx, http.MethodGet, api.AdminShufflePath(url.PathEscape(id)), nil, &sh)
	return sh, err
}

// PutEvent replaces one event's settings.
func (a *AdminClient) PutEvent(ctx context.Context, id string, s api.EventSettings) (api.AdminEvent, error) {
	var ev api.AdminEvent
	err := a.do(ctx, http.MethodPut, api.AdminEventsPath+"/"+url.PathEscape(id), s, &ev)
	return ev, err
}

// Audit streams an event's audit log (JSON Lines, docs/audit.md); the
// caller closes it.
func (c *Client) Audit(ctx context.Context, eventID string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+api.EventAuditPath(url.PathEscape(eventID)), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &NetworkError{err}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &APIError{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
		json.Unmarshal(b, &e.Problem)
		return nil, e
	}
	return resp.Body, nil
}

// JWKS reads the room's key set.
func (c *Client) JWKS(ctx context.Context) ([]byte, error) {
	r, err := c.do(ctx, http.MethodGet, api.JWKSPath, nil, http.StatusOK)
	return r.body, err
}
