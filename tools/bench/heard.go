package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/room"
)

var split = flag.Bool("held-split", false, "print the heap, the stacks and the goroutines of the held-request figure, idle and held")

// heldN is how many status requests the held-memory figure holds at once.
const heldN = 2000

// measureHeld is the server's memory per held status request: n raw
// connections (no client goroutine, no client buffer: only the server's
// side is in this process's heap) each first make a plain status poll and
// stay open (the floor: an idle keep-alive connection of a polling
// client), then each send a status request held for 30s. It returns the
// heap and stack in use per connection held over per connection idle, and
// per held connection over no connection at all.
func measureHeld(ctx context.Context, hc *http.Client) (marginal, total float64, err error) {
	p := benchPolicy
	a, stop, err := startRoom(ctx, roomOn{}, p, false)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	if err := a.Store().PutSettings(ctx, "HELD", room.Settings{Paused: true}); err != nil {
		return 0, 0, err
	}
	ids := make([]string, heldN)
	for i := range ids {
		s, err := join(hc, a.URL(), "HELD", "held-"+strconv.Itoa(i))
		if err != nil {
			return 0, 0, err
		}
		ids[i] = s.SessionID
	}
	hc.CloseIdleConnections()
	addr := a.Addr()
	none := inUse()
	conns := make([]net.Conn, heldN)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, id := range ids {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, 0, err
		}
		conns[i] = c
		fmt.Fprintf(c, "GET %s/%s HTTP/1.1\r\nHost: bench\r\n\r\n", api.SessionsPath, id)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, 0, err
		}
		resp.Body.Close()
	}
	idle := inUse()
	if *split {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(os.Stderr, "idle: heap %d stack %d goroutines %d\n", m.HeapInuse, m.StackInuse, runtime.NumGoroutine())
	}
	for i, id := range ids {
		fmt.Fprintf(conns[i], "GET %s/%s?wait=30s HTTP/1.1\r\nHost: bench\r\n\r\n", api.SessionsPath, id)
	}
	deadline := time.Now().Add(20 * time.Second)
	for held(a.URL(), hc) < heldN {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("only %v of %d status requests held", held(a.URL(), hc), heldN)
		}
		<-time.After(20 * time.Millisecond)
	}
	hc.CloseIdleConnections()
	holding := inUse()
	if *split {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		fmt.Fprintf(os.Stderr, "held: heap %d stack %d goroutines %d\n", m.HeapInuse, m.StackInuse, runtime.NumGoroutine())
	}
	return float64(holding-idle) / heldN, float64(holding-none) / heldN, nil
}

// inUse is the heap and goroutine stacks in use, after a collection.
func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// held reads the server's count of held status requests from /metrics.
func held(base string, hc *http.Client) float64 {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	n, _, _ := loadgen.SumMetric(resp.Body, "wrctl_status_requests_held")
	return n
}

// loadRun runs wrctl load's engine against a room in this process: the
// figures it prints are the ones `wrctl load` prints.
func loadRun(ctx context.Context, on roomOn, capacity, users int, rate float64, hold time.Duration) (*loadgen.Report, error) {
	p := benchPolicy
	p.QueueAll = false
	p.Capacity = capacity
	a, stop, err := startRoom(ctx, on, p, true)
	if err != nil {
		return nil, err
	}
	defer stop()
	c, err := client.New(a.URL(), &http.Client{Timeout: client.DefaultHold + 30*time.Second,
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}})
	if err != nil {
		return nil, err
	}
	r, err := loadgen.New(loadgen.Config{Users: users, Rate: rate, Hold: loadgen.Dist{Min: hold, Max: hold},
		RunID: fmt.Sprintf("bench%d", prefixSeq.Add(1)), Capacity: capacity}, c)
	if err != nil {
		return nil, err
	}
	return r.Run(ctx)
}
