package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/server"
)

// openAPI is what the test reads of docs/openapi.yaml.
type openAPI struct {
	OpenAPI    string                               `yaml:"openapi"`
	Paths      map[string]map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func readOpenAPI(t *testing.T) openAPI {
	t.Helper()
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

// operations are the documented "METHOD /path" of the description.
func (d openAPI) operations() []string {
	var out []string
	for path, ops := range d.Paths {
		for method := range ops {
			if m := strings.ToUpper(method); slices.Contains([]string{"GET", "POST", "PUT", "DELETE", "PATCH"}, m) {
				out = append(out, m+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// pattern is the server's route for a documented path.
func pattern(path string) string {
	path = strings.NewReplacer("{sessionId}:heartbeat", "{seg}", "{sessionId}:leave", "{seg}", "{sessionId}", "{seg}", "{eventId}", "{event}").Replace(path)
	return path
}

// TestOpenAPIDescribesEveryRoute: docs/openapi.yaml names every route the
// server has and no other, and its schemas name the fields the server
// writes: a route or a field added without its description fails here.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := readOpenAPI(t)
	var documented []string
	for _, op := range doc.operations() {
		method, path, _ := strings.Cut(op, " ")
		if r := method + " " + pattern(path); !slices.Contains(documented, r) {
			documented = append(documented, r)
		}
	}
	slices.Sort(documented)
	routes := server.Routes()
	slices.Sort(routes)
	if !slices.Equal(documented, routes) {
		t.Fatalf("docs/openapi.yaml describes\n  %s\nthe server routes\n  %s", strings.Join(documented, "\n  "), strings.Join(routes, "\n  "))
	}
	var settings []string
	for _, s := range room.Table() {
		settings = append(settings, s.Name)
	}
	for name, want := range map[string][]string{
		"Session": jsonNames(api.Session{}), "EventStats": jsonNames(api.EventStats{}), "EventList": jsonNames(api.EventList{}),
		"Shuffle": jsonNames(api.Shuffle{}), "Problem": jsonNames(api.Problem{}), "JoinRequest": jsonNames(api.JoinRequest{}),
		"AdminEvent": jsonNames(api.AdminEvent{}), "EventSettings": settings,
	} {
		var got []string
		for p := range doc.Components.Schemas[name].Properties {
			got = append(got, p)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has %v; the server writes %v", name, got, want)
		}
	}
}

// jsonNames are the JSON names of a struct's fields.
func jsonNames(v any) []string {
	var out []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		if name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestOpenAPIOperationsAnswer: every documented operation reaches its
// handler on a real server, and every other method on a documented path
// gets 405.
func TestOpenAPIOperationsAnswer(t *testing.T) {
	doc := readOpenAPI(t)
	o := defaultOptions()
	o.server.AdminToken = adminToken
	h := newHarness(t, "memory", o)
	s := decode[api.Session](t, h.do("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"E1","userId":"u1"}`)).Body)
	concrete := strings.NewReplacer("{sessionId}", s.SessionID, "{eventId}", "E1")
	bodies := map[string]string{"POST " + api.SessionsPath: `{"eventId":"E1","userId":"u2"}`, "PUT /api/admin/events/{eventId}": `{"capacity":3}`}
	for _, op := range doc.operations() {
		method, path, _ := strings.Cut(op, " ")
		hdr := http.Header{"Authorization": {"Bearer " + adminToken}}
		r := h.doWith(method, concrete.Replace(path), "application/json", []byte(bodies[op]), hdr)
		var p api.Problem
		json.Unmarshal(r.Body, &p)
		if r.Status == http.StatusMethodNotAllowed || strings.Contains(p.Detail, "no such resource") || strings.Contains(p.Detail, "unknown session method") {
			t.Errorf("%s: %d %s: the documented operation does not reach a handler", op, r.Status, r.Body)
		}
		for _, other := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
			if _, ok := doc.Paths[path][strings.ToLower(other)]; ok {
				continue
			}
			if r := h.doWith(other, concrete.Replace(path), "application/json", nil, hdr); r.Status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405: the server answers a method the description does not name", other, path, r.Status)
			}
		}
	}
}
