package roomtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Events: the admission rate, the list, runtime settings and the rate cap.

// testAdmissionRateIsUnknownUntilSomeoneIs: admission rate is unknown until someone is admitted, then follows the pace.
func testAdmissionRateIsUnknownUntilSomeoneIs(t *testing.T, newStore NewStore) {
	clk := NewClock(T0)
	st := newStore(t, room.StaticPolicies{Default: room.Policy{Capacity: 1000, HeartbeatTTL: time.Hour, WaitingTTL: time.Hour, MaxActive: time.Hour,
		QueueAll: true}}, clk.Now)
	probe := join(t, st, "E2", "probe")
	if s := get(t, st, probe.ID); s.AdmissionRate != 0 {
		t.Fatalf("rate before any admission = %v, want 0 (unknown)", s.AdmissionRate)
	}
	if _, ok := room.EstimatedWait(1, 0); ok {
		t.Fatal("an estimate while the rate is unknown")
	}
	admits(t, st, "E2", probe.ID, probe.ID)
	// Twenty admissions, one every 500ms: two per second.
	for i := range 20 {
		clk.Advance(500 * time.Millisecond)
		s := join(t, st, "E2", fmt.Sprint(i))
		admits(t, st, "E2", s.ID, s.ID)
	}
	w := join(t, st, "E2", "waiting")
	s := get(t, st, w.ID)
	if s.AdmissionRate < 1.5 || s.AdmissionRate > 2.5 {
		t.Fatalf("rate after steady 2/s admissions = %v", s.AdmissionRate)
	}
	if d, ok := room.EstimatedWait(s.Position, s.AdmissionRate); !ok || d <= 0 {
		t.Fatalf("estimated wait = %v, %v", d, ok)
	}
	if got := stats(t, st, "E2"); got.AdmissionRate != s.AdmissionRate {
		t.Fatalf("stats rate %v != session rate %v", got.AdmissionRate, s.AdmissionRate)
	}
	// A line that stops moving: the rate decays, the estimate grows,
	// and past a day it is no estimate at all rather than a wild one.
	clk.Advance(time.Minute)
	later := get(t, st, w.ID)
	if later.AdmissionRate >= s.AdmissionRate/2 {
		t.Fatalf("rate a minute after the last admission = %v, was %v", later.AdmissionRate, s.AdmissionRate)
	}
	clk.Advance(50 * time.Minute)
	stalled := get(t, st, w.ID)
	if d, ok := room.EstimatedWait(stalled.Position, stalled.AdmissionRate); ok || stalled.AdmissionRate != 0 {
		t.Fatalf("rate %v, estimate %v for a line stalled for 50 minutes, want none", stalled.AdmissionRate, d)
	}
	if got := stats(t, st, "E2"); got.AdmissionRate != 0 {
		t.Fatalf("stats rate %v for a stalled line, want 0 (unknown)", got.AdmissionRate)
	}
}

// testEventsListsLiveEventsAndForgetsIdle: events lists live events and forgets idle ones.
func testEventsListsLiveEventsAndForgetsIdle(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
	if evs, err := st.Events(ctx); err != nil || len(evs) != 0 {
		t.Fatalf("events of an empty store = %v, %v", evs, err)
	}
	var ids []string
	for i, ev := range []string{"b", "a", "b", "c"} {
		ids = append(ids, join(t, st, ev, fmt.Sprint("u", i)).ID)
	}
	evs, err := st.Events(ctx)
	if err != nil || fmt.Sprint(evs) != "[a b c]" {
		t.Fatalf("events = %v, %v; want [a b c]", evs, err)
	}
	if err := st.PutSettings(ctx, "c", room.Settings{Capacity: 9}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:3] {
		if _, err := st.Leave(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Every session abandoned or gone: after the idle retention, only
	// the event with runtime settings is left.
	for range 3 {
		clk.Advance(room.Retention{}.WithDefaults().Event)
		if _, err := st.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if evs, err := st.Events(ctx); err != nil || fmt.Sprint(evs) != "[c]" {
		t.Fatalf("events after every session ended long ago = %v, %v; want [c]", evs, err)
	}
	if _, err := st.Get(ctx, ids[0]); !errors.Is(err, room.ErrNotFound) {
		t.Fatalf("a session that ended past the retention: %v, want ErrNotFound", err)
	}
	if s := join(t, st, "a", "again"); s.Position != 1 {
		t.Fatalf("a forgotten event starts a new line: position %d", s.Position)
	}
}

// testRuntimeSettingsChangeCapacityPauseAndCap: runtime settings change capacity, pause and cap the line.
func testRuntimeSettingsChangeCapacityPauseAndCap(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
	if _, ok, err := st.Settings(ctx, "E1"); ok || err != nil {
		t.Fatalf("settings of a new event: ok=%v err=%v", ok, err)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, join(t, st, "E1", fmt.Sprint(i)).ID)
	}
	admits(t, st, "E1", ids[0], ids[0])
	admits(t, st, "E1", ids[1], ids[1])
	grant(t, st, "E1", ids[2], room.Full) // configured capacity 2
	raised := room.Settings{Capacity: 3, MaxActive: time.Hour, WaitingTTL: 20 * time.Second}
	if err := st.PutSettings(ctx, "E1", raised); err != nil {
		t.Fatal(err)
	}
	waitFreed(t, st, "E1") // granters are woken to admit at once
	if got, ok, err := st.Settings(ctx, "E1"); !ok || err != nil || got != raised {
		t.Fatalf("settings = %+v, %v, %v; want %+v", got, ok, err, raised)
	}
	if s := get(t, st, ids[3]); s.WaitingTTL != raised.WaitingTTL {
		t.Fatalf("effective waiting TTL = %v, want the runtime %v", s.WaitingTTL, raised.WaitingTTL)
	}
	admits(t, st, "E1", ids[2], ids[2])
	if s := stats(t, st, "E1"); s.Capacity != 3 || s.Active != 3 || s.Policy.Capacity != 3 || s.Policy.WaitingTTL != raised.WaitingTTL ||
		s.Policy.MaxActive != raised.MaxActive || s.Policy.HeartbeatTTL != Policy.HeartbeatTTL {
		t.Fatalf("stats after raising = %+v", s)
	}
	// Lowering admits no one until active drops below the new capacity.
	if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Leave(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	grant(t, st, "E1", ids[3], room.Full)
	if _, err := st.Leave(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	// Paused: the line stays, nobody is admitted.
	if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2, Paused: true}); err != nil {
		t.Fatal(err)
	}
	grant(t, st, "E1", ids[3], room.Full)
	if s := stats(t, st, "E1"); !s.Paused || s.Waiting != 2 {
		t.Fatalf("stats while paused = %+v", s)
	}
	if err := st.PutSettings(ctx, "E1", room.Settings{Capacity: 2, MaxWaiting: 2}); err != nil {
		t.Fatal(err)
	}
	admits(t, st, "E1", ids[3], ids[3])
	join(t, st, "E1", "late-1")
	if _, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "late-2"}); !errors.Is(err, room.ErrLineFull) {
		t.Fatalf("join past maxWaiting: %v, want ErrLineFull", err)
	}
	if again, created, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "late-1", Key: "k-late-1"}); err != nil || created {
		t.Fatalf("a user already in a full line must get its place back: %+v %v %v", again, created, err)
	}
	if err := st.PutSettings(ctx, "quiet", room.Settings{Capacity: 9}); err != nil {
		t.Fatal(err)
	}
	if evs, _ := st.Events(ctx); !slices.Contains(evs, "quiet") {
		t.Fatalf("events %v lack an event with settings only", evs)
	}
}

