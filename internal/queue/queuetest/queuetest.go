// Package queuetest is the conformance suite every FIFO queue.Queue backend
// passes: the semantics the granter relies on.
package queuetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/queue"
)

// NewQueue returns an empty FIFO queue, cleaned up by t.Cleanup.
type NewQueue func(t *testing.T) queue.Queue

const vis = 30 * time.Second

// Run runs the suite against the backend newQueue builds.
func Run(t *testing.T, newQueue NewQueue) {
	for _, c := range suite {
		t.Run(c.name, func(t *testing.T) { c.run(t, newQueue) })
	}
}

// suite is the conformance cases, in the order they run.
var suite = []struct {
	name string
	run  func(*testing.T, NewQueue)
}{
	{"order within a group", testOrderWithinAGroup},
	{"batch of ten keeps order", testBatchOfTenKeepsOrder},
	{"a group is locked while a message is in flight", testAGroupIsLockedWhileAMessage},
	{"deduplication drops a resend", testDeduplicationDropsAResend},
	{"an unacknowledged message reappears after its visibility timeout", testAnUnacknowledgedMessageReappearsAfterItsVisibility},
	{"visibility zero releases at once; extending holds", testVisibilityZeroReleasesAtOnceExtendingHolds},
	{"long poll returns a message sent while waiting", testLongPollReturnsAMessageSentWhile},
	{"receive stops when its context is cancelled", testReceiveStopsWhenItsContextIsCancelled},
}

var ctx = context.Background()

// testOrderWithinAGroup: order within a group.
func testOrderWithinAGroup(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	if !q.FIFO() {
		t.Fatal("FIFO() = false")
	}
	send(t, q, msgs("E1", 1, 5)...)
	for want := int64(1); want <= 5; want++ {
		m := receiveOne(t, q, vis)
		if m.Body.Seq != want || m.Body.EventID != "E1" || m.Err != nil {
			t.Fatalf("received %+v, want seq %d", m, want)
		}
		del(t, q, m)
	}
	expectNone(t, q)
}

// testBatchOfTenKeepsOrder: batch of ten keeps order.
func testBatchOfTenKeepsOrder(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	send(t, q, msgs("E1", 1, 10)...)
	for want := int64(1); want <= 10; want++ {
		m := receiveOne(t, q, vis)
		if m.Body.Seq != want {
			t.Fatalf("received seq %d, want %d", m.Body.Seq, want)
		}
		del(t, q, m)
	}
}

// testAGroupIsLockedWhileAMessage: a group is locked while a message is in flight.
func testAGroupIsLockedWhileAMessage(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	send(t, q, msgs("A", 1, 2)...)
	send(t, q, msgs("B", 1, 1)...)
	a1 := receiveOne(t, q, vis)
	if a1.Body.EventID != "A" || a1.Body.Seq != 1 {
		t.Fatalf("first receive = %+v, want A/1", a1.Body)
	}
	got := receiveUntil(t, q, func(m queue.Message) bool { return m.Body.EventID == "B" })
	for _, m := range got {
		if m.Body.EventID == "A" {
			t.Fatalf("received A/%d while A/1 is in flight", m.Body.Seq)
		}
	}
	del(t, q, got...)
	del(t, q, a1)
	a2 := receiveOne(t, q, vis)
	if a2.Body.EventID != "A" || a2.Body.Seq != 2 {
		t.Fatalf("after deleting A/1 received %+v, want A/2", a2.Body)
	}
}

// testDeduplicationDropsAResend: deduplication drops a resend.
func testDeduplicationDropsAResend(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	m := msgs("E1", 1, 1)[0]
	send(t, q, m)
	send(t, q, m)
	del(t, q, receiveOne(t, q, vis))
	expectNone(t, q)
}

// testAnUnacknowledgedMessageReappearsAfterItsVisibility: an unacknowledged message reappears after its visibility timeout.
func testAnUnacknowledgedMessageReappearsAfterItsVisibility(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	send(t, q, msgs("E1", 1, 1)...)
	first := receiveOne(t, q, time.Second)
	again := receiveOne(t, q, vis) // waits out the second
	if again.Body != first.Body {
		t.Fatalf("reappeared %+v, want %+v", again.Body, first.Body)
	}
	if again.ReceiveCount < 2 {
		t.Fatalf("receive count = %d, want >= 2", again.ReceiveCount)
	}
}

// testVisibilityZeroReleasesAtOnceExtendingHolds: visibility zero releases at once; extending holds.
func testVisibilityZeroReleasesAtOnceExtendingHolds(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	send(t, q, msgs("E1", 1, 1)...)
	m := receiveOne(t, q, 2*time.Second)
	if err := q.ChangeVisibility(ctx, []queue.Message{m}, vis); err != nil {
		t.Fatal(err)
	}
	// Held past its first timeout: nothing comes back while extended.
	got, err := q.Receive(ctx, queue.MaxBatch, 3*time.Second, vis)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("extended message was received again: %+v", got[0].Body)
	}
	if err := q.ChangeVisibility(ctx, []queue.Message{m}, 0); err != nil {
		t.Fatal(err)
	}
	back := receiveOne(t, q, vis)
	if back.Body != m.Body {
		t.Fatalf("released %+v, got %+v", m.Body, back.Body)
	}
}

