package sqsqueue_test

import (
	"os"
	"testing"

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
