package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/gate"
	"github.com/wrctl/wrctl/internal/server"
)

// BenchmarkJoinOverHTTP measures a join through the real HTTP server, the
// store and the memory queue, from parallel clients.
func BenchmarkJoinOverHTTP(b *testing.B) {
	o := defaultOptions()
	o.noGranter = true
	h := newHarness(b, "memory", o)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{}
		for pb.Next() {
			id := strconv.FormatInt(n.Add(1), 10)
			resp, err := client.Post(h.URL+api.SessionsPath, "application/json", bytes.NewReader([]byte(`{"eventId":"E1","userId":"`+id+`"}`)))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkStatusPollOverHTTP measures status polls of WAITING sessions
// through the real HTTP server and the memory store.
func BenchmarkStatusPollOverHTTP(b *testing.B) {
	o := defaultOptions()
	o.noGranter = true
	h := newHarness(b, "memory", o)
	var ids []string
	for i := range 100 {
		ids = append(ids, h.join("E1", "u"+strconv.Itoa(i)).SessionID)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{}
		for pb.Next() {
			req, _ := http.NewRequest("GET", h.URL+api.SessionsPath+"/"+ids[n.Add(1)%int64(len(ids))], nil)
			getOK(b, client, req)
		}
	})
}

// BenchmarkGateProxied measures requests of admitted users through the
// gate to an origin, from parallel clients each with its own token.
func BenchmarkGateProxied(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "<!doctype html><title>shop</title><h1>the shop</h1>")
	}))
	b.Cleanup(up.Close)
	o := defaultOptions()
	o.policy.Capacity = 1000
	u, _ := url.Parse(up.URL)
	o.server.Gate = &gate.Config{Upstream: u, Routes: []gate.Route{{Prefix: "/", Event: "SHOP"}}}
	h := newHarness(b, "memory", o)
	var tokens []string
	for i := range 64 {
		s := h.join("SHOP", "u"+strconv.Itoa(i))
		for s.AccessToken == "" {
			s = h.status(s.SessionID)
		}
		tokens = append(tokens, s.AccessToken)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{}
		tok := tokens[n.Add(1)%int64(len(tokens))]
		for pb.Next() {
			req, _ := http.NewRequest("GET", h.URL+"/products", nil)
			req.AddCookie(&http.Cookie{Name: server.TokenCookie, Value: tok})
			getOK(b, client, req)
		}
	})
}

// getOK sends req and fails the benchmark unless it is answered 200.
func getOK(b *testing.B, client *http.Client, req *http.Request) {
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}
