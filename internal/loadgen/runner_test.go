package loadgen_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/client"

	"github.com/wrctl/wrctl/internal/loadgen"
)

func scenario(users int, rate float64) loadgen.Config {
	return loadgen.Config{
		Users:        users,
		Rate:         rate,
		RunID:        "t",
		Hold:         loadgen.Dist{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond},
		PollInterval: 5 * time.Millisecond,
		Concurrency:  32,
	}
}

func run(t *testing.T, cfg loadgen.Config, h *fakeRoom) *loadgen.Report {
	t.Helper()
	r, err := loadgen.New(cfg, fakeClient(t, h))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAuditsOfACorrectRoom(t *testing.T) {
	t.Parallel()
	rep := run(t, scenario(60, 300), newFake(3, 3, inOrder))
	ev := rep.Events["t-e0"]
	if rep.Users.Joined != 60 || rep.Users.Admitted != 60 || rep.Users.Left != 60 {
		t.Fatalf("users = %+v", rep.Users)
	}
	if rep.Audit.CapacityViolations != 0 || rep.Audit.Inversions != 0 || ev.CapacityViolation {
		t.Fatalf("a correct room was flagged: audit %+v, event %+v", rep.Audit, ev)
	}
	if ev.ServerPeakActive != 3 || ev.ClientMaxActive < 1 || ev.ClientMaxActive > 3 {
		t.Fatalf("event audit = %+v", ev)
	}
	if rep.ErrorCount() != 0 || rep.TimeToAdmission.Count != 60 {
		t.Fatalf("errors %d, admissions %d", rep.ErrorCount(), rep.TimeToAdmission.Count)
	}
}

func TestInversionsCatchARoomThatAdmitsOutOfOrder(t *testing.T) {
	t.Parallel()
	// All join quickly, then the room admits the newest first.
	cfg := scenario(40, 2000)
	rep := run(t, cfg, newFake(1, 1, reverse))
	if rep.Audit.Inversions == 0 || rep.Audit.InversionFraction <= 0 {
		t.Fatalf("out-of-order admission not caught: %+v", rep.Audit)
	}
	th, _ := loadgen.ParseThreshold("inversions==0")
	if failed := rep.Check([]loadgen.Threshold{th}); len(failed) != 1 {
		t.Fatal("threshold inversions==0 passed")
	}
}

func TestCapacityAuditCatchesOneTooMany(t *testing.T) {
	t.Parallel()
	rep := run(t, scenario(60, 1000), newFake(2, 3, inOrder))
	ev := rep.Events["t-e0"]
	if !ev.CapacityViolation || rep.Audit.CapacityViolations != 1 || ev.ServerPeakActive != 3 {
		t.Fatalf("a room letting 3 in at capacity 2 passed: %+v", ev)
	}
}

func TestClientSideCountCatchesAServerThatLies(t *testing.T) {
	t.Parallel()
	f := newFake(2, 3, inOrder)
	f.lieAboutPeak = true
	cfg := scenario(24, 1000)
	cfg.Hold = loadgen.Dist{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond} // long enough to overlap
	rep := run(t, cfg, f)
	ev := rep.Events["t-e0"]
	if ev.ServerPeakActive > 2 {
		t.Fatalf("the fake did not lie: %+v", ev)
	}
	if ev.ClientMaxActive != 3 || !ev.CapacityViolation {
		t.Fatalf("client side did not see 3 inside at capacity 2: %+v", ev)
	}
}

func TestLatencyIsMeasuredFromTheScheduledTime(t *testing.T) {
	t.Parallel()
	f := newFake(1, 1, inOrder)
	f.joinDelay = 50 * time.Millisecond
	cfg := scenario(20, 100) // one every 10ms, served one at a time in 50ms
	cfg.Concurrency = 1
	cfg.Abandon = 1 // join only
	rep := run(t, cfg, f)
	join := rep.Endpoints[loadgen.EndpointJoin].Latency
	// The last join was due at 190ms and could only start after 19×50ms:
	// measured from its schedule it waited ~800ms, though served in 50ms.
	if join.Max.Duration() < 600*time.Millisecond {
		t.Fatalf("join max latency %s hides the queueing (coordinated omission)", join.Max.Duration())
	}
	if rep.Users.LateArrivals < 10 || rep.ArrivalLag.Max.Duration() < 500*time.Millisecond {
		t.Fatalf("late arrivals %d, lag max %s", rep.Users.LateArrivals, rep.ArrivalLag.Max.Duration())
	}
	if rep.Users.Abandoned != 20 {
		t.Fatalf("abandoned %d, want 20", rep.Users.Abandoned)
	}
}

func TestDurationCapDropsLateArrivals(t *testing.T) {
	t.Parallel()
	cfg := scenario(1000, 100) // 10s of arrivals
	cfg.Duration = 300 * time.Millisecond
	rep := run(t, cfg, newFake(5, 5, inOrder))
	if rep.Users.DroppedArrivals < 900 || rep.Users.Joined > 100 {
		t.Fatalf("users = %+v; want most arrivals dropped by the 300ms cap", rep.Users)
	}
	if rep.Users.Joined+rep.Users.DroppedArrivals+rep.Users.Failed > rep.Users.Scheduled {
		t.Fatalf("users do not add up: %+v", rep.Users)
	}
}

func TestEventsSpreadUsers(t *testing.T) {
	t.Parallel()
	cfg := scenario(30, 1000)
	cfg.Events = 3
	rep := run(t, cfg, newFake(100, 100, inOrder))
	if len(rep.Admissions) != 3 {
		t.Fatalf("admissions over %d events, want 3", len(rep.Admissions))
	}
	for i := range 3 {
		if n := len(rep.Admissions["t-e"+itoa(i)]); n != 10 {
			t.Fatalf("event %d: %d admissions, want 10", i, n)
		}
	}
}

func TestOperatorCapacityCatchesAServerThatClaimsMore(t *testing.T) {
	t.Parallel()
	f := newFake(5, 3, inOrder) // lets 3 in and says its capacity is 5
	cfg := scenario(24, 1000)
	cfg.Hold = loadgen.Dist{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}
	cfg.Capacity = 2
	rep := run(t, cfg, f)
	ev := rep.Events["t-e0"]
	if !ev.CapacityViolation || ev.Capacity != 2 || ev.CapacitySource != loadgen.CapacityFromOperator || ev.ServerCapacity != 5 || !ev.CapacityMismatch {
		t.Fatalf("3 inside at --capacity 2 passed: %+v", ev)
	}
	var b strings.Builder
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "server reports capacity 5, --capacity says 2") {
		t.Fatalf("the report does not say the capacities disagree:\n%s", b.String())
	}
}

