package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/room"
)

// testFactory is a factory on buffers at a fixed time.
func testFactory(now time.Time) (*factory, *bytes.Buffer) {
	out := &bytes.Buffer{}
	return &factory{In: strings.NewReader(""), Out: out, ErrOut: &bytes.Buffer{}, Now: func() time.Time { return now }}, out
}

var t0 = time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)

// TestEventSetFlagsComeFromTheSettingsTable: every per-event setting has
// its flag, read by its kind; only the flags given are changed.
func TestEventSetFlagsComeFromTheSettingsTable(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		want    room.Settings
		changed string
		err     string
	}{
		{"counts and a switch", []string{"E1", "--capacity", "5", "--paused"}, room.Settings{Capacity: 5, Paused: true}, "capacity,paused", ""},
		{"relative and absolute times", []string{"E1", "--starts-at", "+10m", "--ends-at", "2026-12-01T20:00:00Z"},
			room.Settings{StartsAt: t0.Add(10 * time.Minute), EndsAt: time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)}, "endsAt,startsAt", ""},
		{"back to the configured value", []string{"E1", "--opens-at", "none", "--max-waiting", "0"}, room.Settings{}, "maxWaiting,opensAt", ""},
		{"a resume", []string{"E1", "--paused=false", "--heartbeat-ttl", "45s"}, room.Settings{HeartbeatTTL: 45 * time.Second}, "heartbeatTTL,paused", ""},
		{"a bad time", []string{"E1", "--starts-at", "tomorrow"}, room.Settings{}, "", `"--starts-at"`},
		{"a bad method", []string{"E1", "--queueing-method", "lifo"}, room.Settings{}, "", `"--queueing-method"`},
		{"a negative count", []string{"E1", "--capacity", "-1"}, room.Settings{}, "", `"--capacity"`},
		{"nothing to set", []string{"E1"}, room.Settings{}, "", "nothing to set: give --capacity"},
		{"no event", []string{"--capacity", "3"}, room.Settings{}, "", "takes one EVENT id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _ := testFactory(t0)
			var got *eventSetOptions
			cmd := newEventSetCmd(f, func(_ context.Context, o *eventSetOptions) error { got = o; return nil })
			cmd.SetArgs(c.args)
			cmd.SetOut(f.Out)
			cmd.SetErr(f.ErrOut)
			err := cmd.Execute()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || got != nil {
					t.Fatalf("err %v, ran %v; want an error with %s and no run", err, got != nil, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.EventID != "E1" || got.Given != c.want || strings.Join(got.Changed, ",") != c.changed {
				t.Fatalf("options %+v, changed %v; want %+v, %s", got.Given, got.Changed, c.want, c.changed)
			}
		})
	}
}

// TestEventSetKeepsWhatWasNotGiven runs event set's run against a real
// room: the settings already set stay, the flags given change, --clear
// starts afresh.
func TestEventSetKeepsWhatWasNotGiven(t *testing.T) {
	base := startApp(t, "--admin-token", e2eAdminToken)
	c, err := client.New(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := c.Admin(e2eAdminToken)
	ctx := context.Background()
	if _, err := admin.PutEvent(ctx, "E1", room.Settings{Capacity: 9, Message: "soon"}); err != nil {
		t.Fatal(err)
	}
	f, out := testFactory(t0)
	o := &eventSetOptions{Given: room.Settings{Capacity: 3, Paused: true, Message: "ignored"}, Changed: []string{"paused"}}
	o.IO, o.Server, o.AdminToken, o.Format, o.EventID = f, base, e2eAdminToken, "json", "E1"
	o.Client = func() (*client.Client, error) { return c, nil }
	if err := eventSetRun(ctx, o); err != nil {
		t.Fatal(err)
	}
	var ev api.AdminEvent
	if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if want := (room.Settings{Capacity: 9, Paused: true, Message: "soon"}); ev.Settings != want {
		t.Fatalf("settings %+v, want %+v", ev.Settings, want)
	}
	out.Reset()
	o.Clear, o.Changed, o.Format = true, []string{"capacity"}, "text"
	if err := eventSetRun(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got, _ := admin.Event(ctx, "E1"); got.Settings != (room.Settings{Capacity: 3}) || !strings.Contains(out.String(), "(set for this event)") {
		t.Fatalf("after --clear: %+v\n%s", got.Settings, out.String())
	}
}