// testLongPollReturnsAMessageSentWhile: long poll returns a message sent while waiting.
func testLongPollReturnsAMessageSentWhile(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	type result struct {
		msgs []queue.Message
		err  error
	}
	done := make(chan result, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		m, err := q.Receive(ctx, 1, 10*time.Second, vis)
		done <- result{m, err}
	}()
	<-started
	send(t, q, msgs("E1", 1, 1)...)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	// If the receive began before the send (the usual case) only long
	// polling can return the message; otherwise a second poll must.
	if len(r.msgs) == 0 {
		r.msgs = []queue.Message{receiveOne(t, q, vis)}
	}
	if r.msgs[0].Body.EventID != "E1" {
		t.Fatalf("got %+v", r.msgs[0].Body)
	}
}

// testReceiveStopsWhenItsContextIsCancelled: receive stops when its context is cancelled.
func testReceiveStopsWhenItsContextIsCancelled(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := q.Receive(cctx, 1, 20*time.Second, vis)
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("receive on a cancelled context returned no error")
	}
}

// NewRedrivenQueue returns an empty FIFO queue whose redrive policy moves a
// message to a dead-letter queue after maxReceive receives.
type NewRedrivenQueue func(t *testing.T, maxReceive int) queue.Queue

// RunDeadLetter runs the dead-letter part of the suite: the redrive limit,
// moving a message aside at once, and taking dead letters back.
func RunDeadLetter(t *testing.T, newQueue NewRedrivenQueue) {

	q := newQueue(t, 2)
	if n, err := q.MaxReceiveCount(ctx); err != nil || n != 2 {
		t.Fatalf("MaxReceiveCount = %d, %v; want 2", n, err)
	}
	send(t, q, msgs("E1", 1, 2)...)
	// The first message goes aside at once; the second after its receives.
	first := receiveOne(t, q, vis)
	if err := q.DeadLetter(ctx, []queue.Message{first}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		m := receiveOne(t, q, vis)
		if m.Body.Seq != 2 {
			t.Fatalf("received seq %d, want 2", m.Body.Seq)
		}
		if err := q.ChangeVisibility(ctx, []queue.Message{m}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := q.Receive(ctx, 10, time.Second, vis); err != nil || len(got) != 0 {
		t.Fatalf("a message past its receive limit was received again: %v, %v", got, err)
	}
	var dead []queue.Message
	deadline := time.Now().Add(20 * time.Second)
	for len(dead) < 2 && time.Now().Before(deadline) {
		got, err := q.ReceiveDead(ctx, 10, vis)
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, got...)
	}
	seqs := map[int64]bool{}
	for _, m := range dead {
		seqs[m.Body.Seq] = m.Err == nil
	}
	if len(dead) != 2 || !seqs[1] || !seqs[2] {
		t.Fatalf("dead letters = %+v, want seq 1 and 2 decoded", dead)
	}
	if err := q.DeleteDead(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if got, err := q.ReceiveDead(ctx, 10, 0); err != nil || len(got) != 0 {
		t.Fatalf("dead letters after DeleteDead = %v, %v", got, err)
	}
}

func msgs(event string, from, to int64) []queue.Outgoing {
	var out []queue.Outgoing
	for i := from; i <= to; i++ {
		// One group per event here: these cases are about a group's order
		// and locking, whatever groups wrctl spreads an event over.
		b := queue.Body{V: queue.BodyVersion, SessionID: fmt.Sprintf("%s-%d", event, i), EventID: event, Seq: i}
		out = append(out, queue.Outgoing{Body: b, GroupID: event, DedupID: b.SessionID})
	}
	return out
}

func send(t *testing.T, q queue.Queue, m ...queue.Outgoing) {
	t.Helper()
	failed, err := q.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	for i, e := range failed {
		if e != nil {
			t.Fatalf("send entry %d: %v", i, e)
		}
	}
}

func del(t *testing.T, q queue.Queue, m ...queue.Message) {
	t.Helper()
	if err := q.Delete(context.Background(), m); err != nil {
		t.Fatalf("delete: %v", err)
	}
}

// receiveOne polls until one message arrives, within a deadline, and hands
// back any extra ones by making them visible again.
func receiveOne(t *testing.T, q queue.Queue, visibility time.Duration) queue.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		got, err := q.Receive(context.Background(), 1, 2*time.Second, visibility)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(got) > 0 {
			return got[0]
		}
	}
	t.Fatal("no message within 20s")
	return queue.Message{}
}

// receiveUntil receives until a message satisfies ok, returning all received.
func receiveUntil(t *testing.T, q queue.Queue, ok func(queue.Message) bool) []queue.Message {
	t.Helper()
	var all []queue.Message
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		got, err := q.Receive(context.Background(), queue.MaxBatch, 2*time.Second, vis)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		all = append(all, got...)
		for _, m := range got {
			if ok(m) {
				return all
			}
		}
	}
	t.Fatal("expected message did not arrive within 20s")
	return nil
}

func expectNone(t *testing.T, q queue.Queue) {
	t.Helper()
	got, err := q.Receive(context.Background(), queue.MaxBatch, time.Second, vis)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("unexpected message %+v", got[0].Body)
	}
}