func TestWithoutServerStatsCapacityIsUnverifiedUnlessGiven(t *testing.T) {
	t.Parallel()
	f := newFake(2, 3, inOrder)
	f.noStats = true
	cfg := scenario(24, 1000)
	cfg.Hold = loadgen.Dist{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}
	rep := run(t, cfg, f)
	if rep.Audit.ServerStatsAvailable || rep.Audit.CapacityUnverified != 1 || rep.Audit.CapacityViolations != 0 {
		t.Fatalf("audit = %+v", rep.Audit)
	}
	th, _ := loadgen.ParseThreshold("capacity_violations==0")
	if failed := rep.Check([]loadgen.Threshold{th}); len(failed) != 1 || !strings.Contains(failed[0].Reason, "server stats unavailable and no --capacity given") {
		t.Fatalf("an unverified capacity passed: %+v", rep.Thresholds)
	}
	cfg.Capacity = 2
	rep = run(t, cfg, newFakeNoStats(2, 3))
	if ev := rep.Events["t-e0"]; !ev.CapacityViolation || ev.ClientMaxActive != 3 {
		t.Fatalf("the users' own count against --capacity 2: %+v", ev)
	}
}

func newFakeNoStats(capacity, slots int) *fakeRoom {
	f := newFake(capacity, slots, inOrder)
	f.noStats = true
	return f
}

