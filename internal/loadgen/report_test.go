package loadgen_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/wrctl/wrctl/internal/loadgen"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestInversions(t *testing.T) {
	cases := []struct {
		name string
		adms []loadgen.Admission
		want int64
	}{
		{"in order", []loadgen.Admission{{Ticket: 1, ActivatedAt: 10}, {Ticket: 2, ActivatedAt: 20}, {Ticket: 3, ActivatedAt: 30}}, 0},
		{"reversed", []loadgen.Admission{{Ticket: 1, ActivatedAt: 30}, {Ticket: 2, ActivatedAt: 20}, {Ticket: 3, ActivatedAt: 10}}, 3},
		{"one swap", []loadgen.Admission{{Ticket: 1, ActivatedAt: 10}, {Ticket: 3, ActivatedAt: 20}, {Ticket: 2, ActivatedAt: 30}, {Ticket: 4, ActivatedAt: 40}}, 1},
		{"ties are no inversion", []loadgen.Admission{{Ticket: 2, ActivatedAt: 10}, {Ticket: 1, ActivatedAt: 10}}, 0},
		{"gaps from skipped users", []loadgen.Admission{{Ticket: 1, ActivatedAt: 10}, {Ticket: 7, ActivatedAt: 20}, {Ticket: 9, ActivatedAt: 30}}, 0},
		{"a reversal within the same millisecond, seen by admission order", []loadgen.Admission{{Ticket: 2, ActivatedAt: 10, Order: 1}, {Ticket: 1, ActivatedAt: 10, Order: 2}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, pairs := loadgen.Inversions(c.adms)
			if got != c.want || pairs != int64(len(c.adms)*(len(c.adms)-1)/2) {
				t.Fatalf("inversions %d of %d pairs, want %d", got, pairs, c.want)
			}
		})
	}
}

func TestMaxConcurrent(t *testing.T) {
	adms := []loadgen.Admission{
		{SeenAt: 0, LeftAt: 10},
		{SeenAt: 10, LeftAt: 20}, // takes the slot the first freed at the same instant
		{SeenAt: 5, LeftAt: 15},
		{SeenAt: 12}, // still inside at the end
	}
	if got := loadgen.MaxConcurrent(adms, 100); got != 3 {
		t.Fatalf("max concurrent = %d, want 3", got)
	}
}

