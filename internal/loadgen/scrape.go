package loadgen

import (
	"io"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// SQSRequests is the counter of queue calls a replica has made.
const SQSRequests = "wrctl_sqs_requests_total"

// SumMetric adds up every series of the counter or gauge name in a
// Prometheus text exposition (what GET /metrics answers), and says whether
// it found any.
func SumMetric(r io.Reader, name string) (sum float64, found bool, err error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return 0, false, err
	}
	mf, ok := families[name]
	if !ok {
		return 0, false, nil
	}
	for _, m := range mf.GetMetric() {
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, len(mf.GetMetric()) > 0, nil
}
