package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// CreateOptions describes an admission queue and its dead-letter queue.
type CreateOptions struct {
	// Name of the queue; a FIFO queue's name ends in .fifo.
	Name string
	// FIFO creates a FIFO queue (the default and the one that keeps join order).
	FIFO bool
	// DLQName names the dead-letter queue; empty derives NAME-dlq(.fifo).
	DLQName string
	// MaxReceiveCount moves a message to the DLQ after this many receives.
	MaxReceiveCount int
	// VisibilityTimeout is the queue's default visibility timeout.
	VisibilityTimeout time.Duration
	// Retention is how long a message may wait in the queue.
	Retention time.Duration
	// HighThroughput turns on FIFO high throughput (deduplication and
	// throughput limits per message group, i.e. per event).
	HighThroughput bool
}

// DLQRetention keeps dead letters as long as SQS allows, so they outlive the
// messages they came from.
const DLQRetention = 14 * 24 * time.Hour

// DefaultDLQName is the dead-letter queue's name for a queue name.
func DefaultDLQName(name string) string {
	if base, ok := strings.CutSuffix(name, ".fifo"); ok {
		return base + "-dlq.fifo"
	}
	return name + "-dlq"
}

// Validate reports the first option SQS would refuse.
func (o CreateOptions) Validate() error {
	switch {
	case o.Name == "":
		return errors.New("queue name is empty")
	case o.FIFO && !strings.HasSuffix(o.Name, ".fifo"):
		return fmt.Errorf("FIFO queue name %q must end in .fifo", o.Name)
	case !o.FIFO && strings.HasSuffix(o.Name, ".fifo"):
		return fmt.Errorf("standard queue name %q must not end in .fifo", o.Name)
	case len(strings.TrimSuffix(o.Name, ".fifo")) > 75:
		return fmt.Errorf("queue name %q is too long for SQS (80 characters with .fifo)", o.Name)
	case o.MaxReceiveCount < 2 || o.MaxReceiveCount > 1000:
		// At 1 every held message would have to be sent again at once.
		return fmt.Errorf("max receive count must be 2..1000, got %d", o.MaxReceiveCount)
	case o.VisibilityTimeout < 0 || o.VisibilityTimeout > 12*time.Hour:
		return fmt.Errorf("visibility timeout must be 0s..12h, got %s", o.VisibilityTimeout)
	case o.Retention < time.Minute || o.Retention > 14*24*time.Hour:
		return fmt.Errorf("retention must be 1m..336h (14 days), got %s", o.Retention)
	}
	for _, c := range strings.TrimSuffix(o.Name, ".fifo") {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("queue name %q: only letters, digits, - and _ are allowed", o.Name)
		}
	}
	return nil
}

// Created is what Create made or found.
type Created struct {
	URL    string `json:"queueUrl"`
	ARN    string `json:"queueArn"`
	DLQURL string `json:"dlqUrl"`
	DLQARN string `json:"dlqArn"`
	FIFO   bool   `json:"fifo"`
}

// Create makes the queue and its dead-letter queue with a redrive policy, or
// brings existing ones to the options given: running it twice is safe.
func Create(ctx context.Context, client *sqs.Client, o CreateOptions) (Created, error) {
	if err := o.Validate(); err != nil {
		return Created{}, err
	}
	dlqName := o.DLQName
	if dlqName == "" {
		dlqName = DefaultDLQName(o.Name)
	}
	dlqAttrs := map[string]string{
		string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(DLQRetention / time.Second)),
	}
	if o.FIFO {
		dlqAttrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	dlqURL, err := ensure(ctx, client, dlqName, dlqAttrs)
	if err != nil {
		return Created{}, err
	}
	dlqARN, err := arn(ctx, client, dlqURL)
	if err != nil {
		return Created{}, err
	}
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlqARN, "maxReceiveCount": strconv.Itoa(o.MaxReceiveCount)})
	attrs := map[string]string{
		string(types.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(seconds(o.VisibilityTimeout)),
		string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(seconds(o.Retention)),
		string(types.QueueAttributeNameRedrivePolicy):          string(redrive),
	}
	if o.FIFO {
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
		attrs[string(types.QueueAttributeNameContentBasedDeduplication)] = "false"
		if o.HighThroughput {
			attrs[string(types.QueueAttributeNameDeduplicationScope)] = "messageGroup"
			attrs[string(types.QueueAttributeNameFifoThroughputLimit)] = "perMessageGroupId"
		}
	}
	url, err := ensure(ctx, client, o.Name, attrs)
	if err != nil {
		return Created{}, err
	}
	qARN, err := arn(ctx, client, url)
	if err != nil {
		return Created{}, err
	}
	return Created{URL: url, ARN: qARN, DLQURL: dlqURL, DLQARN: dlqARN, FIFO: o.FIFO}, nil
}

// ensure creates a queue, or, when one of that name exists with other
// attributes, sets the ones that differ (FifoQueue excepted: SQS fixes it at
// birth).
func ensure(ctx context.Context, client *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) {
		return "", fmt.Errorf("create queue %q: %w", name, err)
	}
	url, err := ResolveURL(ctx, client, name)
	if err != nil {
		return "", err
	}
	cur, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		return "", fmt.Errorf("get attributes of queue %q: %w", name, err)
	}
	if want, have := attrs[string(types.QueueAttributeNameFifoQueue)] == "true", cur.Attributes[string(types.QueueAttributeNameFifoQueue)] == "true"; want != have {
		return "", fmt.Errorf("queue %q exists and FifoQueue is %v: SQS cannot change that; pick another name", name, have)
	}
	changed := map[string]string{}
	for k, v := range attrs {
		if k != string(types.QueueAttributeNameFifoQueue) && !sameAttribute(k, v, cur.Attributes[k]) {
			changed[k] = v
		}
	}
	if len(changed) == 0 {
		return url, nil
	}
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: changed}); err != nil {
		return "", fmt.Errorf("update attributes of queue %q: %w", name, err)
	}
	return url, nil
}

// sameAttribute compares attribute values, the redrive policy as JSON
// (SQS may write its count as a number or a string).
func sameAttribute(key, want, have string) bool {
	if key != string(types.QueueAttributeNameRedrivePolicy) {
		return want == have
	}
	type policy struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	var a, b policy
	if json.Unmarshal([]byte(want), &a) != nil || json.Unmarshal([]byte(have), &b) != nil {
		return false
	}
	return a.DeadLetterTargetArn == b.DeadLetterTargetArn &&
		strings.Trim(string(a.MaxReceiveCount), `"`) == strings.Trim(string(b.MaxReceiveCount), `"`)
}

func arn(ctx context.Context, client *sqs.Client, url string) (string, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get ARN of %s: %w", url, err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}
