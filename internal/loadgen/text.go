package loadgen

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, part := range []func(*strings.Builder){r.textHeader, r.textEndpoints, r.textHistogram, r.textHeard, r.textStatus, r.textEvents, r.textFooter} {
		part(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// textHeader is the scenario, the run and what became of the users.
func (r *Report) textHeader(b *strings.Builder) {
	sc := r.Scenario
	arrivals := fmt.Sprintf("%g joins/s", sc.Rate)
	if sc.Stages != "" {
		arrivals = "stages " + sc.Stages
	}
	fmt.Fprintf(b, "wrctl load — run %s (shards %s)\n", r.RunID, strings.Join(r.Shards, ", "))
	if r.Interrupted {
		fmt.Fprintf(b, "INTERRUPTED  the run was stopped early: the figures below are partial; %d open session(s) were left\n", r.Users.LeftAtStop)
	}
	fmt.Fprintf(b, "scenario   %d users, %s, %d event(s), hold %s, abandon %g\n", sc.Users, arrivals, sc.Events, sc.Hold, sc.Abandon)
	fmt.Fprintf(b, "elapsed    %s, achieved join rate %.1f/s", r.Elapsed.Duration().Round(time.Millisecond), r.JoinRate)
	if r.Users.Admitted > 0 {
		fmt.Fprintf(b, ", %.1f requests per admitted user", float64(r.RequestCount())/float64(r.Users.Admitted))
	}
	b.WriteString("\n\n")

	u := r.Users
	fmt.Fprintf(b, "users      scheduled %d  joined %d  admitted %d  left %d  abandoned %d\n", u.Scheduled, u.Joined, u.Admitted, u.Left, u.Abandoned)
	fmt.Fprintf(b, "           expired waiting %d  expired active %d  failed %d  incomplete %d  left at stop %d\n", u.ExpiredWaiting, u.ExpiredActive, u.Failed, u.Incomplete, u.LeftAtStop)
	fmt.Fprintf(b, "arrivals   late %d  dropped %d  lag p99 %s\n\n", u.LateArrivals, u.DroppedArrivals, ms(r.ArrivalLag.P99))
}

// textEndpoints is the latency table, a row per endpoint.
func (r *Report) textEndpoints(b *strings.Builder) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "endpoint\tcount\treq/s\terrors\tmin\tmean\tp50\tp90\tp95\tp99\tp99.9\tmax")
	row := func(name string, ep Endpoint) {
		l := ep.Latency
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, ep.Count, ep.RPS, sum(ep.Errors),
			ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P95), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	for _, name := range []string{EndpointJoin, EndpointStatus, EndpointWait, EndpointHeartbeat, EndpointLeave} {
		row(name, r.Endpoints[name])
	}
	row("all", r.Overall)
	row("(stats)", r.Endpoints[EndpointStats])
	l := r.TimeToAdmission
	fmt.Fprintf(tw, "admission\t%d\t\t\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Count, ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P95), ms(l.P99), ms(l.P999), ms(l.Max))
	tw.Flush()
	b.WriteString("(latency from each request's scheduled time; admission from the scheduled join to first seeing ACTIVE;\n wait is a status request held for a change, its latency mostly the hold, counted in all but not in its latency;\n (stats) are the audit's own reads, not counted in all)\n\n")
}

// Histogram drawing: rows and the longest bar, in cells.
const (
	histRows = 10
	histBar  = 40
)

// textHistogram draws the latency of all requests as oha does, a bar per
// bucket, with the buckets spaced evenly on a log scale from the fastest
// request to the slowest so that a long tail stays readable.
func (r *Report) textHistogram(b *strings.Builder) {
	rows := latencyRows(r.Overall.Latency)
	if len(rows) == 0 {
		return
	}
	var most int64
	for _, row := range rows {
		most = max(most, row.count)
	}
	b.WriteString("latency histogram (all requests; each row counts those up to its bound)\n")
	for _, row := range rows {
		bar := int(math.Ceil(float64(row.count) * histBar / float64(most)))
		fmt.Fprintf(b, "  %9s [%*d] |%s\n", ms(Millis(float64(row.upTo)/1000)), len(fmt.Sprint(most)), row.count, strings.Repeat("■", bar))
	}
	b.WriteString("\n")
}

// latencyRow is one bucket of the drawn histogram: the requests slower
// than the row above and up to upTo microseconds.
type latencyRow struct{ upTo, count int64 }

// latencyRows buckets l's histogram into at most histRows log-spaced rows.
func latencyRows(l Latency) []latencyRow {
	h, err := l.histogram()
	if err != nil || h.TotalCount() == 0 {
		return nil
	}
	lo, hi := float64(max(h.Min(), 1)), float64(h.Max())
	var rows []latencyRow
	for i := 1; i <= histRows; i++ {
		upTo := int64(math.Round(lo * math.Pow(hi/lo, float64(i)/histRows)))
		if i == histRows {
			upTo = h.Max()
		}
		if len(rows) == 0 || upTo > rows[len(rows)-1].upTo {
			rows = append(rows, latencyRow{upTo: upTo})
		}
	}
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		v := min(bar.To, h.Max())
		i, _ := slices.BinarySearchFunc(rows, v, func(row latencyRow, v int64) int { return cmp.Compare(row.upTo, v) })
		rows[min(i, len(rows)-1)].count += bar.Count
	}
	return rows
}