func TestInterruptLeavesEverySessionAndMarksTheReport(t *testing.T) {
	t.Parallel()
	f := newFake(3, 3, inOrder)
	cfg := scenario(200, 100) // 2s of arrivals
	cfg.Hold = loadgen.Dist{Min: time.Minute, Max: time.Minute}
	r, err := loadgen.New(cfg, fakeClient(t, f))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *loadgen.Report)
	go func() {
		rep, err := r.Run(t.Context())
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	deadline := time.Now().Add(30 * time.Second)
	for p := r.Progress(); p.Active < 3 || p.Waiting < 5; p = r.Progress() {
		if time.Now().After(deadline) {
			t.Fatalf("never had 3 inside and 5 waiting: %+v", p)
		}
		<-time.After(5 * time.Millisecond) // poll the condition
	}
	r.Interrupt()
	r.Interrupt() // twice is fine
	rep := <-done
	if !rep.Interrupted || !r.Progress().Interrupted {
		t.Fatal("the report is not marked interrupted")
	}
	if n := f.open(); n != 0 {
		t.Fatalf("%d sessions left WAITING or ACTIVE on the server after the interrupt", n)
	}
	if rep.Users.LeftAtStop < 8 || rep.Users.Scheduled != 200 || rep.Users.Joined >= 200 {
		t.Fatalf("users = %+v", rep.Users)
	}
	var b strings.Builder
	rep.WriteText(&b)
	if !strings.HasPrefix(strings.SplitN(b.String(), "\n", 3)[1], "INTERRUPTED") {
		t.Fatalf("text report does not say INTERRUPTED:\n%s", b.String())
	}
}

func TestDurationCapLeavesNoSessionBehind(t *testing.T) {
	t.Parallel()
	f := newFake(2, 2, inOrder)
	cfg := scenario(100, 200)
	cfg.Hold = loadgen.Dist{Min: time.Minute, Max: time.Minute}
	cfg.Duration = 300 * time.Millisecond
	rep := run(t, cfg, f)
	if n := f.open(); n != 0 || rep.Users.LeftAtStop == 0 {
		t.Fatalf("%d sessions still open after the duration cap (left at stop %d)", n, rep.Users.LeftAtStop)
	}
}

func TestAServerThatCannotBeReachedIsAnErrorBeforeAnythingIsScheduled(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	ts.Close() // nothing listens there now
	c, _ := client.New(ts.URL, nil)
	r, err := loadgen.New(scenario(10, 10), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(t.Context()); !errors.Is(err, loadgen.ErrUnreachable) {
		t.Fatalf("Run = %v, want ErrUnreachable", err)
	}
	if p := r.Progress(); p.Scheduled != 0 {
		t.Fatalf("%d users scheduled against a server that is down", p.Scheduled)
	}
}

func TestErrorsAreGroupedByMessageWithStatusCodes(t *testing.T) {
	t.Parallel()
	f := newFake(5, 5, inOrder)
	f.failJoins = 4
	rep := run(t, scenario(40, 1000), f)
	join := rep.Endpoints[loadgen.EndpointJoin]
	msg := "server answered 503: the room is overloaded"
	if join.Errors[msg] != 10 || join.Status["503"] != 10 || join.Status["202"] != 30 || rep.Users.Failed != 10 {
		t.Fatalf("join errors %v, status %v, users %+v", join.Errors, join.Status, rep.Users)
	}
	if rep.Overall.Errors[msg] != 10 || rep.ErrorCount() != 10 || rep.Overall.Latency.P95 == 0 || rep.Overall.RPS <= 0 {
		t.Fatalf("overall = %+v", rep.Overall)
	}
	if failed := rep.Check(loadgen.Gates(nil, 0, false, false)); len(failed) != 1 || failed[0].Metric != "errors" {
		t.Fatalf("10 failed joins passed the default gates: %+v", rep.Thresholds)
	}
	if failed := rep.Check(loadgen.Gates(nil, 10, true, false)); len(failed) != 0 {
		t.Fatalf("--max-errors 10 still failed: %+v", rep.Thresholds)
	}
}

func TestTimelineSamplesTheRun(t *testing.T) {
	t.Parallel()
	cfg := scenario(60, 200)
	cfg.SampleInterval = 50 * time.Millisecond
	rep := run(t, cfg, newFake(3, 3, inOrder))
	tl := rep.Timeline
	if tl == nil || len(tl.Samples) < 3 || len(tl.Events) != 1 {
		t.Fatalf("timeline = %+v", tl)
	}
	last := tl.Samples[len(tl.Samples)-1]
	var peak int64
	for _, s := range tl.Samples {
		peak = max(peak, s.Inside[0])
	}
	if last.Joined != 60 || last.Admitted != 60 || peak < 1 || peak > 3 || last.Capacity[0] != 3 {
		t.Fatalf("last sample %+v, peak inside %d", last, peak)
	}
}
