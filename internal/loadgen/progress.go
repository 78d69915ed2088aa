package loadgen

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// ShowProgress renders r's progress on w until the returned stop: "bars"
// (mpb, for a terminal), "lines" every interval (logs, CI), "none", or
// "auto" (bars when tty).
func ShowProgress(w io.Writer, mode string, tty bool, interval time.Duration, r *Runner) (stop func(), err error) {
	switch mode {
	case "auto":
		mode = "lines"
		if tty {
			mode = "bars"
		}
	case "bars", "lines", "none":
	default:
		return nil, &FieldError{Field: "progress", Msg: fmt.Sprintf("must be auto, bars, lines or none, got %q", mode)}
	}
	if interval <= 0 {
		return nil, &FieldError{Field: "progress-interval", Msg: "must be positive"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	switch mode {
	case "none":
		close(done)
	case "lines":
		go func() {
			defer close(done)
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					p := r.Progress()
					fmt.Fprintf(w, "elapsed %s  joined %d/%d (%.0f/s)  waiting %d  active %d  done %d/%d  errors %d  %s\n",
						p.Elapsed.Round(time.Second), p.Joined, p.Scheduled, p.JoinRate, p.Waiting, p.Active, p.Done, p.Scheduled, p.Errors, eta(p))
				}
			}
		}()
	case "bars":
		go func() {
			defer close(done)
			progressBars(ctx, w, r)
		}()
	}
	return func() { cancel(); <-done }, nil
}

// progressBars draws joined / waiting / active / done bars with mpb.
func progressBars(ctx context.Context, w io.Writer, r *Runner) {
	// The totals are known once the runner has planned its users.
	for r.Progress().Scheduled == 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	total := r.Progress().Scheduled
	// Each bar shows a value of the progress snapshot; a gauge can go down
	// and stays where it is at the end, a counter completes.
	type barSpec struct {
		name  string
		value func(Progress) int64
		gauge bool
		tail  func(Progress) string
	}
	specs := []barSpec{
		{"joined", func(p Progress) int64 { return p.Joined }, false, func(p Progress) string {
			return fmt.Sprintf("  %.0f/s  elapsed %s  %s", p.JoinRate, p.Elapsed.Round(time.Second), eta(p))
		}},
		{"waiting", func(p Progress) int64 { return p.Waiting }, true, nil},
		{"active", func(p Progress) int64 { return p.Active }, true, nil},
		{"done", func(p Progress) int64 { return p.Done }, false, func(p Progress) string {
			return fmt.Sprintf("  %.0f/s  errors %d", float64(p.Done)/max(p.Elapsed.Seconds(), 1e-9), p.Errors)
		}},
	}
	bars := make([]*mpb.Bar, len(specs))
	for i, sp := range specs {
		bars[i] = p.New(total, mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name(sp.name, decor.WC{W: 8, C: decor.DindentRight})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				pr := r.Progress()
				s := fmt.Sprintf("%d/%d", sp.value(pr), pr.Scheduled)
				if sp.tail != nil {
					s += sp.tail(pr)
				}
				return s
			})))
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		pr := r.Progress()
		for i, sp := range specs {
			bars[i].SetCurrent(sp.value(pr))
		}
		select {
		case <-ctx.Done():
			pr := r.Progress()
			for i, sp := range specs {
				bars[i].SetCurrent(sp.value(pr))
				if sp.gauge || pr.Interrupted || pr.Done < pr.Scheduled {
					bars[i].Abort(false) // keep the value reached: a short run does not fill up
				} else {
					bars[i].SetTotal(-1, true)
				}
			}
			p.Wait()
			return
		case <-t.C:
		}
	}
}

// eta says when the run will end, as far as the schedule knows.
func eta(p Progress) string {
	switch {
	case p.Interrupted:
		return "INTERRUPTED: leaving open sessions"
	case p.ArrivalsLeft > 0:
		return "arrivals end in " + p.ArrivalsLeft.Round(time.Second).String()
	case p.Done < p.Scheduled:
		return "arrivals done; waiting for the last users"
	}
	return ""
}