// textHeard is how soon admitted users heard, and at what cost.
func (r *Report) textHeard(b *strings.Builder) {
	if r.Users.Admitted == 0 {
		return
	}
	hd := r.Heard
	util := "unknown (nobody waited, or no capacity known)"
	if hd.Utilization != nil {
		util = fmt.Sprintf("%.3f while someone waited (%.1fs)", *hd.Utilization, hd.WaitedSeconds)
	}
	fmt.Fprintf(b, "heard      time to hear of admission p50 %s  p99 %s  max %s\n", ms(hd.TimeToHear.P50), ms(hd.TimeToHear.P99), ms(hd.TimeToHear.Max))
	fmt.Fprintf(b, "           slot utilization %s;  %.1f requests per admitted user\n\n", util, hd.RequestsPerAdmitted)
}

// textStatus is the status codes by endpoint, then the errors.
func (r *Report) textStatus(b *strings.Builder) {
	if len(r.Overall.Status) > 0 {
		b.WriteString("status codes\n")
	}
	for _, name := range append(slices.Clone(endpoints), "") {
		st := r.Overall.Status
		if name != "" {
			st = r.Endpoints[name].Status
		}
		if len(st) == 0 {
			continue
		}
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(st)) {
			parts = append(parts, fmt.Sprintf("%s ×%d", code, st[code]))
		}
		fmt.Fprintf(b, "  %-10s %s\n", cmp.Or(name, "all"), strings.Join(parts, "  "))
	}
	if errs := r.errorLines(); len(errs) > 0 {
		b.WriteString("\nerrors\n")
		for _, e := range errs {
			b.WriteString("  " + e + "\n")
		}
	}
}

// textEvents is the audit of each event: capacity, order, rate and start.
func (r *Report) textEvents(b *strings.Builder) {
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "event\tcapacity (from)\tserver capacity\tserver peak\tserver max seen\tusers' max inside\tadmitted\tinversions\tverdict")
	for _, id := range slices.Sorted(maps.Keys(r.Events)) {
		ev := r.Events[id]
		capacity := "unknown"
		if ev.Capacity > 0 {
			capacity = fmt.Sprintf("%d (%s)", ev.Capacity, ev.CapacitySource)
		}
		server := "-"
		if ev.ServerCapacity > 0 {
			server = fmt.Sprint(ev.ServerCapacity)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d (%.4f)\t%s\n", id, capacity, server, ev.ServerPeakActive, ev.ServerMaxActiveSeen, ev.ClientMaxActive, ev.Admitted, ev.Inversions, ev.InversionFraction, ev.verdict())
	}
	tw.Flush()
	for _, id := range slices.Sorted(maps.Keys(r.Events)) {
		if ev := r.Events[id]; ev.NewUsersPerMinute > 0 {
			fmt.Fprintf(b, "rate       %s: %.1f admissions a minute on average, at most %d in any minute (newUsersPerMinute %d)\n",
				id, ev.PerMinute, ev.MaxPerMinute, ev.NewUsersPerMinute)
		}
		if st := r.Events[id].Start; st != nil {
			fmt.Fprintf(b, "start      %s: %s\n", id, st.summary())
		}
		if l := r.Events[id].Log; l != nil {
			fmt.Fprintf(b, "log        %s: %s\n", id, l.summary())
		}
	}
}

