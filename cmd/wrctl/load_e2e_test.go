package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrctl/wrctl/internal/loadgen"
)

func TestLoadReportsAndGates(t *testing.T) {
	t.Parallel()
	s := struct{ URL string }{startApp(t, "--capacity", "5")}
	env := []string{"WRCTL_SERVER=" + s.URL}
	out := filepath.Join(t.TempDir(), "run.json")
	r := wrctl(t, env, "load", "--users", "60", "--rate", "200", "--hold", "10ms..30ms", "--poll-interval", "20ms",
		"--run-id", "e2e-load", "--output", "json", "--out", out, "--progress", "lines", "--progress-interval", "100ms",
		"--threshold", "errors==0", "--threshold", "capacity_violations==0", "--threshold", "inversions==0", "--threshold", "join_p99<5s")
	if r.code != 0 {
		t.Fatalf("load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rep loadgen.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--output json: %v", err)
	}
	ev := rep.Events["e2e-load-e0"]
	if rep.Users.Admitted != 60 || ev.Capacity != 5 || ev.ServerPeakActive < 1 || ev.ServerPeakActive > 5 || !rep.Audit.ServerStatsAvailable {
		t.Fatalf("report users %+v, event %+v", rep.Users, ev)
	}
	if !strings.Contains(r.stderr, "joined") {
		t.Fatalf("no progress lines on stderr: %q", r.stderr)
	}
	// The report written with --out merges.
	m := wrctl(t, nil, "load", "merge", out, "--threshold", "inversions==0")
	if m.code != 0 || !strings.Contains(m.stdout, "e2e-load-e0") {
		t.Fatalf("merge: exit %d\n%s\n%s", m.code, m.stdout, m.stderr)
	}
	// A breached threshold exits 8 and says which.
	b := wrctl(t, env, "load", "--users", "5", "--rate", "100", "--hold", "1ms", "--poll-interval", "20ms", "--progress", "none",
		"--threshold", "join_p99<1us", "--threshold", "errors==0")
	if b.code != exitThreshold || !strings.Contains(b.stderr, "join_p99<1us") || strings.Contains(b.stderr, "errors==0") {
		t.Fatalf("breach: exit %d, stderr %q", b.code, b.stderr)
	}
}

func TestLoadUsageErrors(t *testing.T) {
	t.Parallel()
	notReport := filepath.Join(t.TempDir(), "notes.json")
	os.WriteFile(notReport, []byte("not json"), 0o600)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no users", []string{"load", "--rate", "10"}, "--users"},
		{"no rate", []string{"load", "--users", "10"}, "--rate"},
		{"rate and stages", []string{"load", "--users", "10", "--rate", "5", "--stages", "10s:5"}, "--stages"},
		{"bad stages", []string{"load", "--users", "10", "--stages", "fast"}, "--stages"},
		{"bad hold", []string{"load", "--users", "10", "--rate", "5", "--hold", "10s..1s"}, "--hold"},
		{"bad shard", []string{"load", "--users", "10", "--rate", "5", "--shard", "3/2"}, "--shard"},
		{"shard without run id", []string{"load", "--users", "10", "--rate", "5", "--shard", "0/2"}, "--run-id"},
		{"bad threshold", []string{"load", "--users", "10", "--rate", "5", "--threshold", "speed>fast"}, "--threshold"},
		{"bad abandon", []string{"load", "--users", "10", "--rate", "5", "--abandon", "2"}, "--abandon"},
		{"merge nothing", []string{"load", "merge"}, "REPORT"},
		{"merge a non-report", []string{"load", "merge", notReport}, "not a wrctl load JSON report"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := wrctl(t, []string{"WRCTL_SERVER=http://127.0.0.1:1"}, c.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want %d naming %q", r.code, r.stderr, exitUsage, c.want)
			}
		})
	}
}
