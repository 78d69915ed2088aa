package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Problem codes of the gate.
const (
	// CodeWaitingRoom answers a request for a guarded path that carries no
	// valid access token and is not a page visit: nothing was joined.
	CodeWaitingRoom = "waiting_room"
	// CodeAmbiguousPath refuses a path that sites may route in more than
	// one way (encoded dot segments, backslashes, double encoding).
	CodeAmbiguousPath = "ambiguous_path"
)

// NewProblem is a problem body with the status's title.
func NewProblem(status int, code, field, detail string) Problem {
	return Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code, Field: field}
}

// WriteProblem writes a problem body (an api.Problem, or a struct that
// embeds one) as application/problem+json, never cached.
func WriteProblem(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// RetryAfter is a Retry-After header value: d in whole seconds, rounded
// up, at least 1.
func RetryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	return strconv.Itoa(max(s, 1))
}
