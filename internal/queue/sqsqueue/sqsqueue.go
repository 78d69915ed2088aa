// Package sqsqueue is the admission queue on Amazon SQS, or any endpoint that
// speaks its protocol (the local emulator, LocalStack, ElasticMQ).
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wrctl/wrctl/internal/queue"
)

// ClientConfig says where SQS is.
type ClientConfig struct {
	// Region is the AWS region; empty uses the default chain (AWS_REGION,
	// profile), or us-east-1 when an endpoint is set.
	Region string
	// Endpoint overrides the SQS endpoint, e.g. http://127.0.0.1:4566 for an
	// emulator. Empty means the SDK's own choice: AWS_ENDPOINT_URL_SQS or
	// AWS_ENDPOINT_URL when set, else the endpoint QueueURL names when it is
	// not an AWS one, else AWS itself.
	Endpoint string
	// QueueURL, if known, is the queue the client is for.
	QueueURL string
}

// EndpointOf returns the endpoint a queue URL lives on when that is not
// AWS (an emulator's http://sqs.us-east-1.localhost:4566/000000000000/q),
// so a pasted emulator URL is never sent to real AWS.
func EndpointOf(queueURL string) (string, bool) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Host == "" {
		return "", false
	}
	host := u.Hostname()
	if strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn") {
		return "", false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		host = "127.0.0.1"
	}
	if p := u.Port(); p != "" {
		host = net.JoinHostPort(host, p)
	}
	return u.Scheme + "://" + host, true
}

// NewClient builds an SQS client with the default credential chain.
func NewClient(ctx context.Context, cfg ClientConfig) (*sqs.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Endpoint == "" && os.Getenv("AWS_ENDPOINT_URL_SQS") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" {
		if ep, ok := EndpointOf(cfg.QueueURL); ok {
			cfg.Endpoint = ep
		}
	}
	region := cfg.Region
	if region == "" && (cfg.Endpoint != "" || os.Getenv("AWS_ENDPOINT_URL_SQS") != "" || os.Getenv("AWS_ENDPOINT_URL") != "") {
		region = "us-east-1"
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("no AWS region: set --region (aws.region) or AWS_REGION")
	}
	return sqs.NewFromConfig(ac, func(o *sqs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	}), nil
}

// Queue is an SQS queue.
type Queue struct {
	client *sqs.Client
	url    string
	fifo   bool

	redriveMu   sync.Mutex
	redrive     redrive
	redriveRead bool
}

// redrive is the queue's redrive policy, read once.
type redrive struct {
	dlq             *Queue
	maxReceiveCount int
}

var _ queue.Queue = (*Queue)(nil)

// New returns the queue at url. A name ending in .fifo is a FIFO queue.
func New(client *sqs.Client, url string) *Queue {
	return &Queue{client: client, url: url, fifo: strings.HasSuffix(url, ".fifo")}
}

// ResolveURL looks up a queue's URL by name.
func ResolveURL(ctx context.Context, client *sqs.Client, name string) (string, error) {
	out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("get URL of queue %q: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// URL returns the queue's URL.
func (q *Queue) URL() string { return q.url }

// FIFO implements queue.Queue.
func (q *Queue) FIFO() bool { return q.fifo }

// Ping implements queue.Queue.
func (q *Queue) Ping(ctx context.Context) error {
	_, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("reach queue: %w", err)
	}
	return nil
}

// Send implements queue.Queue with one SendMessageBatch.
func (q *Queue) Send(ctx context.Context, msgs []queue.Outgoing) ([]error, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	entries := make([]types.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		e := types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.Body.Encode())}
		if q.fifo {
			e.MessageGroupId = aws.String(m.GroupID)
			e.MessageDeduplicationId = aws.String(m.DedupID)
		}
		entries[i] = e
	}
	out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
	if err != nil {
		return nil, fmt.Errorf("send message batch: %w", err)
	}
	failed := make([]error, len(msgs))
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(msgs) {
			continue
		}
		failed[i] = fmt.Errorf("send message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return failed, nil
}

