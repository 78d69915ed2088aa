package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/wrctl/wrctl/internal/api"
)

// writeProblem writes every API error: the one place errors leave the server.
func writeProblem(w http.ResponseWriter, status int, code, field, detail string) {
	writeProblemBody(w, status, newProblem(status, code, field, detail))
}

func newProblem(status int, code, field, detail string) api.Problem {
	return api.NewProblem(status, code, field, detail)
}

// writeProblemBody writes a problem body, which may extend api.Problem.
func writeProblemBody(w http.ResponseWriter, status int, body any) { api.WriteProblem(w, status, body) }

// unavailable answers 503 with a Retry-After, for a store or queue that
// cannot be reached: the client should try again, nothing was changed.
func unavailable(w http.ResponseWriter, retry time.Duration, detail string) {
	unavailableCode(w, retry, api.CodeUnavailable, detail)
}

// unavailableCode is unavailable with a more precise problem code.
func unavailableCode(w http.ResponseWriter, retry time.Duration, code, detail string) {
	w.Header().Set("Retry-After", retryAfter(retry))
	writeProblem(w, http.StatusServiceUnavailable, code, "", detail)
}

func retryAfter(d time.Duration) string { return api.RetryAfter(d) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