func TestThresholds(t *testing.T) {
	join := loadgen.Endpoint{Count: 100, Errors: map[string]int64{"server answered 503: busy": 2}, Latency: loadgen.Latency{Count: 100, P95: 120, P99: 150, Max: 400}}
	rep := &loadgen.Report{
		Endpoints: map[string]loadgen.Endpoint{loadgen.EndpointJoin: join},
		Overall:   join,
		Users:     loadgen.Users{Admitted: 10},
		Audit:     loadgen.Audit{CapacityViolations: 0, Inversions: 3, Pairs: 45, ServerStatsAvailable: true},
		JoinRate:  480,
	}
	cases := []struct {
		expr   string
		pass   bool
		actual float64
	}{
		{"join_p99<200ms", true, 150},
		{"join_p99 < 100ms", false, 150},
		{"join_p95<=120ms", true, 120},
		{"join_max<=400ms", true, 400},
		{"join_p99<0.2s", true, 150},
		{"errors==0", false, 2},
		{"error_rate<0.05", true, 0.02},
		{"capacity_violations==0", true, 0},
		{"inversions==0", false, 3},
		{"inversions!=0", true, 3},
		{"join_rate>=450", true, 480},
		{"join_rate>500", false, 480},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			th, err := loadgen.ParseThreshold(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			failed := rep.Check([]loadgen.Threshold{th})
			got := rep.Thresholds[0]
			if got.Pass != c.pass || got.Observed == nil || *got.Observed != c.actual || (len(failed) == 0) != c.pass {
				t.Fatalf("check = %+v, want pass %v observed %v", got, c.pass, c.actual)
			}
		})
	}
	// A metric that could not be measured fails an operator's threshold and
	// says why; a default check on it is skipped, not passed in silence.
	unverified := *rep
	unverified.Audit.CapacityUnverified, unverified.Audit.ServerStatsAvailable = 1, false
	th, _ := loadgen.ParseThreshold("capacity_violations==0")
	if failed := unverified.Check([]loadgen.Threshold{th}); len(failed) != 1 || failed[0].Observed != nil ||
		!strings.Contains(failed[0].Reason, "capacity unverified") || !strings.Contains(failed[0].Reason, "no --capacity") {
		t.Fatalf("unverified capacity: %+v", failed)
	}
	if failed := unverified.Check(loadgen.Gates(nil, 5, false, false)); len(failed) != 1 || failed[0].Metric != "inversions" || unverified.Thresholds[1].Reason == "" || !strings.HasPrefix(unverified.Thresholds[1].String(), "–") {
		t.Fatalf("default gates on an unverified run: failed %+v, all %+v", failed, unverified.Thresholds)
	}
	th, _ = loadgen.ParseThreshold("status_p99<1s")
	if failed := rep.Check([]loadgen.Threshold{th}); len(failed) != 1 || failed[0].Reason != "no status measured" {
		t.Fatalf("latency of an endpoint never called: %+v", failed)
	}
	// The default gates: errors beyond --max-errors, capacity and order.
	gates := loadgen.Gates(nil, 0, false, false)
	if failed := rep.Check(gates); len(failed) != 2 || failed[0].Metric != "errors" || failed[1].Metric != "inversions" {
		t.Fatalf("default gates = %+v", rep.Thresholds)
	}
	er, _ := loadgen.ParseThreshold("error_rate<0.05")
	if g := loadgen.Gates([]loadgen.Threshold{er}, 0, false, false); len(g) != 3 || g[1].Metric != "capacity_violations" {
		t.Fatalf("an error threshold replaces the default errors gate: %+v", g)
	}
	if g := loadgen.Gates([]loadgen.Threshold{er}, 3, true, false); len(g) != 4 || g[1].Raw != "errors<=3" || g[1].Default {
		t.Fatalf("--max-errors always gates: %+v", g)
	}
	for _, bad := range []string{"join_p99", "latency<5ms", "join_p99<fast", "errors<none", "join_p42<1ms", "errors=0"} {
		if _, err := loadgen.ParseThreshold(bad); err == nil {
			t.Errorf("threshold %q accepted", bad)
		}
	}
}

