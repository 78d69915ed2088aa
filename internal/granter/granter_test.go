package granter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/await"
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
	return room.StaticPolicies{Default: room.Policy{Capacity: capacity, HeartbeatTTL: time.Minute, WaitingTTL: time.Hour, MaxActive: time.Hour, QueueAll: true}}
}

// join puts a session in the store and its message on the queue, as the server does.
func join(t *testing.T, st room.Store, q queue.Queue, event, user string) room.Session {
	t.Helper()
	ctx := context.Background()
	s, _, err := st.Join(ctx, room.JoinRequest{EventID: event, UserID: user})
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

func status(t *testing.T, st room.Store, id string) room.Status {
	t.Helper()
	s, err := st.Get(context.Background(), id)
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
			st := memstore.New(memstore.Config{}, policies(1))
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

			second := granter.New(cfg, q, st, quiet)
			run(t, second)
			// A's message reappears after its visibility timeout: it is a
			// wake-up for E1, which is full, so it is held and nobody else
			// is admitted.
			await.Until(t, 20*time.Second, "a redelivered message held", func() bool { return second.Held() >= 1 })
			stats, _ := st.Stats(context.Background(), "E1")
			if stats.Admitted != 1 || stats.Active != 1 {
				t.Fatalf("stats = %+v, want one admission", stats)
			}
			if _, err := st.Leave(context.Background(), a.ID); err != nil {
				t.Fatal(err)
			}
			await.Until(t, 10*time.Second, "B admitted after A left", func() bool { return status(t, st, b.ID) == room.StatusActive })
			// The spare message finds nobody waiting and goes.
			await.Until(t, 10*time.Second, "no message held", func() bool { return second.Held() == 0 })
			if stats, _ := st.Stats(context.Background(), "E1"); stats.Admitted != 2 {
				t.Fatalf("stats = %+v, want two admissions", stats)
			}
		})
	}
}

func TestShutdownReleasesHeldMessagesToAnotherGranter(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := memstore.New(memstore.Config{}, policies(1))
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
			await.Until(t, 10*time.Second, "B's message held", func() bool { return first.Held() == 1 })
			stopFirst()
			run(t, granter.New(cfg, q, st, quiet))
			if _, err := st.Leave(context.Background(), a.ID); err != nil {
				t.Fatal(err)
			}
			await.Until(t, 20*time.Second, "B admitted by the second granter", func() bool { return status(t, st, b.ID) == room.StatusActive })
		})
	}
}

func TestAdmissionFollowsTicketsNotMessageOrder(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Config{}, policies(1))
	t.Cleanup(func() { st.Close() })
	q := memqueue.New(memqueue.Config{})
	ctx := context.Background()
	var sessions []room.Session
	for _, u := range []string{"a", "b", "c", "d"} {
		s, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: u})
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	// The queue holds them against ticket order, as joins taken on several
	// replicas at the same moment can arrive; one message a request, so no
	// batch puts them back in order by chance.
	for _, i := range []int{3, 1, 0, 2} {
		s := sessions[i]
		if _, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(queue.Body{V: queue.BodyVersion, SessionID: s.ID, EventID: "E1", Seq: s.Seq})}); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkEnqueued(ctx, "E1", s.ID); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var order []int64
	g := granter.New(granter.Config{Wait: time.Second}, q, st, quiet)
	g.Observe = func(d granter.Decision) {
		if d.Outcome == room.Admitted {
			mu.Lock()
			order = append(order, d.Session.Seq)
			mu.Unlock()
		}
	}
	run(t, g)
	admitted := func() int { mu.Lock(); defer mu.Unlock(); return len(order) }
	for n := 1; n <= len(sessions); n++ {
		await.Until(t, 10*time.Second, "next admission", func() bool { return admitted() == n })
		mu.Lock()
		last := order[n-1]
		mu.Unlock()
		if _, err := st.Leave(ctx, sessions[last-1].ID); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(order) != "[1 2 3 4]" {
		t.Fatalf("admitted tickets in order %v, want [1 2 3 4]", order)
	}
	await.Until(t, 10*time.Second, "every message spent", func() bool { return g.Held() == 0 && q.Len() == 0 })
}

