package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/redistest"
)

// TestJoinsRacingIntoAnEmptyRoomOnThreeReplicas: forty joins race at once
// over three replicas sharing Redis and SQS into an empty room of capacity
// 5. Exactly the five lowest tickets are let in at their join, numbered in
// ticket order; everyone else waits, holding a status request on another
// replica than the one that will admit it, and hears of its admission
// through the store's news, in ticket order, the moment a slot frees.
func TestJoinsRacingIntoAnEmptyRoomOnThreeReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	queueURL := createQueue(t, uniqueQueue("e2e-heard"))["queueUrl"].(string)
	const users, capacity = 40, 5
	f := newFleet(t, 3, "--queue", "sqs", "--queue-url", queueURL, "--sqs-endpoint", emu.URL,
		"--store", "redis", "--redis-addr", rs.Addr, "--redis-prefix", "heard", "--capacity", fmt.Sprint(capacity))
	joined := make([]fullSession, users)
	start := make(chan struct{})
	var joins sync.WaitGroup
	for i := range users {
		joins.Go(func() {
			<-start
			joined[i] = f.join("RACE", fmt.Sprintf("user-%02d", i))
		})
	}
	close(start)
	joins.Wait()
	slices.SortFunc(joined, func(a, b fullSession) int { return int(a.Ticket - b.Ticket) })
	for i, s := range joined {
		if in := i < capacity; in != (s.Status == "ACTIVE") || in && s.Admission != s.Ticket {
			t.Fatalf("ticket %d: %s admission %d; want exactly tickets 1..%d let in at their join, in ticket order", s.Ticket, s.Status, s.Admission, capacity)
		}
	}

	// Every waiting user holds a status request, on a replica of its own.
	type heard struct {
		s  fullSession
		at time.Time
	}
	news := make(chan heard, users)
	for i, s := range joined[capacity:] {
		go func() {
			r := f.replicas[i%3]
			for {
				resp, err := http.Get(r.URL + "/api/waiting-room/sessions/" + s.SessionID + "?wait=25s")
				if err != nil {
					return
				}
				var got fullSession
				json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if got.Status != "WAITING" {
					news <- heard{got, time.Now()}
					return
				}
			}
		}()
	}
	inside := joined[:capacity]
	for k := capacity; k < users; k++ {
		// Leave through another replica than the one holding the next
		// user's request; the granter on any replica admits.
		if code, b := f.call("POST", "/api/waiting-room/sessions/"+inside[0].SessionID+":leave", ""); code != http.StatusNoContent {
			t.Fatalf("leave: %d %s", code, b)
		}
		left := time.Now()
		inside = inside[1:]
		select {
		case h := <-news:
			if h.s.Status != "ACTIVE" || h.s.Ticket != joined[k].Ticket || h.s.Admission != int64(k+1) {
				t.Fatalf("after the leave, %s heard %s (admission %d); want ticket %d admitted #%d", h.s.SessionID, h.s.Status, h.s.Admission, joined[k].Ticket, k+1)
			}
			t.Logf("ticket %d heard of its admission %s after the leave", h.s.Ticket, h.at.Sub(left).Round(time.Millisecond))
			inside = append(inside, h.s)
		case <-time.After(15 * time.Second):
			// The hold is 20s (a third of the waiting TTL): only the news
			// of the admission answers it within 15s.
			t.Fatalf("nobody heard of an admission within 15s of the leave of ticket %d", k-capacity+1)
		}
	}
}

// TestObeyingRetryAfterNeverCostsThePlace: the case through the
// real binaries. Waiting TTL 3m, heartbeat TTL 15s, a pre-queue of 5 at
// capacity 5, users who poll exactly when Retry-After says (no held
// requests): all are admitted at the start and learn of it only at their
// next poll, long after a heartbeat TTL; none expires.
func TestObeyingRetryAfterNeverCostsThePlace(t *testing.T) {
	t.Parallel()
	const token = "e2e-admin-token-0123456789"
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--capacity", "5", "--waiting-ttl", "3m", "--heartbeat-ttl", "15s", "--admin-token", token)
	r := wrctl(t, []string{"WRCTL_SERVER=" + s.URL}, "load", "--users", "5", "--rate", "50", "--hold", "5s", "--starts-in", "3s",
		"--admin-token", token, "--status-wait", "0", "--run-id", "obey", "--output", "json", "--progress", "none")
	if r.code != 0 {
		t.Fatalf("load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rep loadgen.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--output json: %v", err)
	}
	u := rep.Users
	if u.Admitted != 5 || u.ExpiredActive != 0 || u.ExpiredWaiting != 0 || u.Left != 5 {
		t.Fatalf("users %+v: want all 5 admitted and left, none expired", u)
	}
	// The case that used to cost the place: they heard of the admission
	// later than a heartbeat TTL after it.
	if late := rep.Heard.TimeToHear.Max; late < 15_000 {
		t.Fatalf("the latest user heard of its admission %.0f ms after it: the test did not wait past a heartbeat TTL", float64(late))
	}
	if rep.Audit.Overtaken != 0 || rep.Audit.PreQueued != 5 {
		t.Fatalf("start audit: %+v", rep.Audit)
	}
}
