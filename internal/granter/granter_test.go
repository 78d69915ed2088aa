package granter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/memstore"
	"github.com/wrctl/wrctl/internal/sqstest"
)

var emu *sqstest.Emulator

func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, &emu)) }

var backends = []string{"memory", "sqs"}

func newQueue(t *testing.T, backend string) queue.Queue {
	t.Helper()
	if backend == "memory" {
		return memqueue.New(memqueue.Config{})
	}
	return sqsqueue.New(emu.Client(), emu.NewQueue(t, true, nil))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func policies(capacity int) room.StaticPolicies {
	return room.StaticPolicies{Default: room.Policy{Capacity: capacity, HeartbeatTTL: time.Minute, WaitingTTL: time.Hour, MaxActive: time.Hour}}
}

// join puts a session in the store and its message on the queue, as the server does.
func join(t *testing.T, st room.Store, q queue.Queue, event, user string) room.Session {
	t.Helper()
	ctx := context.Background()
	s, _, err := st.Join(ctx, event, user, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	failed, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(queue.Body{V: queue.BodyVersion, SessionID: s.ID, EventID: event, Seq: s.Seq})})
	if err != nil || failed[0] != nil {
		t.Fatalf("send: %v %v", err, failed)
	}
	if err := st.MarkEnqueued(ctx, event, s.ID); err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts a granter and returns a function that stops it and waits.
func run(t *testing.T, g *granter.Granter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func status(t *testing.T, st room.Store, id string) room.Status {
	t.Helper()
	s, err := st.Get(context.Background(), id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s.Status
}

// crashingQueue is a granter's view of the queue that dies at one precise
// moment: after the store recorded an admission, before the delete. A real
// crash cannot be timed that finely, so this is the one fake.
type crashingQueue struct {
	queue.Queue
	crash   func()
	crashed chan struct{}
	once    sync.Once
}

func (c *crashingQueue) Delete(context.Context, []queue.Message) error {
	c.once.Do(func() { c.crash(); close(c.crashed) })
	return errors.New("process killed")
}

func (c *crashingQueue) ChangeVisibility(context.Context, []queue.Message, time.Duration) error {
	return errors.New("process killed") // a dead process releases nothing
}

func TestGranterKilledBetweenAdmitAndDeleteAdmitsNoOneTwice(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := memstore.New(policies(1))
			t.Cleanup(func() { st.Close() })
			q := newQueue(t, backend)
			a := join(t, st, q, "E1", "A")
			b := join(t, st, q, "E1", "B")

			cfg := granter.Config{Visibility: 2 * time.Second, Wait: time.Second}
			ctx, kill := context.WithCancel(context.Background())
			cq := &crashingQueue{Queue: q, crash: kill, crashed: make(chan struct{})}
			first := granter.New(cfg, cq, st, quiet)
			firstDone := make(chan struct{})
			go func() { defer close(firstDone); first.Run(ctx) }()
			<-cq.crashed
			<-firstDone
			if status(t, st, a.ID) != room.StatusActive {
				t.Fatal("A was not admitted before the crash")
			}

			var mu sync.Mutex
			var decisions []granter.Decision
			second := granter.New(cfg, q, st, quiet)
			second.Observe = func(d granter.Decision) {
				mu.Lock()
				decisions = append(decisions, d)
				mu.Unlock()
			}
			run(t, second)
			// A's message reappears after its visibility timeout; the store
			// answers that A is already active and the message goes.
			eventually(t, 20*time.Second, "A's redelivered message decided", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(decisions) > 0
			})
			mu.Lock()
			d := decisions[0]
			mu.Unlock()
			if d.Outcome != room.AlreadyActive || d.Session.ID != a.ID {
				t.Fatalf("first decision after the crash = %v for %s, want already_active for A", d.Outcome, d.Session.ID)
			}
			stats, _ := st.Stats(context.Background(), "E1", time.Now())
			if stats.Admitted != 1 || stats.Active != 1 {
				t.Fatalf("stats = %+v, want one admission", stats)
			}
			if _, err := st.Leave(context.Background(), a.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "B admitted after A left", func() bool { return status(t, st, b.ID) == room.StatusActive })
		})
	}
}

func TestShutdownReleasesHeldMessagesToAnotherGranter(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := memstore.New(policies(1))
			t.Cleanup(func() { st.Close() })
			q := newQueue(t, backend)
			a := join(t, st, q, "E1", "A")
			b := join(t, st, q, "E1", "B")
			// A visibility timeout far longer than the test: only the release
			// on shutdown can hand B's message over in time.
			cfg := granter.Config{Visibility: 10 * time.Minute, Wait: time.Second}
			var held sync.WaitGroup
			held.Add(1)
			first := granter.New(cfg, q, st, quiet)
			var once sync.Once
			first.Observe = func(d granter.Decision) {
				if d.Session.ID == a.ID {
					once.Do(held.Done)
				}
			}
			stopFirst := run(t, first)
			held.Wait()
			// The first granter now holds B's message (E1 is full).
			eventually(t, 10*time.Second, "B's message held", func() bool { return first.Held() == 1 })
			stopFirst()
			run(t, granter.New(cfg, q, st, quiet))
			if _, err := st.Leave(context.Background(), a.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "B admitted by the second granter", func() bool { return status(t, st, b.ID) == room.StatusActive })
		})
	}
}

func TestMessagesTakenTogetherAreAdmittedByTicket(t *testing.T) {
	t.Parallel()
	st := memstore.New(policies(10))
	t.Cleanup(func() { st.Close() })
	q := memqueue.New(memqueue.Config{})
	ctx := context.Background()
	var sessions []room.Session
	for _, u := range []string{"a", "b", "c"} {
		s, _, err := st.Join(ctx, "E1", u, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	// The queue holds them against ticket order, as joins taken on two
	// replicas at the same moment can arrive.
	var out []queue.Outgoing
	for _, i := range []int{2, 0, 1} {
		s := sessions[i]
		out = append(out, queue.OutgoingFor(queue.Body{V: queue.BodyVersion, SessionID: s.ID, EventID: "E1", Seq: s.Seq}))
	}
	if _, err := q.Send(ctx, out); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int64
	g := granter.New(granter.Config{Wait: time.Second}, q, st, quiet)
	g.Observe = func(d granter.Decision) {
		mu.Lock()
		order = append(order, d.Session.Seq)
		mu.Unlock()
	}
	run(t, g)
	eventually(t, 10*time.Second, "all admitted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 3
	})
	if order[0] != 1 || order[1] != 2 || order[2] != 3 {
		t.Fatalf("admitted tickets in order %v, want [1 2 3]", order)
	}
}