func TestMergeCombinesShardsExactly(t *testing.T) {
	t.Parallel()
	f := newFake(2, 2, inOrder)
	c := fakeClient(t, f)
	var reps []*loadgen.Report
	done := make(chan *loadgen.Report, 2)
	for shard := range 2 {
		go func() {
			cfg := scenario(40, 400)
			cfg.Shard, cfg.Shards = shard, 2
			r, err := loadgen.New(cfg, c)
			if err != nil {
				t.Error(err)
				done <- nil
				return
			}
			rep, err := r.Run(t.Context())
			if err != nil {
				t.Error(err)
			}
			done <- rep
		}()
	}
	for range 2 {
		reps = append(reps, <-done)
	}
	if reps[0] == nil || reps[1] == nil {
		t.FailNow()
	}
	// Through the files `wrctl load --out` writes and `load merge` reads.
	dir := t.TempDir()
	var paths []string
	for i, r := range reps {
		paths = append(paths, filepath.Join(dir, fmt.Sprintf("shard-%d.json", i)))
		if err := r.WriteFile(paths[i]); err != nil {
			t.Fatal(err)
		}
	}
	read, err := loadgen.ReadReports(paths...)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{"), 0o644)
	if _, err := loadgen.ReadReports(paths[0], filepath.Join(dir, "junk.json")); err == nil || !strings.Contains(err.Error(), "junk.json") {
		t.Fatalf("a file that is no report: %v", err)
	}
	m, err := loadgen.Merge(read...)
	if err != nil {
		t.Fatal(err)
	}
	if m.Users.Joined != 40 || m.Users.Admitted != 40 || len(m.Admissions["t-e0"]) != 40 {
		t.Fatalf("merged users = %+v, admissions %d", m.Users, len(m.Admissions["t-e0"]))
	}
	join := m.Endpoints[loadgen.EndpointJoin]
	if join.Count != 40 || join.Latency.Count != 40 {
		t.Fatalf("merged join count %d, histogram count %d", join.Count, join.Latency.Count)
	}
	if m.Audit.Inversions != 0 || m.Audit.CapacityViolations != 0 || m.Events["t-e0"].ClientMaxActive > 2 {
		t.Fatalf("merged audit = %+v, event %+v", m.Audit, m.Events["t-e0"])
	}
	if strings.Join(m.Shards, ",") != "0/2,1/2" {
		t.Fatalf("shards %v", m.Shards)
	}
	other := *reps[1]
	other.RunID = "another"
	if _, err := loadgen.Merge(reps[0], &other); err == nil {
		t.Fatal("merged reports of different runs")
	}
}

// latency encodes fixed samples as a report histogram.
func latency(t *testing.T, samples ...time.Duration) loadgen.Latency {
	t.Helper()
	h := hdr.New(1, int64(time.Hour/time.Microsecond), 3)
	for _, s := range samples {
		h.RecordValue(s.Microseconds())
	}
	enc, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	return loadgen.Latency{Histogram: string(enc)}
}

// goldenReport is a report built from fixed figures.
func goldenReport(t *testing.T) *loadgen.Report {
	t.Helper()
	ms := time.Millisecond
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a := &loadgen.Report{
		Version: loadgen.ReportVersion, RunID: "golden", Shards: []string{"0/1"},
		Scenario:  loadgen.Scenario{Users: 3, Rate: 10, Events: 1, Hold: "1s"},
		StartedAt: start, Elapsed: 2000, LastJoinAt: start.Add(300 * time.Millisecond),
		Users: loadgen.Users{Scheduled: 3, Joined: 3, Admitted: 3, Left: 3},
		Endpoints: map[string]loadgen.Endpoint{
			loadgen.EndpointJoin: {Count: 3, Status: map[string]int64{"202": 3}, Errors: map[string]int64{}, Latency: latency(t, 2*ms, 3*ms, 40*ms)},
			loadgen.EndpointStatus: {Count: 5, Status: map[string]int64{"200": 4, "503": 1},
				Errors: map[string]int64{"server answered 503: the room is overloaded": 1}, Latency: latency(t, ms, ms, 2*ms, 2*ms, 9*ms)},
			loadgen.EndpointLeave: {Count: 3, Status: map[string]int64{"204": 3}, Errors: map[string]int64{}, Latency: latency(t, ms, 2*ms, 3*ms)},
		},
		TimeToAdmission: latency(t, 100*ms, 200*ms, 4100*ms),
		ArrivalLag:      latency(t, 100*time.Microsecond, 200*time.Microsecond, 300*time.Microsecond),
		Events: map[string]loadgen.Event{"golden-e0": {Capacity: 2, CapacitySource: loadgen.CapacityFromOperator, ServerCapacity: 2,
			ServerPeakActive: 2, ServerMaxActiveSeen: 2}},
		Audit: loadgen.Audit{ServerStatsAvailable: true},
		Admissions: map[string][]loadgen.Admission{"golden-e0": {
			{Ticket: 1, ActivatedAt: 1000, SeenAt: 1100, LeftAt: 5000},
			{Ticket: 2, ActivatedAt: 1200, SeenAt: 1300, LeftAt: 6000},
			{Ticket: 3, ActivatedAt: 5100, SeenAt: 5200, LeftAt: 9000},
		}},
	}
	m, err := loadgen.Merge(a) // fills the histograms, summaries and audits
	if err != nil {
		t.Fatal(err)
	}
	th, _ := loadgen.ParseThreshold("join_p95<50ms")
	m.Check(loadgen.Gates([]loadgen.Threshold{th}, 0, false, false))
	return m
}

func TestJSONReportShape(t *testing.T) {
	rep := goldenReport(t)
	got, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Fatalf("JSON report differs from %s (go test -update to accept):\n%s", golden, got)
	}
	var back loadgen.Report
	if err := json.Unmarshal(want, &back); err != nil || back.Admissions["golden-e0"][2].Ticket != 3 {
		t.Fatalf("golden report does not read back: %v", err)
	}
}

func TestTextReport(t *testing.T) {
	var b bytes.Buffer
	if err := goldenReport(t).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.txt")
	if *update {
		os.WriteFile(golden, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Fatalf("text report differs from %s:\n%s", golden, b.String())
	}
}
