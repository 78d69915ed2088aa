// Package roomtest is the conformance suite every room.Store backend passes.
package roomtest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// NewStore returns an empty store following policies whose every deadline
// is decided by clock, closed by t.Cleanup.
type NewStore func(t *testing.T, policies room.Policies, clock room.Clock) room.Store

// Policy is the policy the suite runs under unless a test says otherwise.
// It sends every join through the line (QueueAll), since most of the suite
// is about the line; the tests of joins admitted at once use FastPolicy.
var Policy = room.Policy{Capacity: 2, HeartbeatTTL: 30 * time.Second, WaitingTTL: 60 * time.Second, MaxActive: 15 * time.Minute,
	QueueAll: true}

// FastPolicy is Policy as configured by default: a join that finds nobody
// waiting and a free slot is admitted at once.
var FastPolicy = func() room.Policy { p := Policy; p.QueueAll = false; return p }()

// Clock is a settable room.Clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; use it as a room.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// T0 is where the suite's clocks start: long past, so any code that reads
// the real clock instead of the store's fails here on every day.
var T0 = time.Date(2020, 1, 1, 10, 0, 0, 0, time.UTC)

// Run runs the suite against the backend newStore builds.
func Run(t *testing.T, newStore NewStore) {
	for _, c := range append(slices.Clone(suite), heard...) {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore) })
	}
	t.Run("ping", func(t *testing.T) { testPing(t, newStore) })
}

// A conformance case: a name and a test over a store constructor.
type testCase struct {
	name string
	run  func(*testing.T, NewStore)
}

// suite is the conformance cases, in the order they run; heard.go adds its own.
var suite = []testCase{
	{"the audit log proves an on-sale", testTheAuditLogProvesAnOnSale},
	{"every per-event setting is kept whole", testEverySettingIsKept},
	{"join creates a waiting session at the store's time", testJoinCreatesAWaitingSessionAtThe},
	{"a re-join gets the live session only with proof of the first join", testAReJoinGetsTheLiveSession},
	{"positions follow join order and move as the line moves", testPositionsFollowJoinOrderAndMoveAs},
	{"grant admits in ticket order whatever message arrives, up to capacity", testGrantAdmitsInTicketOrderWhateverMessage},
	{"grant skips those who ended and answers an empty line or unknown event", testGrantSkipsThoseWhoEndedAndAnswers},
	{"a ticket whose message is not yet on the queue holds back later tickets", testATicketWhoseMessageIsNotYet},
	{"per-event capacity", testPerEventCapacity},
	{"capacity and order hold under concurrent grants", testCapacityAndOrderHoldUnderConcurrentGrants},
	{"active session without heartbeat expires and frees its slot", testActiveSessionWithoutHeartbeatExpiresAndFrees},
	{"max active ends a session whatever it does", testMaxActiveEndsASessionWhateverIt},
	{"waiting session without sign of life is abandoned", testWaitingSessionWithoutSignOfLifeIs},
	{"sweep ends overdue sessions", testSweepEndsOverdueSessions},
	{"leave is idempotent and frees at once", testLeaveIsIdempotentAndFreesAtOnce},
	{"abort removes a session that never reached the queue", testAbortRemovesASessionThatNeverReached},
	{"admission rate is unknown until someone is admitted, then follows the pace", testAdmissionRateIsUnknownUntilSomeoneIs},
	{"events lists live events and forgets idle ones", testEventsListsLiveEventsAndForgetsIdle},
	{"runtime settings change capacity, pause and cap the line", testRuntimeSettingsChangeCapacityPauseAndCap},
	{"newUsersPerMinute caps admissions per minute as well as capacity, shared by every replica", testNewUsersPerMinuteCapsAdmissionsPerMinuteAsWell},
	{"schedule: refused before opensAt, pre-queued until startsAt, shuffled once at the start ahead of later joins", testScheduleRefusedBeforeOpensAtPreQueuedUntil},
	{"endsAt refuses joins and ends the waiting sessions; ACTIVE ones run on", testEndsAtRefusesJoinsAndEndsTheWaiting},
	{"an event's end reaches its waiting sessions through the sweep alone", testAnEventSEndReachesItsWaiting},
	{"reject refuses joins with the event's message and ends the waiting; fifo takes joins again", testRejectRefusesJoinsWithTheEventS},
	{"passthrough drains the line without a cap, then admits joins at once; no join overtakes the line", testPassthroughDrainsTheLineWithoutACap},
	{"random admits by lottery: everyone once, not in ticket order", testRandomAdmitsByLotteryEveryoneOnceNot},
}

var ctx = context.Background()

// open is an empty store under Policy (capacity 100 for the event big)
// at a clock standing at T0.
func open(t *testing.T, newStore NewStore) (room.Store, *Clock) {
	clk := NewClock(T0)
	return newStore(t, room.StaticPolicies{Default: Policy, Capacity: map[string]int{"big": 100}}, clk.Now), clk
}

// join is the store call, failing t on an error.
func join(t *testing.T, st room.Store, event, user string) room.Session {
	t.Helper()
	s, created, err := st.Join(ctx, room.JoinRequest{EventID: event, UserID: user, Key: "k-" + user})
	if err != nil {
		t.Fatalf("join %s/%s: %v", event, user, err)
	}
	if !created {
		t.Fatalf("join %s/%s: created = false for a new user", event, user)
	}
	if err := st.MarkEnqueued(ctx, event, s.ID); err != nil {
		t.Fatalf("mark enqueued: %v", err)
	}
	return s
}

// grant is the store call, failing t on an error.
func grant(t *testing.T, st room.Store, event, id string, want room.GrantOutcome) room.GrantResult {
	t.Helper()
	r, err := st.Grant(ctx, event, id)
	if err != nil {
		t.Fatalf("grant %s: %v", id, err)
	}
	if r.Outcome != want {
		t.Fatalf("grant with %s's message = %v, want %v", id, r.Outcome, want)
	}
	return r
}

// admits is the store call, failing t on an error.
func admits(t *testing.T, st room.Store, event, msgID, wantID string) room.Session {
	t.Helper()
	r := grant(t, st, event, msgID, room.Admitted)
	if r.Session.ID != wantID {
		t.Fatalf("grant with %s's message admitted %s (ticket %d), want %s", msgID, r.Session.ID, r.Session.Seq, wantID)
	}
	return r.Session
}

// get is the store call, failing t on an error.
func get(t *testing.T, st room.Store, id string) room.Session {
	t.Helper()
	s, err := st.Get(ctx, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return s
}

// stats is the store call, failing t on an error.
func stats(t *testing.T, st room.Store, event string) room.EventStats {
	t.Helper()
	s, err := st.Stats(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFreed waits for a freed notification for event.
func waitFreed(t *testing.T, st room.Store, event string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-st.Freed():
			if e == event {
				return
			}
		case <-timeout:
			t.Fatalf("no freed notification for %s", event)
		}
	}
}
