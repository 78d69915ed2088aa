package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
)

func newQueueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Manage the SQS admission queue",
		Long: `Manage the SQS admission queue that 'wrctl serve --queue sqs' admits from.

The queue is a FIFO queue whose message groups are events, so each event's
line keeps its join order, with a dead-letter queue for messages that cannot
be processed.`,
		Example: `  wrctl queue create --name wrctl-waiting.fifo`,
	}
	cmd.AddCommand(newQueueCreateCmd())
	return cmd
}

func newQueueCreateCmd() *cobra.Command {
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
			v, err := newViper(cmd)
			if err != nil {
				return err
			}
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			opts := sqsqueue.CreateOptions{
				Name:              v.GetString("queue.name"),
				FIFO:              v.GetBool("queue.fifo"),
				DLQName:           v.GetString("queue.dlqName"),
				MaxReceiveCount:   v.GetInt("queue.maxReceiveCount"),
				VisibilityTimeout: v.GetDuration("queue.visibilityTimeout"),
				Retention:         v.GetDuration("queue.retention"),
				HighThroughput:    v.GetBool("queue.highThroughput"),
			}
			if opts.Name == "" {
				return usagef("--name is required (e.g. --name wrctl-waiting.fifo)")
			}
			if err := opts.Validate(); err != nil {
				return usageError{err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			client, err := sqsqueue.NewClient(ctx, sqsqueue.ClientConfig{Region: v.GetString("aws.region"), Endpoint: v.GetString("aws.endpoint")})
			if err != nil {
				return err
			}
			created, err := sqsqueue.Create(ctx, client, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				return json.NewEncoder(w).Encode(created)
			}
			_, err = fmt.Fprintln(w, created.URL)
			return err
		},
	}
	f := cmd.Flags()
	f.String("name", "", "queue name; a FIFO queue's ends in .fifo (required)")
	f.Bool("fifo", true, "create a FIFO queue (one message group per event); false: a standard queue")
	f.String("dlq-name", "", "dead-letter queue name (default: NAME-dlq.fifo)")
	f.Int("max-receive-count", 10, "receives before a message moves to the dead-letter queue (2..1000; serve re-sends held messages before it)")
	f.Duration("visibility-timeout", 30*time.Second, "the queue's default visibility timeout")
	f.Duration("retention", 96*time.Hour, "how long a message may wait in the queue (1m..336h)")
	f.Bool("high-throughput", true, "FIFO high throughput: deduplication and throughput limits per event")
	f.String("region", "", "AWS region (default: the AWS default chain)")
	f.String("sqs-endpoint", "", "SQS endpoint URL, e.g. http://127.0.0.1:4566")
	outputFlag(f)
	return cmd
}