// testNewUsersPerMinuteCapsAdmissionsPerMinuteAsWell: newUsersPerMinute caps admissions per minute as well as capacity, shared by every replica.
func testNewUsersPerMinuteCapsAdmissionsPerMinuteAsWell(t *testing.T, newStore NewStore) {
	st, clk := open(t, newStore)
	if err := st.PutSettings(ctx, "big", room.Settings{NewUsersPerMinute: 120}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 8 {
		ids = append(ids, join(t, st, "big", fmt.Sprint("r", i)).ID)
	}
	// 120 a minute is 2 a second: the bucket holds a second's worth.
	admits(t, st, "big", ids[0], ids[0])
	admits(t, st, "big", ids[1], ids[1])
	r := grant(t, st, "big", ids[2], room.Full) // capacity 100 has room: the rate binds
	if wait := r.RetryAt.Sub(clk.Now()); wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("retry in %v, want within the half second a token takes", wait)
	}
	clk.Advance(500 * time.Millisecond)
	admits(t, st, "big", ids[2], ids[2])
	grant(t, st, "big", ids[3], room.Full)
	// Over 2 seconds, 4 more: the measured rate is the setting.
	admitted := 0
	for range 20 {
		clk.Advance(100 * time.Millisecond)
		if r, err := st.Grant(ctx, "big", ids[3]); err != nil {
			t.Fatal(err)
		} else if r.Outcome == room.Admitted {
			admitted++
		}
	}
	if admitted != 4 {
		t.Fatalf("admitted %d in 2s at 120 a minute, want 4", admitted)
	}
	if s := stats(t, st, "big"); s.Policy.NewUsersPerMinute != 120 || s.Active != 7 || s.AdmissionRate <= 0 || s.AdmissionRate > 2 || s.Binding() != "rate" {
		t.Fatalf("stats = %+v; want the admission rate at most the cap of 2/s", s)
	}
	if got, ok, err := st.Settings(ctx, "big"); !ok || err != nil || got.NewUsersPerMinute != 120 {
		t.Fatalf("settings = %+v %v %v", got, ok, err)
	}
	// Cleared, only capacity binds again.
	if err := st.PutSettings(ctx, "big", room.Settings{}); err != nil {
		t.Fatal(err)
	}
	admits(t, st, "big", ids[7], ids[7])
}

// testEverySettingIsKept: a store keeps every per-event setting of room's
// table whole, a setting added later included.
func testEverySettingIsKept(t *testing.T, newStore NewStore) {
	st, _ := open(t, newStore)
	var want room.Settings
	at := T0.Add(time.Hour)
	for i, s := range room.Table() {
		text := map[room.Kind]string{room.KindCount: "7", room.KindDuration: "90s", room.KindSwitch: "true", room.KindMethod: "random",
			room.KindText: "Sold out", room.KindTime: at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}[s.Kind]
		if err := s.Parse(&want, text, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutSettings(ctx, "E1", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := st.Settings(ctx, "E1")
	if err != nil || !ok {
		t.Fatalf("Settings = %v, %v", ok, err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("kept %s\nwant %s", g, w)
	}
	if err := st.PutSettings(ctx, "E1", room.Settings{}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.Settings(ctx, "E1"); got != (room.Settings{}) {
		t.Fatalf("after clearing: %+v", got)
	}
}
