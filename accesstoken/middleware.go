package accesstoken

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// DefaultCookie is the cookie Middleware reads a token from when the request
// has no Authorization header.
const DefaultCookie = "wrctl_token"

type middleware struct {
	cookie string
	events []string
}

// MiddlewareOption tunes Middleware.
type MiddlewareOption func(*middleware)

// Cookie reads the token from this cookie when there is no
// Authorization: Bearer header. Default DefaultCookie.
func Cookie(name string) MiddlewareOption { return func(m *middleware) { m.cookie = name } }

// RequireEvent admits only tokens for one of these events; others get 403.
func RequireEvent(ids ...string) MiddlewareOption {
	return func(m *middleware) { m.events = append(m.events, ids...) }
}

type ctxKey struct{}

// FromContext returns the claims Middleware verified for this request.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok
}

// Middleware lets through only requests that carry a valid token (in an
// Authorization: Bearer header or the cookie), with its claims in the
// request context. Others get 401 (no or bad token) or 403 (another event)
// with an application/problem+json body.
func Middleware(v *Verifier, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	m := &middleware{cookie: DefaultCookie}
	for _, o := range opts {
		o(m)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw := bearer(r)
			if raw == "" {
				if c, err := r.Cookie(m.cookie); err == nil {
					raw = c.Value
				}
			}
			if raw == "" {
				refuse(w, http.StatusUnauthorized, `Bearer realm="wrctl"`, "an access token from the waiting room is required")
				return
			}
			claims, err := v.Verify(r.Context(), raw)
			if err != nil {
				refuse(w, http.StatusUnauthorized, `Bearer realm="wrctl", error="invalid_token"`, "the access token is invalid or expired: join the waiting room again")
				return
			}
			if len(m.events) > 0 && !slices.Contains(m.events, claims.EventID) {
				refuse(w, http.StatusForbidden, `Bearer realm="wrctl", error="insufficient_scope"`, "the access token is for another event")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, claims)))
		})
	}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func refuse(w http.ResponseWriter, status int, challenge, detail string) {
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail,
	})
}
