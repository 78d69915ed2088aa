package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wrctl/wrctl/internal/client"
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

// TestLoadFailsWhenItShould: a run that cannot have proved what it checks
// exits non-zero and says why.
func TestLoadFailsWhenItShould(t *testing.T) {
	t.Parallel()
	t.Run("server down", func(t *testing.T) {
		t.Parallel()
		r := wrctl(t, []string{"WRCTL_SERVER=http://127.0.0.1:1"}, "load", "-u", "10", "-r", "10", "--progress", "none",
			"--threshold", "capacity_violations==0", "--threshold", "inversions==0")
		if r.code != exitUnavailable || !strings.Contains(r.stderr, "not reachable") || strings.Contains(r.stdout, "✓") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("server over-admits", func(t *testing.T) {
		t.Parallel()
		url := startApp(t, "--capacity", "5")
		r := wrctl(t, []string{"WRCTL_SERVER=" + url}, "load", "-u", "40", "-r", "200", "--hold", "300ms..500ms",
			"--poll-interval", "20ms", "--capacity", "2", "--progress", "none")
		if r.code != exitThreshold || !strings.Contains(r.stderr, "capacity_violations==0") ||
			!strings.Contains(r.stdout, "CAPACITY VIOLATED") || !strings.Contains(r.stdout, "server reports capacity 5, --capacity says 2") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("stages schedule fewer users", func(t *testing.T) {
		t.Parallel()
		r := wrctl(t, []string{"WRCTL_SERVER=http://127.0.0.1:1"}, "load", "--users", "50", "--stages", "2s:10")
		if r.code != exitUsage || !strings.Contains(r.stderr, "--users 50, but the stages schedule only 10 arrivals") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
	t.Run("merge of duplicate or missing shards", func(t *testing.T) {
		t.Parallel()
		url := startApp(t, "--capacity", "5")
		dir := t.TempDir()
		shard := filepath.Join(dir, "shard-0.json")
		r := wrctl(t, []string{"WRCTL_SERVER=" + url}, "load", "-u", "10", "-r", "100", "--hold", "1ms", "--poll-interval", "20ms",
			"--shard", "0/2", "--run-id", "merge-e2e", "--out", shard, "--progress", "none")
		if r.code != 0 {
			t.Fatalf("shard run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{shard, shard}, exitUsage, "shard 0/2 given twice"},
			{[]string{shard, shard, "--partial"}, exitUsage, "given twice"},
			{[]string{shard}, exitUsage, "shard(s) 1/2 missing"},
			{[]string{shard, "--partial"}, 0, ""},
		} {
			m := wrctl(t, nil, append([]string{"load", "merge"}, c.args...)...)
			if m.code != c.code || !strings.Contains(m.stderr, c.want) {
				t.Errorf("merge %v: exit %d, stderr %s", c.args, m.code, m.stderr)
			}
		}
	})
}

// TestLoadInterruptedLeavesNothingBehind interrupts a real `wrctl load`
// with SIGINT while users wait and hold places, and checks on the server
// that every session of the run was left.
func TestLoadInterruptedLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	url := startApp(t, "--capacity", "3")
	cmd := exec.Command(binary, "load", "-u", "2000", "-r", "100", "--hold", "10m", "--poll-interval", "50ms",
		"--run-id", "intr", "--progress", "lines", "--progress-interval", "100ms")
	cmd.Env = cleanEnv("WRCTL_SERVER=" + url)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	var errLines []string
	busy := regexp.MustCompile(`waiting ([1-9][0-9]+)  active 3 `)
	for sc.Scan() {
		errLines = append(errLines, sc.Text())
		if busy.MatchString(sc.Text()) {
			break
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		errLines = append(errLines, sc.Text())
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d after SIGINT\n%s\n%s", code, stdout.String(), strings.Join(errLines, "\n"))
	}
	if !strings.Contains(stdout.String(), "INTERRUPTED") || !strings.Contains(strings.Join(errLines, "\n"), "interrupted: the report is partial") {
		t.Fatalf("the interruption is not reported\n%s\n%s", stdout.String(), strings.Join(errLines, "\n"))
	}
	// The server's own count: nobody of the run is waiting or inside.
	c, _ := client.New(url, nil)
	st, err := c.EventStats(t.Context(), "intr-e0")
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != 0 || st.Waiting != 0 || st.Joined < 10 || st.Left < 10 {
		t.Fatalf("after the interrupt the server holds active %d, waiting %d (joined %d, left %d)", st.Active, st.Waiting, st.Joined, st.Left)
	}
}

// TestLoadAuditsTheRateCap: against newUsersPerMinute, the report gives
// the pace the users were admitted at, by the server's activation times.
func TestLoadAuditsTheRateCap(t *testing.T) {
	t.Parallel()
	url := startApp(t, "--capacity", "100", "--new-users-per-minute", "600") // 10 a second
	r := wrctl(t, []string{"WRCTL_SERVER=" + url}, "load", "-u", "30", "-r", "200", "--hold", "10ms", "--poll-interval", "20ms",
		"--run-id", "rate-e2e", "--progress", "none", "--output", "json")
	var rep loadgen.Report
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	ev := rep.Events["rate-e2e-e0"]
	// A second's burst of 10, then 10 a second: 30 admissions take 2s.
	if ev.NewUsersPerMinute != 600 || ev.Admitted != 30 || ev.MaxPerMinute != 30 || ev.PerMinute <= 0 || ev.PerMinute > 1000 {
		t.Fatalf("event audit = %+v", ev)
	}
	if span := float64(ev.Admitted-1) / ev.PerMinute * 60; span < 1.5 {
		t.Fatalf("30 admissions in %.2fs: faster than 10 a second after the burst", span)
	}
}

// TestLoadDrivesAnOnSaleAndAuditsItsStart: --starts-in gives the run's
// event a start; users arriving before it are pre-queued and the audit
// finds them admitted first, in the server's recorded random order, the
// later ones after them in join order. Without an admin token it is a usage
// error.
func TestLoadDrivesAnOnSaleAndAuditsItsStart(t *testing.T) {
	t.Parallel()
	url := startApp(t, "--capacity", "4", "--admin-token", e2eAdminToken)
	env := []string{"WRCTL_SERVER=" + url}
	if r := wrctl(t, env, "load", "-u", "10", "-r", "10", "--starts-in", "1s", "--progress", "none"); r.code != exitUsage || !strings.Contains(r.stderr, "--admin-token") {
		t.Fatalf("--starts-in without an admin token: exit %d %s", r.code, r.stderr)
	}
	r := wrctl(t, append(env, "WRCTL_ADMIN_TOKEN="+e2eAdminToken), "load", "-u", "60", "-r", "30", "--starts-in", "1s",
		"--hold", "20ms", "--poll-interval", "50ms", "--run-id", "onsale-e2e", "--progress", "none", "--output", "json")
	var rep loadgen.Report
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	st := rep.Events["onsale-e2e-e0"].Start
	if st == nil || st.PreQueued < 10 || st.AfterStart < 10 || st.PreQueued+st.AfterStart != 60 {
		t.Fatalf("start audit = %+v", st)
	}
	if st.Overtaken != 0 || !st.ShuffleMatches || st.ShuffleSize != st.PreQueued || st.RankCorrelation == nil {
		t.Fatalf("start audit = %+v (the pre-queue must go first, in the recorded order)", st)
	}
	// The run verified the event's public audit log, signed by the room.
	if l := rep.Events["onsale-e2e-e0"].Log; l == nil || l.Error != "" || len(l.Violations) != 0 || !l.Signed || l.Entries < 180 || rep.Audit.LogsRead != 1 {
		t.Fatalf("audit log = %+v, logs read %d", l, rep.Audit.LogsRead)
	}
	if rep.Audit.Inversions != 0 || rep.Audit.PreQueued != st.PreQueued {
		t.Fatalf("audit = %+v", rep.Audit)
	}
	gated := false
	for _, th := range rep.Thresholds {
		gated = gated || th.Metric == "prequeue_overtaken" && th.Pass && th.Observed != nil
	}
	if !gated {
		t.Fatalf("no prequeue_overtaken check among %+v", rep.Thresholds)
	}
	t.Logf("load --starts-in: %d pre-queued, rank correlation %+.3f, %d after the start", st.PreQueued, *st.RankCorrelation, st.AfterStart)
}