// Receive implements queue.Queue with one long-polling ReceiveMessage.
func (q *Queue) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]queue.Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         int32(min(max, queue.MaxBatch)),
		WaitTimeSeconds:             int32(min(seconds(wait), 20)),
		VisibilityTimeout:           int32(seconds(visibility)),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameMessageGroupId},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("receive messages: %w", err)
	}
	msgs := make([]queue.Message, len(out.Messages))
	for i, m := range out.Messages {
		raw := aws.ToString(m.Body)
		b, derr := queue.DecodeBody(raw)
		n, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs[i] = queue.Message{
			ID:           aws.ToString(m.MessageId),
			Handle:       aws.ToString(m.ReceiptHandle),
			Body:         b,
			Err:          derr,
			Raw:          raw,
			GroupID:      m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)],
			ReceiveCount: n,
		}
	}
	return msgs, nil
}

// Delete implements queue.Queue with DeleteMessageBatch, MaxBatch at a time.
func (q *Queue) Delete(ctx context.Context, msgs []queue.Message) error {
	for chunk := range chunks(msgs) {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Handle)}
		}
		out, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return fmt.Errorf("delete message batch: %w", err)
		}
		if err := batchErrors("delete message", out.Failed); err != nil {
			return err
		}
	}
	return nil
}

// ChangeVisibility implements queue.Queue with ChangeMessageVisibilityBatch.
func (q *Queue) ChangeVisibility(ctx context.Context, msgs []queue.Message, visibility time.Duration) error {
	for chunk := range chunks(msgs) {
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				ReceiptHandle:     aws.String(m.Handle),
				VisibilityTimeout: int32(seconds(visibility)),
			}
		}
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return fmt.Errorf("change message visibility batch: %w", err)
		}
		if err := batchErrors("change message visibility", out.Failed); err != nil {
			return err
		}
	}
	return nil
}

