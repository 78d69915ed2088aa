package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Code is a stable, machine-readable reason.
	Code string `json:"code,omitempty"`
	// Field names the input at fault, when there is one.
	Field string `json:"field,omitempty"`
}

// Problem codes.
const (
	CodeInvalidInput     = "invalid_input"
	CodeMalformedJSON    = "malformed_json"
	CodeBodyTooLarge     = "body_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeSessionEnded     = "session_ended"
	CodeUnavailable      = "unavailable"
)

// writeProblem writes every API error: the one place errors leave the server.
func writeProblem(w http.ResponseWriter, status int, code, field, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
		Field:  field,
	})
}

// unavailable answers 503 with a Retry-After, for a store or queue that
// cannot be reached: the client should try again, nothing was changed.
func unavailable(w http.ResponseWriter, retry time.Duration, detail string) {
	w.Header().Set("Retry-After", retryAfter(retry))
	writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, "", detail)
}

func retryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	return strconv.Itoa(max(s, 1))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
