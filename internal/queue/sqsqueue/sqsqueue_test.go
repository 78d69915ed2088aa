package sqsqueue_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/queuetest"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/sqstest"
)

var emu *sqstest.Emulator

func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, &emu)) }

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Queue {
		return sqsqueue.New(emu.Client(), emu.NewQueue(t, true, nil))
	})
}

var redriveSeq atomic.Int64

func TestDeadLetterConformance(t *testing.T) {
	t.Parallel()
	queuetest.RunDeadLetter(t, func(t *testing.T, maxReceive int) queue.Queue {
		c, err := sqsqueue.Create(context.Background(), emu.Client(), sqsqueue.CreateOptions{
			Name: fmt.Sprintf("redrive-%d-%d.fifo", os.Getpid(), redriveSeq.Add(1)), FIFO: true,
			MaxReceiveCount: maxReceive, VisibilityTimeout: 30 * time.Second, Retention: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		return sqsqueue.New(emu.Client(), c.URL)
	})
}