// deadProcessQueue is a granter's view of the queue when its process is
// killed: nothing it held is released, so it reappears only after its
// visibility timeout, one receive count older.
type deadProcessQueue struct{ queue.Queue }

func (deadProcessQueue) ChangeVisibility(context.Context, []queue.Message, time.Duration) error {
	return errors.New("process killed")
}

func TestHeldMessageNeverReachesTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Config{}, policies(1))
	t.Cleanup(func() { st.Close() })
	q := memqueue.New(memqueue.Config{MaxReceiveCount: 2})
	a := join(t, st, q, "E1", "A")
	b := join(t, st, q, "E1", "B")
	cfg := granter.Config{Visibility: 2 * time.Second, Wait: time.Second}
	// The replica holding B's message (the head of a full event) is killed
	// three times, each after taking the message once more.
	for round := range 3 {
		g := granter.New(cfg, deadProcessQueue{q}, st, quiet)
		stop := run(t, g)
		await.Until(t, 20*time.Second, fmt.Sprintf("round %d: B's message held", round), func() bool { return g.Held() == 1 })
		stop()
		if status(t, st, a.ID) != room.StatusActive || status(t, st, b.ID) != room.StatusWaiting {
			t.Fatal("A must stay active and B waiting")
		}
	}
	g := granter.New(cfg, q, st, quiet)
	run(t, g)
	if _, err := st.Leave(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	await.Until(t, 20*time.Second, "B admitted once A left", func() bool { return status(t, st, b.ID) == room.StatusActive })
	if dead := q.Dead(); len(dead) != 0 {
		t.Fatalf("%d messages went to the dead-letter queue", len(dead))
	}
}

func TestUndecodableMessageIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Config{}, policies(1))
	t.Cleanup(func() { st.Close() })
	q := memqueue.New(memqueue.Config{MaxReceiveCount: 5})
	q.SendRaw("E1", `{"v":99,"garbage":true}`)
	a := join(t, st, q, "E1", "A") // behind it in the same message group
	g := granter.New(granter.Config{Visibility: time.Minute, Wait: time.Second}, q, st, quiet)
	var counted sync.Map
	g.Count = func(what string, n int) { counted.Store(what, n) }
	run(t, g)
	// A visibility timeout of a minute: only a dead-letter at once lets A
	// through within the test.
	await.Until(t, 10*time.Second, "A admitted", func() bool { return status(t, st, a.ID) == room.StatusActive })
	dead := q.Dead()
	if len(dead) != 1 || dead[0].Raw != `{"v":99,"garbage":true}` || dead[0].ReceiveCount != 1 {
		t.Fatalf("dead-letter queue = %+v, want the undecodable body after one receive", dead)
	}
	if n, _ := counted.Load("dead_lettered"); n != 1 {
		t.Fatalf("dead_lettered counted %v", n)
	}
}

// TestBlockedTicketAdmitsTheMomentItsSendIsConfirmed: a lower ticket whose
// send is still under way on another replica holds later tickets back;
// when that replica confirms it, the granter is woken by the store and
// admits it first, with the later ticket's message. The tick is far too
// slow to be what admits it.
func TestBlockedTicketAdmitsTheMomentItsSendIsConfirmed(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Config{}, policies(10))
	t.Cleanup(func() { st.Close() })
	q := memqueue.New(memqueue.Config{})
	ctx := context.Background()
	slow, _, err := st.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "slow"}) // ticket 1, still sending
	if err != nil {
		t.Fatal(err)
	}
	fast := join(t, st, q, "E1", "fast") // ticket 2, sent and confirmed
	var mu sync.Mutex
	var order []string
	g := granter.New(granter.Config{Wait: time.Second, Tick: time.Hour}, q, st, quiet)
	g.Observe = func(d granter.Decision) {
		if d.Outcome == room.Admitted {
			mu.Lock()
			order = append(order, d.Session.UserID)
			mu.Unlock()
		}
	}
	run(t, g)
	await.Until(t, 10*time.Second, "the later ticket's message held while blocked", func() bool { return g.Held() == 1 })
	if status(t, st, fast.ID) != room.StatusWaiting {
		t.Fatal("the later ticket overtook a ticket still being sent")
	}
	// The slow replica's send completes, then it confirms.
	if _, err := q.Send(ctx, []queue.Outgoing{queue.OutgoingFor(queue.Body{V: queue.BodyVersion, SessionID: slow.ID, EventID: "E1", Seq: slow.Seq})}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkEnqueued(ctx, "E1", slow.ID); err != nil {
		t.Fatal(err)
	}
	await.Until(t, 10*time.Second, "both admitted", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 })
	if fmt.Sprint(order) != "[slow fast]" {
		t.Fatalf("admitted %v, want [slow fast]", order)
	}
}

