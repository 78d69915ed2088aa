package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/printer"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
)

func newQueueCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Manage the SQS admission queue",
		Long: `Manage the SQS admission queue that 'wrctl serve --queue sqs' admits from.

The queue is a FIFO queue whose message groups are events, so each event's
line keeps its join order, with a dead-letter queue for messages that cannot
be processed.`,
		Example: `  wrctl queue create --name wrctl-waiting.fifo`,
	}
	cmd.AddCommand(newQueueCreateCmd(f, nil))
	return cmd
}

// awsOptions are the flags of the commands that call SQS themselves.
type awsOptions struct {
	Region, Endpoint string
}

func (o *awsOptions) bind(cmd *cobra.Command) {
	g := flags{cmd: cmd}
	g.bind(&o.Region, "region", "aws.region", "", "AWS region (default: the AWS default chain, e.g. AWS_REGION)")
	g.bind(&o.Endpoint, "sqs-endpoint", "aws.endpoint", "", "SQS endpoint URL, e.g. http://127.0.0.1:4566 (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, then AWS)")
}

func (o awsOptions) clientConfig(queueURL string) sqsqueue.ClientConfig {
	return sqsqueue.ClientConfig{Region: o.Region, Endpoint: o.Endpoint, QueueURL: queueURL}
}

// createOptions are queue create's input.
type createOptions struct {
	sqsqueue.CreateOptions
	IO     *factory
	AWS    awsOptions
	Format string
}

func newQueueCreateCmd(f *factory, runF func(context.Context, *createOptions) error) *cobra.Command {
	o := &createOptions{IO: f}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create the FIFO admission queue and its dead-letter queue",
		Long: `Create the admission queue and a dead-letter queue with a redrive policy.

Idempotent: running it again with the same name is safe, and brings the
queues' attributes to the flags given. Prints the queue URL (--output json
prints the URLs and ARNs of both queues).

The default is a FIFO queue (the name must end in .fifo); --fifo=false makes a
standard queue, for raw throughput. Admission follows join tickets either way:
the store, not the queue, decides who is next. The granters send a held
message again before it reaches --max-receive-count (2..1000), and bring back
from the dead-letter queue any wake-up that still has someone waiting (the
dead-letter queue must stay readable by serve); each such re-send
costs a send and a delete, so a higher count means fewer of them (on a
standard queue, where waiting messages of a full event are received again and
again, prefer 100 or more).

IAM permissions needed: sqs:CreateQueue, sqs:GetQueueUrl,
sqs:GetQueueAttributes, sqs:SetQueueAttributes.`,
		Example: `  wrctl queue create --name wrctl-waiting.fifo
  wrctl queue create --name wrctl-waiting.fifo --max-receive-count 10 --retention 96h --output json
  wrctl queue create --name wrctl-waiting.fifo --sqs-endpoint http://127.0.0.1:4566`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Format, err = outputFormat(cmd); err != nil {
				return err
			}
			if o.Name == "" {
				return usagef("--name is required (e.g. --name wrctl-waiting.fifo)")
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			return runOr(runF, createRun)(cmd.Context(), o)
		},
	}
	g := flags{cmd: cmd}
	g.bind(&o.Name, "name", "queue.name", "", "queue name; a FIFO queue's ends in .fifo (required)")
	g.bind(&o.FIFO, "fifo", "queue.fifo", "true", "create a FIFO queue (one message group per event); false: a standard queue")
	g.bind(&o.DLQName, "dlq-name", "queue.dlqName", "", "dead-letter queue name (default: NAME-dlq.fifo)")
	g.bind(&o.MaxReceiveCount, "max-receive-count", "queue.maxReceiveCount", "10", "receives before a message moves to the dead-letter queue (2..1000; serve re-sends held messages before it)")
	g.bind(&o.VisibilityTimeout, "visibility-timeout", "queue.visibilityTimeout", "30s", "the queue's default visibility timeout")
	g.bind(&o.Retention, "retention", "queue.retention", "96h", "how long a message may wait in the queue (1m..336h)")
	g.bind(&o.HighThroughput, "high-throughput", "queue.highThroughput", "true", "FIFO high throughput: deduplication and throughput limits per event")
	o.AWS.bind(cmd)
	outputFlag(cmd.Flags())
	return cmd
}

// createRun creates the queues, or brings them to the options.
func createRun(ctx context.Context, o *createOptions) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	client, err := sqsqueue.NewClient(ctx, o.AWS.clientConfig(""))
	if err != nil {
		return err
	}
	created, err := sqsqueue.Create(ctx, client, o.CreateOptions)
	if err != nil {
		return err
	}
	if o.Format == printer.JSON {
		return json.NewEncoder(o.IO.Out).Encode(created)
	}
	_, err = fmt.Fprintln(o.IO.Out, created.URL)
	return err
}
