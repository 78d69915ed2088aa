package intake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/intake"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/memstore"
)

var policies = room.StaticPolicies{Default: room.Policy{Capacity: 1, HeartbeatTTL: time.Minute, WaitingTTL: time.Minute, MaxActive: time.Hour, QueueAll: true}}

type fixture struct {
	st     *memstore.Store
	q      *memqueue.Queue
	intake *intake.Service
}

// newFixture builds an intake on a memory store and queue; wrap, if set,
// stands between them and the intake to fail at a chosen moment.
func newFixture(t *testing.T, wrapStore func(intake.Store) intake.Store, wrapQueue func(queue.Queue) queue.Queue) fixture {
	t.Helper()
	st := memstore.New(memstore.Config{}, policies)
	q := memqueue.New(memqueue.Config{})
	var is intake.Store = st
	if wrapStore != nil {
		is = wrapStore(st)
	}
	var iq queue.Queue = q
	if wrapQueue != nil {
		iq = wrapQueue(q)
	}
	sender := queue.NewSender(iq, queue.SenderConfig{Timeout: 5 * time.Second})
	t.Cleanup(func() { sender.Close(); st.Close() })
	return fixture{st: st, q: q, intake: intake.New(is, sender)}
}

func req(user string) room.JoinRequest {
	return room.JoinRequest{EventID: "E1", UserID: user, Key: "key-" + user}
}

func TestJoinSendsThenConfirms(t *testing.T) {
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	s, created, err := f.intake.Join(ctx, req("a"))
	if err != nil || !created || !s.Enqueued || s.Status != room.StatusWaiting {
		t.Fatalf("join = %+v, created %v, %v", s, created, err)
	}
	if g, _ := f.st.Get(ctx, s.ID); !g.Enqueued {
		t.Fatal("the store does not know the message is on the queue")
	}
	again, created, err := f.intake.Join(ctx, req("a"))
	if err != nil || created || again.ID != s.ID {
		t.Fatalf("re-join = %s created %v, %v; want %s", again.ID, created, err, s.ID)
	}
	if n := f.q.Len(); n != 1 {
		t.Fatalf("%d messages on the queue, want 1 (a re-join sends nothing)", n)
	}
	if _, _, err := f.intake.Join(ctx, room.JoinRequest{EventID: "E1", UserID: "a"}); !errors.Is(err, room.ErrAlreadyJoined) {
		t.Fatalf("re-join without the key: %v, want ErrAlreadyJoined", err)
	}
}

// failingSend refuses every send.
type failingSend struct{ queue.Queue }

func (failingSend) Send(context.Context, []queue.Outgoing) ([]error, error) {
	return nil, errors.New("queue down")
}

func TestSendFailureLeavesNothingBehind(t *testing.T) {
	f := newFixture(t, nil, func(q queue.Queue) queue.Queue { return failingSend{q} })
	ctx := context.Background()
	if _, _, err := f.intake.Join(ctx, req("a")); !errors.Is(err, intake.ErrQueue) {
		t.Fatalf("join with the queue down: %v, want ErrQueue", err)
	}
	if st, _ := f.st.Stats(ctx, "E1"); st.Joined != 0 || st.Waiting != 0 {
		t.Fatalf("stats = %+v: a failed join left a session", st)
	}
}

// storeFault fails one store call.
type storeFault struct {
	intake.Store
	join, mark error
}

func (s storeFault) Join(ctx context.Context, r room.JoinRequest) (room.Session, bool, error) {
	if s.join != nil {
		return room.Session{}, false, s.join
	}
	return s.Store.Join(ctx, r)
}

func (s storeFault) MarkEnqueued(ctx context.Context, eventID, id string) error {
	if s.mark != nil {
		return s.mark
	}
	return s.Store.MarkEnqueued(ctx, eventID, id)
}

func TestStoreFailures(t *testing.T) {
	down := errors.New("store down")
	for _, c := range []struct {
		name  string
		fault storeFault
		want  error
		sent  int
	}{
		{"join", storeFault{join: down}, intake.ErrStore, 0},
		{"confirm", storeFault{mark: down}, intake.ErrUnconfirmed, 1},
		{"line full", storeFault{join: room.ErrLineFull}, room.ErrLineFull, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(st intake.Store) intake.Store { c.fault.Store = st; return c.fault }, nil)
			s, _, err := f.intake.Join(context.Background(), req("a"))
			if !errors.Is(err, c.want) || s.ID != "" {
				t.Fatalf("join = %q, %v; want no session and %v", s.ID, err, c.want)
			}
			if n := f.q.Len(); n != c.sent {
				t.Fatalf("%d messages sent, want %d", n, c.sent)
			}
		})
	}
}