func batchErrors(op string, failed []types.BatchResultErrorEntry) error {
	var errs []error
	for _, f := range failed {
		errs = append(errs, fmt.Errorf("%s: %s: %s", op, aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	return errors.Join(errs...)
}

func chunks(msgs []queue.Message) func(func([]queue.Message) bool) {
	return func(yield func([]queue.Message) bool) {
		for len(msgs) > 0 {
			n := min(len(msgs), queue.MaxBatch)
			if !yield(msgs[:n]) {
				return
			}
			msgs = msgs[n:]
		}
	}
}

// seconds rounds d up to whole seconds, as SQS counts them.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Depth is a queue's approximate message counts. SQS computes them
// eventually: they settle within about a minute.
type Depth struct {
	Visible  int64 `json:"visible"`
	InFlight int64 `json:"inFlight"`
	Delayed  int64 `json:"delayed"`
}

// Depth returns the queue's approximate message counts.
func (q *Queue) Depth(ctx context.Context) (Depth, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return Depth{}, fmt.Errorf("queue attributes: %w", err)
	}
	n := func(k types.QueueAttributeName) int64 {
		v, _ := strconv.ParseInt(out.Attributes[string(k)], 10, 64)
		return v
	}
	return Depth{
		Visible:  n(types.QueueAttributeNameApproximateNumberOfMessages),
		InFlight: n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		Delayed:  n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
	}, nil
}

// Depths are a queue's and its dead-letter queue's approximate counts.
type Depths struct {
	Queue Depth `json:"queue"`
	// DLQ is nil when the queue has no redrive policy.
	DLQ *Depth `json:"dlq"`
}

// Depths reads the queue's counts and its dead-letter queue's, found
// through the redrive policy.
func (q *Queue) Depths(ctx context.Context) (Depths, error) {
	d, err := q.Depth(ctx)
	if err != nil {
		return Depths{}, err
	}
	out := Depths{Queue: d}
	dlq, err := q.DeadLetterQueue(ctx)
	if err != nil || dlq == nil {
		return out, nil // the depths are there; the DLQ is looked up again next time
	}
	dd, err := dlq.Depth(ctx)
	if err != nil {
		return out, err
	}
	out.DLQ = &dd
	return out, nil
}

// DeadLetterQueue returns the queue its redrive policy names, or nil when it
// has none.
func (q *Queue) DeadLetterQueue(ctx context.Context) (*Queue, error) {
	rp, err := q.redrivePolicy(ctx)
	return rp.dlq, err
}

// MaxReceiveCount implements queue.Queue from the redrive policy.
func (q *Queue) MaxReceiveCount(ctx context.Context) (int, error) {
	rp, err := q.redrivePolicy(ctx)
	return rp.maxReceiveCount, err
}

// ReceiveDead implements queue.Queue on the redrive policy's queue.
func (q *Queue) ReceiveDead(ctx context.Context, max int, visibility time.Duration) ([]queue.Message, error) {
	rp, err := q.redrivePolicy(ctx)
	if err != nil || rp.dlq == nil {
		return nil, err
	}
	return rp.dlq.Receive(ctx, max, 0, visibility)
}

// DeleteDead implements queue.Queue.
func (q *Queue) DeleteDead(ctx context.Context, msgs []queue.Message) error {
	rp, err := q.redrivePolicy(ctx)
	if err != nil || rp.dlq == nil {
		return err
	}
	return rp.dlq.Delete(ctx, msgs)
}

// DeadLetter implements queue.Queue: it sends the bodies as received to
// the dead-letter queue, then deletes them here.
func (q *Queue) DeadLetter(ctx context.Context, msgs []queue.Message) error {
	rp, err := q.redrivePolicy(ctx)
	if err != nil {
		return err
	}
	if rp.dlq != nil {
		for chunk := range chunks(msgs) {
			entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
			for i, m := range chunk {
				e := types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.Raw)}
				if rp.dlq.fifo {
					// A group of their own: they never hold back the
					// wake-ups the granters bring back from there.
					e.MessageGroupId = aws.String("undecodable")
					e.MessageDeduplicationId = aws.String(m.ID)
				}
				entries[i] = e
			}
			out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(rp.dlq.url), Entries: entries})
			if err != nil {
				return fmt.Errorf("send to dead-letter queue: %w", err)
			}
			if err := batchErrors("send to dead-letter queue", out.Failed); err != nil {
				return err
			}
		}
	}
	return q.Delete(ctx, msgs)
}

func (q *Queue) redrivePolicy(ctx context.Context) (redrive, error) {
	q.redriveMu.Lock()
	defer q.redriveMu.Unlock()
	if !q.redriveRead {
		rp, err := q.readRedrive(ctx)
		if err != nil {
			return redrive{}, err // read again next time
		}
		q.redrive, q.redriveRead = rp, true
	}
	return q.redrive, nil
}

func (q *Queue) readRedrive(ctx context.Context) (redrive, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return redrive{}, fmt.Errorf("queue attributes: %w", err)
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return redrive{}, nil
	}
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"` // a number, or a string of one
	}
	if err := json.Unmarshal([]byte(raw), &rp); err != nil {
		return redrive{}, fmt.Errorf("redrive policy %q: %w", raw, err)
	}
	n, _ := strconv.Atoi(fmt.Sprint(rp.MaxReceiveCount))
	// arn:aws:sqs:REGION:ACCOUNT:NAME
	parts := strings.Split(rp.DeadLetterTargetArn, ":")
	if len(parts) != 6 {
		return redrive{}, fmt.Errorf("dead-letter queue ARN %q", rp.DeadLetterTargetArn)
	}
	u, err := q.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return redrive{}, fmt.Errorf("dead-letter queue %s: %w", parts[5], err)
	}
	return redrive{dlq: New(q.client, aws.ToString(u.QueueUrl)), maxReceiveCount: n}, nil
}
