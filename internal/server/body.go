package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/wrctl/wrctl/internal/api"
)

// decodeBody reads one JSON object of at most MaxBodyBytes into v, refusing
// other media types, unknown fields, keys that differ from a field only in
// case, duplicate keys, wrong types and trailing data; it answers the
// problem itself. accepted names the fields, for the message.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, accepted string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia, "", "send the body as application/json")
		return false
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		// Refused at once from the declared length, not after reading.
		w.Header().Set("Connection", "close")
		writeProblem(w, http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "", fmt.Sprintf("the body must be at most %d bytes", s.cfg.MaxBodyBytes))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		decodeProblem(w, err, accepted)
		return false
	}
	if field, problem := checkKeys(body, v); problem != "" {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, field, problem+": only "+accepted+" are accepted, each once, spelled exactly")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
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

// checkKeys walks the top-level keys of a JSON object and reports the first
// that encoding/json would accept but the API does not: a duplicate (which
// would silently win) or one matching a field of v only without regard to
// case. Malformed JSON is left for the decoder to report.
func checkKeys(body []byte, v any) (field, problem string) {
	names := jsonNames(reflect.TypeOf(v))
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", ""
		}
		key, _ := t.(string)
		if seen[key] {
			return key, fmt.Sprintf("duplicate key %q", key)
		}
		seen[key] = true
		if !names[key] {
			for n := range names {
				if strings.EqualFold(n, key) {
					return key, fmt.Sprintf("unknown field %q (did you mean %q?)", key, n)
				}
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", ""
		}
	}
	return "", ""
}

// jsonNames returns the JSON keys of a struct (or pointer to one).
func jsonNames(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
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
