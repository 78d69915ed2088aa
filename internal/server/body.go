package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/wrctl/wrctl/internal/api"
)

// decodeBody reads one JSON object of at most MaxBodyBytes into v, refusing
// other media types, unknown fields, wrong types and trailing data; it
// answers the problem itself. accepted names the fields, for the message.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, accepted string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia, "", "send the body as application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		decodeProblem(w, err, accepted)
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			decodeProblem(w, err, accepted)
		} else {
			writeProblem(w, http.StatusBadRequest, api.CodeMalformedJSON, "", "the body must hold exactly one JSON object")
		}
		return false
	}
	return true
}

func decodeProblem(w http.ResponseWriter, err error, accepted string) {
	var (
		mbe  *http.MaxBytesError
		ute  *json.UnmarshalTypeError
		syne *json.SyntaxError
	)
	switch {
	case errors.As(err, &mbe):
		writeProblem(w, http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "", fmt.Sprintf("the body must be at most %d bytes", mbe.Limit))
	case errors.As(err, &ute) && ute.Field == "":
		writeProblem(w, http.StatusBadRequest, api.CodeMalformedJSON, "", "the body must be a JSON object, not "+ute.Value)
	case errors.As(err, &ute):
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, ute.Field, fmt.Sprintf("%s must be a %s, not %s", ute.Field, ute.Type, ute.Value))
	case errors.As(err, &syne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		writeProblem(w, http.StatusBadRequest, api.CodeMalformedJSON, "", "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, field, fmt.Sprintf("unknown field %q: only %s are accepted", field, accepted))
	default:
		writeProblem(w, http.StatusBadRequest, api.CodeMalformedJSON, "", "the body could not be read: "+err.Error())
	}
}
