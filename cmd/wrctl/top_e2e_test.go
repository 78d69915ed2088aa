package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wrctl/wrctl/internal/tui"
)

func TestTopOnceShowsTheRoomAndTheQueue(t *testing.T) {
	t.Parallel()
	name := uniqueQueue("e2e-top")
	createQueue(t, name)
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--queue", "sqs", "--queue-name", name, "--sqs-endpoint", emu.URL, "--capacity", "2")
	env := []string{"WRCTL_SERVER=" + s.URL}
	// A known sequence: 2 admitted, 3 waiting on TOP1; one on TOP2 who leaves.
	var top1 []string
	for _, u := range []string{"a", "b", "c", "d", "e"} {
		top1 = append(top1, joinJSON(t, env, "TOP1", u).SessionID)
	}
	s.waitStatus(top1[1], "ACTIVE")
	gone := joinJSON(t, env, "TOP2", "x", "--wait", "--timeout", "20s")
	if r := wrctl(t, env, "leave", gone.SessionID); r.code != 0 {
		t.Fatal(r.stderr)
	}
	args := []string{"top", "--once", "--queue-name", name, "--sqs-endpoint", emu.URL}
	r := wrctl(t, env, append(args, "--output", "json")...)
	if r.code != 0 {
		t.Fatalf("top --once: exit %d %s", r.code, r.stderr)
	}
	var snap tui.Snapshot
	if err := json.Unmarshal([]byte(r.stdout), &snap); err != nil {
		t.Fatalf("top --once --output json: %v\n%s", err, r.stdout)
	}
	byID := map[string]int{}
	for i, e := range snap.Events {
		byID[e.EventID] = i
	}
	e1, e2 := snap.Events[byID["TOP1"]], snap.Events[byID["TOP2"]]
	if snap.Total != 2 || e1.Active != 2 || e1.Waiting != 3 || e1.Joined != 5 || e1.Capacity != 2 || e2.Active != 0 || e2.Left != 1 {
		t.Fatalf("snapshot events = %+v", snap.Events)
	}
	// TOP1 is full: the granter holds the head of its line in flight.
	if snap.Queue == nil || snap.Queue.DLQ == nil || snap.Queue.Queue.InFlight < 1 {
		t.Fatalf("snapshot queue = %+v (error %q)", snap.Queue, snap.QueueError)
	}
	text := wrctl(t, append(env, "NO_COLOR=1"), args...)
	if text.code != 0 || !strings.Contains(text.stdout, "TOP1") || !strings.Contains(text.stdout, "in flight ~") || strings.Contains(text.stdout, "\x1b[") {
		t.Fatalf("top --once text: exit %d\n%s", text.code, text.stdout)
	}
	if bad := wrctl(t, env, "top", "--refresh", "10ms"); bad.code != exitUsage || !strings.Contains(bad.stderr, "--refresh") {
		t.Fatalf("top --refresh 10ms: exit %d %s", bad.code, bad.stderr)
	}
	if notty := wrctl(t, env, "top"); notty.code != exitUsage || !strings.Contains(notty.stderr, "--once") {
		t.Fatalf("top without a terminal: exit %d %s", notty.code, notty.stderr)
	}
	if down := wrctl(t, []string{"WRCTL_SERVER=http://127.0.0.1:1"}, "top", "--once"); down.code != exitUnavailable {
		t.Fatalf("top --once with the server down: exit %d", down.code)
	}
}
