package loadgen_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wrctl/wrctl/internal/loadgen"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
	"github.com/wrctl/wrctl/internal/telemetry"
)

func TestSumCounterReadsWhatMetricsServes(t *testing.T) {
	m := telemetry.New()
	q := m.Queue(memqueue.New(memqueue.Config{}))
	ctx := context.Background()
	for i := range 3 {
		if _, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(queue.Body{EventID: "E1", SessionID: strings.Repeat("a", 31) + string(rune('0'+i))})}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Receive(ctx, 10, 0, 0); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sum, found, err := loadgen.SumMetric(rec.Body, loadgen.SQSRequests)
	if err != nil || !found || sum != 4 {
		t.Fatalf("sum = %v, found %v, %v; want the 3 sends and 1 receive", sum, found, err)
	}
	text := "# HELP x\nwrctl_sqs_requests_total_other 9\nwrctl_sqs_requests_total{action=\"send\",outcome=\"ok\"} 2\nwrctl_sqs_requests_total 1.5e+00\n"
	if sum, found, _ := loadgen.SumMetric(strings.NewReader(text), loadgen.SQSRequests); !found || sum != 3.5 {
		t.Fatalf("sum of the text = %v", sum)
	}
}
