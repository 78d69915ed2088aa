package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestIdleConnectionFloodDoesNotLockOthersOut opens the cap's worth of idle
// keep-alive connections, then a new client: it must be served, because an
// idle connection is closed to make room.
func TestIdleConnectionFloodDoesNotLockOthersOut(t *testing.T) {
	const max = 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := newConnLimiter(max, 0)
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ConnState: lim.connState,
		ErrorLog:  slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	go srv.Serve(lim.listener(ln))
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	// The flood: each connection makes one request and stays idle.
	var flood []*http.Client
	for range max {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		resp, err := c.Get("http://" + ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		flood = append(flood, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for lim.open() != max { // the server sees each one go idle
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", lim.open(), max)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's count
	}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatalf("a new client at the cap of idle connections: %v", err)
	}
	resp.Body.Close()
	if n := lim.open(); n > max {
		t.Fatalf("%d connections open past the cap %d", n, max)
	}
	for _, c := range flood {
		c.CloseIdleConnections()
	}
}
