package room_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

func TestOverridesNamesOnlyTheSettingsThatAreSet(t *testing.T) {
	for _, c := range []struct {
		s    room.Settings
		want string
	}{
		{room.Settings{}, ""},
		{room.Settings{Capacity: 5, Paused: true}, "capacity,paused"},
		{room.Settings{WaitingTTL: time.Minute, MaxWaiting: 10}, "waitingTTL,maxWaiting"},
		{room.Settings{HeartbeatTTL: time.Second, MaxActive: time.Hour, Method: room.MethodRandom}, "heartbeatTTL,maxActive,queueingMethod"},
	} {
		if got := strings.Join(c.s.Overrides(), ","); got != c.want {
			t.Errorf("%+v: Overrides = %q, want %q", c.s, got, c.want)
		}
	}
}

// full sets every setting, so a test over it covers a setting added later.
func full(t *testing.T) room.Settings {
	t.Helper()
	var st room.Settings
	at := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	for i, s := range room.Table() {
		text := map[room.Kind]string{room.KindCount: "7", room.KindDuration: "90s", room.KindSwitch: "true", room.KindMethod: "random",
			room.KindText: "Sold out", room.KindTime: at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}[s.Kind]
		if err := s.Parse(&st, text, time.Time{}); err != nil || !s.IsSet(st) {
			t.Fatalf("%s: Parse(%q) = %v, set %v", s.Name, text, err, s.IsSet(st))
		}
	}
	return st
}

// TestSettingsTravelWholeThroughJSON: every setting survives the API's
// JSON, which names each one and writes durations and times for people.
func TestSettingsTravelWholeThroughJSON(t *testing.T) {
	st := full(t)
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"capacity":7`, `"heartbeatTTL":"1m30s"`, `"paused":true`, `"opensAt":"2026-12-01T`, `"queueingMethod":"random"`, `"message":"Sold out"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON %s lacks %s", raw, want)
		}
	}
	var back room.Settings
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, st)
	}
	zero, _ := json.Marshal(room.Settings{})
	if !strings.Contains(string(zero), `"heartbeatTTL":""`) || !strings.Contains(string(zero), `"startsAt":null`) {
		t.Fatalf("unset settings: %s", zero)
	}
	for _, bad := range []string{`{"capcity":1}`, `{"heartbeatTTL":30}`, `{"startsAt":"tomorrow"}`, `{"queueingMethod":"lifo"}`, `{"paused":"yes"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

// TestPolicyTakesEverySetting: With applies each set setting to the policy,
// SettingsOf reads each back, and Merge takes only the settings named.
func TestPolicyTakesEverySetting(t *testing.T) {
	st := full(t)
	if got := room.SettingsOf((room.Policy{QueueAll: true}).With(st)); !reflect.DeepEqual(got, st) {
		t.Fatalf("SettingsOf(With(s)) = %+v, want %+v", got, st)
	}
	base := room.Policy{Capacity: 3, WaitingTTL: time.Minute}
	if got := base.With(room.Settings{}); got != base {
		t.Fatalf("zero settings changed the policy: %+v", got)
	}
	cur := room.Settings{Capacity: 2, Message: "keep"}
	merged, err := cur.Merge(st, "capacity", "new-users-per-minute", "startsAt")
	if err != nil {
		t.Fatal(err)
	}
	want := room.Settings{Capacity: 7, NewUsersPerMinute: 7, StartsAt: st.StartsAt, Message: "keep"}
	if merged != want {
		t.Fatalf("Merge = %+v, want %+v", merged, want)
	}
	if _, err := cur.Merge(st, "capcity"); err == nil {
		t.Fatal("Merge of an unknown setting")
	}
}

func TestRelativeTimes(t *testing.T) {
	s, _ := room.SettingNamed("starts-at")
	now := time.Date(2026, 12, 1, 18, 0, 0, 500, time.UTC)
	var st room.Settings
	for text, want := range map[string]time.Time{"now": now, "+10m": now.Add(10 * time.Minute).Truncate(time.Second), "none": {}} {
		if err := s.Parse(&st, text, now); err != nil || !st.StartsAt.Equal(want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", text, st.StartsAt, err, want)
		}
	}
	if err := s.Parse(&st, "+10m", time.Time{}); err == nil {
		t.Error("a relative time without now (the config file) was accepted")
	}
}