// verdict is an event's audit in a few words.
func (ev Event) verdict() string {
	verdict := "ok"
	switch {
	case ev.CapacityViolation:
		verdict = "CAPACITY VIOLATED"
	case ev.Capacity == 0:
		verdict = "capacity unverified"
	}
	if ev.CapacityMismatch {
		verdict += fmt.Sprintf("; server reports capacity %d, --capacity says %d", ev.ServerCapacity, ev.Capacity)
	}
	return verdict
}

// textFooter is the run's audit totals, SQS cost, memory and thresholds.
func (r *Report) textFooter(b *strings.Builder) {
	fmt.Fprintf(b, "\naudit      capacity violations %d, inversions %d (fraction %.4f)", r.Audit.CapacityViolations, r.Audit.Inversions, r.Audit.InversionFraction)
	switch {
	case r.Audit.CapacityUnverified > 0:
		fmt.Fprintf(b, "; capacity unverified for %d event(s): give --capacity", r.Audit.CapacityUnverified)
	case !r.Audit.ServerStatsAvailable:
		b.WriteString("; server stats unavailable: capacity audited from the users' own count against --capacity")
	}
	if q := r.SQS; q != nil {
		fmt.Fprintf(b, "\nsqs        %.0f requests from %d replica(s), %.2f per admitted user: $%.2f per million admitted users at $%.2f per million FIFO requests",
			q.Requests, q.Replicas, q.PerAdmitted, q.DollarsPerMillionAdmitted, FIFOPricePerMillion)
	}
	fmt.Fprintf(b, "\nmemory     %d bytes per simulated user, peak heap %.1f MiB\n", r.Memory.BytesPerUser, float64(r.Memory.PeakHeapBytes)/(1<<20))
	if len(r.Thresholds) > 0 {
		b.WriteString("\nthresholds\n")
		for _, t := range r.Thresholds {
			b.WriteString("  " + t.String() + "\n")
		}
	}
}

// errorLines are the failed requests by endpoint and message, most first.
func (r *Report) errorLines() []string {
	type line struct {
		endpoint, msg string
		n             int64
	}
	var lines []line
	for _, name := range endpoints {
		for msg, n := range r.Endpoints[name].Errors {
			lines = append(lines, line{name, msg, n})
		}
	}
	slices.SortFunc(lines, func(a, b line) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.endpoint, b.endpoint), cmp.Compare(a.msg, b.msg))
	})
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf("%-10s %6d  %s", l.endpoint, l.n, l.msg)
	}
	return out
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func ms(m Millis) string {
	d := m.Duration()
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// summary is the audit log's verdict in a line.
func (l *LogAudit) summary() string {
	switch {
	case l.Error != "":
		return "NOT PROVEN: " + l.Error
	case len(l.Violations) > 0:
		return fmt.Sprintf("NOT PROVEN: %d rule(s) broken, first %s", len(l.Violations), l.Violations[0])
	}
	signed := "head unsigned (the room signs tokens with a shared secret)"
	if l.Signed {
		signed = "head signed by the room's key"
	}
	return fmt.Sprintf("proven from the server's audit log (%d entries, %s)", l.Entries, signed)
}

// summary is the start audit in a line.
func (s *StartAudit) summary() string {
	corr := "rank correlation n/a (fewer than 3)"
	if s.RankCorrelation != nil {
		corr = fmt.Sprintf("rank correlation of join and admission order %+.3f (±%.3f by chance)", *s.RankCorrelation, 1/math.Sqrt(float64(max(s.PreQueued-1, 1))))
	}
	rec := "shuffle record not read (no --admin-token)"
	switch {
	case s.ShuffleSize >= 0 && s.ShuffleMatches:
		rec = fmt.Sprintf("admitted in the server's recorded order of %d", s.ShuffleSize)
	case s.ShuffleSize >= 0:
		rec = fmt.Sprintf("NOT in the server's recorded order of %d", s.ShuffleSize)
	}
	return fmt.Sprintf("%d pre-queued admitted, %s; %d joined after the start, %d of them admitted before a pre-queued user; %s",
		s.PreQueued, corr, s.AfterStart, s.Overtaken, rec)
}