// firstSendFails refuses the first message of every session it sees, as a
// queue that drops one request of two racing joins would.
type firstSendFails struct {
	queue.Queue
	mu   sync.Mutex
	seen map[string]bool
}

func (q *firstSendFails) Send(ctx context.Context, msgs []queue.Outgoing) ([]error, error) {
	q.mu.Lock()
	failed := make([]error, len(msgs))
	var pass []queue.Outgoing
	var at []int
	for i, m := range msgs {
		if !q.seen[m.Body.SessionID] {
			q.seen[m.Body.SessionID] = true
			failed[i] = errors.New("send refused")
			continue
		}
		pass = append(pass, m)
		at = append(at, i)
	}
	q.mu.Unlock()
	if len(pass) > 0 {
		f, err := q.Queue.Send(ctx, pass)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			failed[i] = f[j]
		}
	}
	return failed, nil
}

// TestRacingJoinsOfOneUserNeverAcceptALostSession joins the same user
// twice at once while the first send fails: a join reported as accepted
// must name a live session.
func TestRacingJoinsOfOneUserNeverAcceptALostSession(t *testing.T) {
	f := newFixture(t, nil, func(q queue.Queue) queue.Queue { return &firstSendFails{Queue: q, seen: map[string]bool{}} })
	ctx := context.Background()
	accepted := 0
	for round := range 50 {
		r := req(fmt.Sprint("racer-", round))
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var got []room.Session
		for range 2 {
			wg.Go(func() {
				<-start
				s, _, err := f.intake.Join(ctx, r)
				switch {
				case err == nil:
					mu.Lock()
					got = append(got, s)
					mu.Unlock()
				case errors.Is(err, intake.ErrQueue), errors.Is(err, intake.ErrUnconfirmed):
				default:
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		for _, s := range got {
			accepted++
			if g, err := f.st.Get(ctx, s.ID); err != nil || !g.Status.Live() || !g.Enqueued {
				t.Fatalf("round %d: an accepted join names session %s, which is %+v, %v", round, s.ID, g, err)
			}
		}
	}
	t.Logf("%d of 100 racing joins accepted, every one naming a live, enqueued session", accepted)
}

func TestWakeUpsSpreadOverTheEventsGroups(t *testing.T) {
	for _, groups := range []queue.Groups{0, 1, 3} {
		f := newFixture(t, nil, nil)
		f.intake.Groups = groups
		ctx := context.Background()
		for i := range 12 {
			if _, _, err := f.intake.Join(ctx, req(fmt.Sprint("u", i))); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for {
			msgs, err := f.q.Receive(ctx, queue.MaxBatch, 0, time.Minute)
			if err != nil || len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				seen[m.GroupID] = true
			}
			f.q.Delete(ctx, msgs)
		}
		want := int(groups)
		if want == 0 {
			want = queue.GroupsPerEvent
		}
		if len(seen) != want {
			t.Errorf("Groups %d: 12 joins over groups %v, want %d of them", groups, seen, want)
		}
	}
}

// TestAJoinAdmittedAtOnceSendsNothing: in an empty room the store admits
// the join itself, and no message goes to the queue (nobody is to wake);
// the next join, finding the room full, takes the queue.
func TestAJoinAdmittedAtOnceSendsNothing(t *testing.T) {
	st := memstore.New(memstore.Config{}, room.StaticPolicies{Default: room.Policy{Capacity: 1, HeartbeatTTL: time.Minute,
		WaitingTTL: time.Minute, MaxActive: time.Hour}})
	q := memqueue.New(memqueue.Config{})
	sender := queue.NewSender(q, queue.SenderConfig{Timeout: 5 * time.Second})
	t.Cleanup(func() { sender.Close(); st.Close() })
	in := intake.New(st, sender)
	ctx := context.Background()
	s, created, err := in.Join(ctx, req("a"))
	if err != nil || !created || s.Status != room.StatusActive || !s.Enqueued {
		t.Fatalf("join of an empty room = %+v, created %v, %v", s, created, err)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("%d messages on the queue after a join admitted at once, want 0", n)
	}
	if s, _, err := in.Join(ctx, req("b")); err != nil || s.Status != room.StatusWaiting || q.Len() != 1 {
		t.Fatalf("join of a full room = %s, %v, %d messages; want WAITING with its message", s.Status, err, q.Len())
	}
}
