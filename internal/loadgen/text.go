package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	sc := r.Scenario
	arrivals := fmt.Sprintf("%g joins/s", sc.Rate)
	if sc.Stages != "" {
		arrivals = "stages " + sc.Stages
	}
	fmt.Fprintf(&b, "wrctl load — run %s (shards %s)\n", r.RunID, strings.Join(r.Shards, ", "))
	fmt.Fprintf(&b, "scenario   %d users, %s, %d event(s), hold %s, abandon %g\n", sc.Users, arrivals, sc.Events, sc.Hold, sc.Abandon)
	fmt.Fprintf(&b, "elapsed    %s, achieved join rate %.1f/s\n\n", r.Elapsed.Duration().Round(time.Millisecond), r.JoinRate)

	u := r.Users
	fmt.Fprintf(&b, "users      scheduled %d  joined %d  admitted %d  left %d  abandoned %d\n", u.Scheduled, u.Joined, u.Admitted, u.Left, u.Abandoned)
	fmt.Fprintf(&b, "           expired waiting %d  expired active %d  failed %d  incomplete %d\n", u.ExpiredWaiting, u.ExpiredActive, u.Failed, u.Incomplete)
	fmt.Fprintf(&b, "arrivals   late %d  dropped %d  lag p99 %s\n\n", u.LateArrivals, u.DroppedArrivals, ms(r.ArrivalLag.P99))

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "endpoint\tcount\terrors\tp50\tp90\tp99\tp99.9\tmax")
	for _, name := range []string{EndpointJoin, EndpointStatus, EndpointHeartbeat, EndpointLeave, EndpointStats} {
		ep := r.Endpoints[name]
		l := ep.Latency
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", name, ep.Count, errorList(ep.Errors), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	l := r.TimeToAdmission
	fmt.Fprintf(tw, "admission\t%d\t\t%s\t%s\t%s\t%s\t%s\n", l.Count, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
	tw.Flush()
	b.WriteString("(latency from each request's scheduled time; admission from the scheduled join to first seeing ACTIVE)\n\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "event\tcapacity\tserver peak\tserver max seen\tclient max\tadmitted\tinversions\tcapacity")
	for _, id := range slices.Sorted(maps.Keys(r.Events)) {
		ev := r.Events[id]
		verdict := "ok"
		if ev.CapacityViolation {
			verdict = "VIOLATED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d (%.4f)\t%s\n", id, ev.Capacity, ev.ServerPeakActive, ev.ServerMaxActiveSeen, ev.ClientMaxActive, ev.Admitted, ev.Inversions, ev.InversionFraction, verdict)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\naudit      capacity violations %d, inversions %d (fraction %.4f)", r.Audit.CapacityViolations, r.Audit.Inversions, r.Audit.InversionFraction)
	if !r.Audit.ServerStatsAvailable {
		b.WriteString("; server stats unavailable: capacity audited from the client side only")
	}
	fmt.Fprintf(&b, "\nmemory     %d bytes per simulated user, peak heap %.1f MiB\n", r.Memory.BytesPerUser, float64(r.Memory.PeakHeapBytes)/(1<<20))
	_, err := io.WriteString(w, b.String())
	return err
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

func errorList(errs map[string]int64) string {
	if len(errs) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}
