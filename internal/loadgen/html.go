package loadgen

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

//go:embed html.tmpl
var htmlTemplate string

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":       ms,
	"pct":      func(f float64) string { return fmt.Sprintf("%.4f", f) },
	"observed": func(t ThresholdResult) string { return formatMetric(t.Metric, *t.Observed) },
	"errcount": sum,
	"fixed3":   func(f *float64) string { return fmt.Sprintf("%.3f", *f) },
	"perAdmitted": func(r *Report) float64 {
		return float64(r.RequestCount()) / float64(max(r.Users.Admitted, 1))
	},
}).Parse(htmlTemplate))

// WriteHTMLFile writes the HTML report to path.
func (r *Report) WriteHTMLFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteHTML writes the report as one self-contained HTML page: the
// figures of the text report and charts of the run over time, drawn as
// inline SVG, with nothing fetched from anywhere.
func (r *Report) WriteHTML(w io.Writer) error {
	data := struct {
		R      *Report
		Events []string
		Charts []template.HTML
		Errors []string
	}{R: r, Events: slices.Sorted(maps.Keys(r.Events)), Errors: r.errorLines()}
	for _, c := range r.charts() {
		data.Charts = append(data.Charts, c.svg())
	}
	return htmlPage.Execute(w, data)
}

// chart is a line or bar chart over the run's time (seconds from its start)
// or, for bars, over a value axis.
type chart struct {
	Title, Unit string
	Series      []series
	Bars        bool
	XLabel      string
	// XMax, if set, is the end of the x axis, so every chart over time
	// spans the whole run.
	XMax float64
}

type series struct {
	Name   string
	Color  string
	Dashed bool
	Points [][2]float64
}

var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d"}

// charts are the report's pictures of its timeline and its time to
// admission.
func (r *Report) charts() (out []chart) {
	tl := r.Timeline
	if tl != nil && len(tl.Samples) > 0 {
		t0 := tl.Samples[0].At
		x := func(s Sample) float64 { return float64(s.At-t0) / 1000 }
		end := x(tl.Samples[len(tl.Samples)-1])
		defer func() {
			for i := range out {
				if !out[i].Bars {
					out[i].XMax = end
				}
			}
		}()
		for i, id := range tl.Events {
			c := chart{Title: "Inside " + id + " against capacity", Unit: "sessions"}
			var inside, server, capacity series
			inside = series{Name: "users inside (their own count)", Color: palette[0]}
			server = series{Name: "server active", Color: palette[2]}
			capacity = series{Name: "capacity", Color: palette[1], Dashed: true}
			for _, s := range tl.Samples {
				if i < len(s.Inside) {
					inside.Points = append(inside.Points, [2]float64{x(s), float64(s.Inside[i])})
					server.Points = append(server.Points, [2]float64{x(s), float64(s.ServerActive[i])})
					if s.Capacity[i] > 0 {
						capacity.Points = append(capacity.Points, [2]float64{x(s), float64(s.Capacity[i])})
					}
				}
			}
			c.Series = []series{inside, server}
			if len(capacity.Points) > 0 {
				c.Series = append(c.Series, capacity)
			}
			out = append(out, c)
		}
		waiting := chart{Title: "Waiting", Unit: "users"}
		users := series{Name: "users waiting (their own count)", Color: palette[0]}
		srv := series{Name: "server waiting (charted events)", Color: palette[2]}
		for _, s := range tl.Samples {
			users.Points = append(users.Points, [2]float64{x(s), float64(s.Waiting)})
			var n int64
			for _, v := range s.ServerWaiting {
				n += v
			}
			srv.Points = append(srv.Points, [2]float64{x(s), float64(n)})
		}
		waiting.Series = []series{users, srv}
		out = append(out, waiting)

		rates := chart{Title: "Join and admission rates", Unit: "per second"}
		joins := series{Name: "joins/s", Color: palette[0]}
		admits := series{Name: "admissions/s", Color: palette[2]}
		errs := series{Name: "errors/s", Color: palette[1]}
		for i := 1; i < len(tl.Samples); i++ {
			a, b := tl.Samples[i-1], tl.Samples[i]
			dt := float64(b.At-a.At) / 1000
			if dt <= 0 {
				continue
			}
			joins.Points = append(joins.Points, [2]float64{x(b), float64(b.Joined-a.Joined) / dt})
			admits.Points = append(admits.Points, [2]float64{x(b), float64(b.Admitted-a.Admitted) / dt})
			errs.Points = append(errs.Points, [2]float64{x(b), float64(b.Errors-a.Errors) / dt})
		}
		rates.Series = []series{joins, admits, errs}
		out = append(out, rates)

		for _, name := range []string{EndpointJoin, EndpointStatus, EndpointHeartbeat, EndpointLeave} {
			c := chart{Title: "Latency of " + name, Unit: "ms"}
			for q, label := range []string{"p50", "p90", "p99"} {
				sr := series{Name: label, Color: palette[q]}
				for _, s := range tl.Samples {
					if l, ok := s.Latency[name]; ok {
						sr.Points = append(sr.Points, [2]float64{x(s), float64(l[q])})
					}
				}
				c.Series = append(c.Series, sr)
			}
			if len(c.Series[0].Points) > 0 {
				out = append(out, c)
			}
		}
	}
	if bars := r.admissionBars(); len(bars.Points) > 0 {
		out = append(out, chart{Title: "Time to admission", Unit: "users", Bars: true, XLabel: "seconds from the scheduled join", Series: []series{bars}})
	}
	return out
}

