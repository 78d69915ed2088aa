package loadgen_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/room"
)

// BenchmarkHold100kUsers has 100,000 simulated users join a minimal server
// that keeps them all waiting (Retry-After 300s), so the generator holds
// them all at once; it reports the generator's memory per user.
func BenchmarkHold100kUsers(b *testing.B) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Retry-After", "300")
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(api.Session{SessionID: room.NewSessionID(), Status: api.StatusWaiting, Ticket: n.Add(1)})
			return
		}
		json.NewEncoder(w).Encode(api.EventStats{Capacity: 1})
	}))
	defer ts.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	c, _ := client.New(ts.URL, hc)
	for b.Loop() {
		n.Store(0)
		r, err := loadgen.New(loadgen.Config{
			Users: 100_000, Rate: 50_000, RunID: "bench", Hold: loadgen.Dist{Min: time.Second, Max: time.Second},
			Concurrency: 64, Duration: 30 * time.Second, StatsInterval: time.Second,
		}, c)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for r.Progress().Joined < 100_000 {
				time.Sleep(50 * time.Millisecond) // polling progress
			}
			cancel() // every user is joined and waiting at once: stop
		}()
		rep, err := r.Run(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Users.Joined != 100_000 || rep.Users.Incomplete != 100_000 {
			b.Fatalf("users = %+v", rep.Users)
		}
		b.ReportMetric(float64(rep.Memory.BytesPerUser), "B/user")
		b.ReportMetric(float64(rep.Memory.PeakHeapBytes)/(1<<20), "MiB-peak-heap")
		b.ReportMetric(rep.JoinRate, "joins/s")
	}
}