// TestWakeUpInTheDeadLetterQueueIsBroughtBack: a waiting user's message
// that the queue moved to its dead-letter queue (here: received past the
// limit by consumers that never settled it) is sent back, so the user is
// admitted when a slot frees; a spent one (nobody waiting) is dropped.
func TestWakeUpInTheDeadLetterQueueIsBroughtBack(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Config{}, policies(1))
	t.Cleanup(func() { st.Close() })
	q := memqueue.New(memqueue.Config{MaxReceiveCount: 2})
	ctx := context.Background()
	a := join(t, st, q, "E1", "A")
	// A's message is received and released twice: the third receive
	// moves it aside.
	for range 2 {
		msgs, _ := q.Receive(ctx, 10, 0, time.Minute)
		if len(msgs) != 1 {
			t.Fatalf("received %d messages", len(msgs))
		}
		q.ChangeVisibility(ctx, msgs, 0)
	}
	if msgs, _ := q.Receive(ctx, 10, 0, time.Minute); len(msgs) != 0 || len(q.Dead()) != 1 {
		t.Fatalf("the message was not moved aside: %d received, %d dead", len(msgs), len(q.Dead()))
	}
	g := granter.New(granter.Config{Wait: time.Second, RedriveEvery: 50 * time.Millisecond}, q, st, quiet)
	var counted sync.Map
	g.Count = func(what string, n int) { counted.Store(what, n) }
	run(t, g)
	await.Until(t, 10*time.Second, "A admitted with its message brought back", func() bool { return status(t, st, a.ID) == room.StatusActive })
	if n, _ := counted.Load("redriven"); n != 1 {
		t.Fatalf("redriven counted %v", n)
	}
	await.Until(t, 10*time.Second, "the dead-letter queue emptied", func() bool { return len(q.Dead()) == 0 })
}

// TestADeepLineDrainsWithoutWaitingForItsWakeUps: a full event with far
// more waiting than the granter holds messages (as after a start, when the
// whole pre-queue waits at once) keeps admitting as slots free: the
// messages it postponed come back as the line needs them, not after a
// third of the visibility timeout (here 60s). Each admitted user leaves at
// once, so the line moves at the pace of the granter alone.
func TestADeepLineDrainsWithoutWaitingForItsWakeUps(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := memstore.New(memstore.Config{}, policies(2))
			t.Cleanup(func() { st.Close() })
			q := newQueue(t, backend)
			const n = 60 // six times the messages held per event
			var sessions []room.Session
			for i := range n {
				sessions = append(sessions, join(t, st, q, "DEEP", fmt.Sprint("u", i)))
			}
			g := granter.New(granter.Config{Wait: time.Second, Visibility: 3 * time.Minute}, q, st, quiet)
			admitted := make(chan string, n)
			g.Observe = func(d granter.Decision) {
				if d.Outcome == room.Admitted {
					admitted <- d.Session.ID
				}
			}
			run(t, g)
			ctx := context.Background()
			timeout := time.After(40 * time.Second) // under the 60s a postponed message would stay away
			for i := range n {
				select {
				case id := <-admitted:
					if _, err := st.Leave(ctx, id); err != nil {
						t.Fatal(err)
					}
				case <-timeout:
					t.Fatalf("%d of %d admitted: the line waited for its postponed wake-ups", i, n)
				}
			}
		})
	}
}
