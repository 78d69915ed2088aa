package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/wrctl/wrctl/internal/api"
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
			resp, err := client.Get(h.URL + api.SessionsPath + "/" + ids[n.Add(1)%int64(len(ids))])
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
