package sqsqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
)

var names atomic.Int64

func createOptions(name string) sqsqueue.CreateOptions {
	return sqsqueue.CreateOptions{Name: name, FIFO: true, MaxReceiveCount: 2, VisibilityTimeout: 30 * time.Second, Retention: 96 * time.Hour, HighThroughput: true}
}

func attributes(t *testing.T, url string) map[string]string {
	t.Helper()
	out, err := emu.Client().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes
}

func TestCreateIsIdempotentAndSetsRedrive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name := fmt.Sprintf("create-%d-%d.fifo", os.Getpid(), names.Add(1))
	first, err := sqsqueue.Create(ctx, emu.Client(), createOptions(name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(first.URL, "/"+name) || !strings.HasSuffix(first.DLQURL, "-dlq.fifo") || first.DLQARN == "" {
		t.Fatalf("created = %+v", first)
	}
	a := attributes(t, first.URL)
	var redrive struct {
		DeadLetterTargetArn string
		MaxReceiveCount     json.Number
	}
	if err := json.Unmarshal([]byte(a["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("redrive policy %q: %v", a["RedrivePolicy"], err)
	}
	if redrive.DeadLetterTargetArn != first.DLQARN || redrive.MaxReceiveCount.String() != "2" {
		t.Fatalf("redrive = %+v, want DLQ %s after 2 receives", redrive, first.DLQARN)
	}
	if a["FifoQueue"] != "true" || a["VisibilityTimeout"] != "30" || a["MessageRetentionPeriod"] != "345600" {
		t.Fatalf("attributes = %v", a)
	}
	if attributes(t, first.DLQURL)["FifoQueue"] != "true" {
		t.Fatal("DLQ of a FIFO queue is not FIFO")
	}

	again, err := sqsqueue.Create(ctx, emu.Client(), createOptions(name))
	if err != nil || again != first {
		t.Fatalf("second create = %+v, %v; want %+v", again, err, first)
	}
	changed := createOptions(name)
	changed.MaxReceiveCount = 7
	changed.VisibilityTimeout = 45 * time.Second
	if _, err := sqsqueue.Create(ctx, emu.Client(), changed); err != nil {
		t.Fatalf("create with other attributes: %v", err)
	}
	a = attributes(t, first.URL)
	if a["VisibilityTimeout"] != "45" || !strings.Contains(a["RedrivePolicy"], "7") {
		t.Fatalf("attributes not brought to the new options: %v", a)
	}
}

func TestPoisonMessageMovesToTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	created, err := sqsqueue.Create(ctx, emu.Client(), createOptions(fmt.Sprintf("poison-%d-%d.fifo", os.Getpid(), names.Add(1))))
	if err != nil {
		t.Fatal(err)
	}
	q := sqsqueue.New(emu.Client(), created.URL)
	b := queue.Body{V: queue.BodyVersion, SessionID: "s1", EventID: "E1", Seq: 1}
	if _, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(b)}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // received and never deleted, as an undecodable message is
		got, err := q.Receive(ctx, 1, 5*time.Second, time.Minute)
		if err != nil || len(got) != 1 {
			t.Fatalf("receive %d = %v, %v", i, got, err)
		}
		if err := q.ChangeVisibility(ctx, got, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(got) != 0 {
		t.Fatalf("third receive = %v, %v; want the message gone to the DLQ", got, err)
	}
	dead, err := sqsqueue.New(emu.Client(), created.DLQURL).Receive(ctx, 1, 5*time.Second, time.Minute)
	if err != nil || len(dead) != 1 || dead[0].Body != b {
		t.Fatalf("DLQ holds %v, %v; want the message", dead, err)
	}
}

func TestCreateOptionsValidate(t *testing.T) {
	t.Parallel()
	base := createOptions("ok.fifo")
	cases := []struct {
		name string
		edit func(*sqsqueue.CreateOptions)
	}{
		{"empty name", func(o *sqsqueue.CreateOptions) { o.Name = "" }},
		{"FIFO without suffix", func(o *sqsqueue.CreateOptions) { o.Name = "plain" }},
		{"standard with suffix", func(o *sqsqueue.CreateOptions) { o.FIFO = false }},
		{"bad character", func(o *sqsqueue.CreateOptions) { o.Name = "a b.fifo" }},
		{"too long", func(o *sqsqueue.CreateOptions) { o.Name = strings.Repeat("a", 76) + ".fifo" }},
		{"zero receive count", func(o *sqsqueue.CreateOptions) { o.MaxReceiveCount = 0 }},
		{"retention too short", func(o *sqsqueue.CreateOptions) { o.Retention = time.Second }},
		{"visibility too long", func(o *sqsqueue.CreateOptions) { o.VisibilityTimeout = 13 * time.Hour }},
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			if err := o.Validate(); err == nil {
				t.Fatalf("%+v accepted", o)
			}
		})
	}
}

func TestStandardQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := sqsqueue.New(emu.Client(), emu.NewQueue(t, false, nil))
	if q.FIFO() {
		t.Fatal("standard queue reports FIFO")
	}
	b := queue.Body{V: queue.BodyVersion, SessionID: "s1", EventID: "E1", Seq: 1}
	if failed, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(b)}); err != nil || failed[0] != nil {
		t.Fatalf("send: %v %v", err, failed)
	}
	got, err := q.Receive(ctx, 10, 5*time.Second, time.Minute)
	if err != nil || len(got) != 1 || got[0].Body != b {
		t.Fatalf("receive = %v, %v", got, err)
	}
	if err := q.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
}

func TestDepthAndDeadLetterQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	created, err := sqsqueue.Create(ctx, emu.Client(), createOptions(fmt.Sprintf("depth-%d-%d.fifo", os.Getpid(), names.Add(1))))
	if err != nil {
		t.Fatal(err)
	}
	q := sqsqueue.New(emu.Client(), created.URL)
	for i := range 3 {
		b := queue.Body{V: queue.BodyVersion, SessionID: fmt.Sprint("s", i), EventID: fmt.Sprint("E", i), Seq: 1}
		if _, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(b)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.Receive(ctx, 1, 5*time.Second, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("receive: %v %v", got, err)
	}
	d, err := q.Depth(ctx)
	if err != nil || d.Visible != 2 || d.InFlight != 1 {
		t.Fatalf("depth = %+v, %v; want 2 visible, 1 in flight", d, err)
	}
	dlq, err := q.DeadLetterQueue(ctx)
	if err != nil || dlq == nil || dlq.URL() != created.DLQURL {
		t.Fatalf("dead-letter queue = %v, %v; want %s", dlq, err, created.DLQURL)
	}
	none, err := dlq.DeadLetterQueue(ctx)
	if err != nil || none != nil {
		t.Fatalf("the DLQ's own DLQ = %v, %v; want none", none, err)
	}
}