// admissionBars is the distribution of time to admission in 30 bins.
func (r *Report) admissionBars() series {
	s := series{Name: "users admitted after", Color: palette[0]}
	h, err := r.TimeToAdmission.histogram()
	if err != nil || h.TotalCount() == 0 {
		return s
	}
	lo, hi := float64(h.Min())/1e6, float64(h.Max())/1e6
	const bins = 30
	width := max((hi-lo)/bins, 1e-3)
	counts := make([]float64, bins)
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		v := float64(b.From+b.To) / 2 / 1e6
		i := min(int((v-lo)/width), bins-1)
		counts[max(i, 0)] += float64(b.Count)
	}
	for i, c := range counts {
		s.Points = append(s.Points, [2]float64{lo + (float64(i)+0.5)*width, c})
	}
	return s
}

const (
	chartW, chartH             = 640, 240
	padL, padR, padT, padB     = 56, 16, 12, 44
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	gridLines                  = 5
	legendRowHeight, legendGap = 16, 6
)

// svg draws the chart. Its data-points attribute counts the points drawn,
// for the report's browser test.
func (c chart) svg() template.HTML {
	var xmin, xmax, ymax float64 = math.Inf(1), math.Inf(-1), 0
	points := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			xmin, xmax, ymax = min(xmin, p[0]), max(xmax, p[0]), max(ymax, p[1])
			points++
		}
	}
	if points == 0 {
		xmin, xmax = 0, 1
	}
	if !c.Bars {
		xmin = 0 // the start of the run
	}
	if c.XMax > 0 {
		xmax = max(xmax, c.XMax)
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ymax = niceCeil(ymax)
	px := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*plotW }
	py := func(y float64) float64 { return padT + plotH - y/ymax*plotH }

	var b strings.Builder
	legendH := len(c.Series)*legendRowHeight + legendGap
	fmt.Fprintf(&b, `<figure><figcaption>%s</figcaption><svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" data-points="%d" data-series="%d" xmlns="http://www.w3.org/2000/svg">`,
		template.HTMLEscapeString(c.Title), template.HTMLEscapeString(c.Title), chartW, chartH+legendH, points, len(c.Series))
	for i := 0; i <= gridLines; i++ {
		y := ymax * float64(i) / gridLines
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, padL+plotW, py(y), py(y), padL-6, py(y)+4, tick(y))
	}
	for i := 0; i <= 4; i++ {
		x := xmin + (xmax-xmin)*float64(i)/4
		label := tick(x)
		if !c.Bars {
			label = (time.Duration(x * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`, px(x), padT+plotH+16, label)
	}
	xlabel := c.XLabel
	if xlabel == "" {
		xlabel = "time since the start of the run"
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="middle">%s</text>`, padL+plotW/2, padT+plotH+34, template.HTMLEscapeString(xlabel))
	fmt.Fprintf(&b, `<text class="axis" x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`, padT+plotH/2, padT+plotH/2, template.HTMLEscapeString(c.Unit))
	for _, s := range c.Series {
		if c.Bars {
			bw := plotW / float64(max(len(s.Points), 1))
			for _, p := range s.Points {
				fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %g</title></rect>`,
					px(p[0])-bw/2+1, py(p[1]), max(bw-2, 1), padT+plotH-py(p[1]), s.Color, tick(p[0])+"s", p[1])
			}
			continue
		}
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<polyline class="line" fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, s.Color, dash, strings.Join(pts, " "))
	}
	for i, s := range c.Series {
		y := chartH + i*legendRowHeight + legendGap
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text class="legend" x="%d" y="%d">%s</text>`,
			padL, y, s.Color, padL+18, y+10, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String()) // built from numbers and escaped names only
}

// niceCeil rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tick(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e6:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
