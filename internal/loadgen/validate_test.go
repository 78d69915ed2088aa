package loadgen_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/loadgen"
)

func TestValidateNamesTheSettingAtFault(t *testing.T) {
	good := loadgen.Config{Users: 10, Rate: 5, Events: 1, Shards: 1, Concurrency: 4, HeartbeatInterval: time.Second, RunID: "r1"}
	if err := good.Validate(); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	for _, c := range []struct {
		field string
		edit  func(*loadgen.Config)
	}{
		{"users", func(c *loadgen.Config) { c.Users = 0 }},
		{"rate", func(c *loadgen.Config) { c.Rate = 0 }},
		{"stages", func(c *loadgen.Config) { c.Stages = []loadgen.Stage{{Duration: time.Second, Rate: 1}} }},
		{"abandon", func(c *loadgen.Config) { c.Abandon = 2 }},
		{"shard", func(c *loadgen.Config) { c.Shard = 1 }},
		{"events", func(c *loadgen.Config) { c.Events = 0 }},
		{"concurrency", func(c *loadgen.Config) { c.Concurrency = 0 }},
		{"heartbeat-interval", func(c *loadgen.Config) { c.HeartbeatInterval = 0 }},
		{"run-id", func(c *loadgen.Config) { c.RunID = "bad id!" }},
	} {
		cfg := good
		c.edit(&cfg)
		var fe *loadgen.FieldError
		if err := cfg.Validate(); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: Validate = %v, want a FieldError naming it", c.field, err)
		}
	}
}

func TestParseShard(t *testing.T) {
	for in, want := range map[string][2]int{"0/1": {0, 1}, "3/4": {3, 4}} {
		i, n, err := loadgen.ParseShard(in)
		if err != nil || i != want[0] || n != want[1] {
			t.Errorf("ParseShard(%q) = %d/%d, %v", in, i, n, err)
		}
	}
	for _, in := range []string{"4/4", "-1/2", "1", "a/b", "0/0", ""} {
		if _, _, err := loadgen.ParseShard(in); err == nil {
			t.Errorf("ParseShard(%q) accepted", in)
		}
	}
}

func TestPerMinuteReadsThePaceOfAdmission(t *testing.T) {
	const s = int64(1_000_000) // µs
	var adms []loadgen.Admission
	for i := range 121 { // 2 a second for a minute, then a burst of 10 at the end
		adms = append(adms, loadgen.Admission{ActivatedAt: int64(i) * s / 2})
	}
	for range 10 {
		adms = append(adms, loadgen.Admission{ActivatedAt: 60 * s})
	}
	maxIn, perMinute := loadgen.PerMinute(adms)
	// The last minute (0.5s..60s) holds 119 + 1 + 10 = 130.
	if maxIn != 130 || perMinute < 129.9 || perMinute > 130.1 {
		t.Fatalf("max in a minute %d, per minute %.2f", maxIn, perMinute)
	}
	if m, p := loadgen.PerMinute(nil); m != 0 || p != 0 {
		t.Fatalf("no admissions: %d %v", m, p)
	}
}

// TestSpecNamesTheFlagAtFault: the text of a run's flags parses into its
// Config, and a part at fault is named by its flag.
func TestSpecNamesTheFlagAtFault(t *testing.T) {
	base := loadgen.Config{Users: 10, Rate: 5, Events: 1, Concurrency: 4, HeartbeatInterval: time.Second}
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	good := loadgen.Spec{Hold: "1s..2s", Shard: "1/2", Capacity: "e0=3", StartsIn: time.Minute, StatusWait: 20 * time.Second}
	cfg := base
	cfg.RunID, cfg.AdminToken = "r1", "admin-token-0123456789"
	got, err := good.Complete(cfg, now)
	if err != nil || got.Shard != 1 || got.Shards != 2 || got.EventCapacity["e0"] != 3 || got.StartsIn != time.Minute || !got.StartsAt.IsZero() ||
		got.Hold.Max != 2*time.Second || got.StatusWait != 20*time.Second {
		t.Fatalf("Complete = %+v, %v", got, err)
	}
	if got, err := (loadgen.Spec{Hold: "1s", Shard: "0/1"}).Complete(base, now); err != nil || got.RunID == "" || got.StatusWait != -1 {
		t.Fatalf("no run id or status wait: %+v, %v", got, err)
	}
	for field, spec := range map[string]loadgen.Spec{
		"stages":      {Stages: "fast", Hold: "1s", Shard: "0/1"},
		"hold":        {Hold: "long", Shard: "0/1"},
		"shard":       {Hold: "1s", Shard: "1/2"}, // a shard of several needs --run-id
		"starts-in":   {Hold: "1s", Shard: "0/1", StartsIn: time.Minute, StartsAt: "2026-12-01T18:00:00Z"},
		"starts-at":   {Hold: "1s", Shard: "0/1", StartsAt: "tomorrow"},
		"status-wait": {Hold: "1s", Shard: "0/1", StatusWait: -time.Second},
		"capacity":    {Hold: "1s", Shard: "0/1", Capacity: "lots"},
	} {
		var fe *loadgen.FieldError
		if _, err := spec.Complete(base, now); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError for %s", field, err, field)
		}
	}
}
