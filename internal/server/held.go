package server

import (
	"container/heap"
	"sync"

	"github.com/wrctl/wrctl/internal/room"
)

// held are the status requests waiting for news of their session (?wait=
// or Prefer: wait): each is woken when its session stops waiting, when its
// event's line changes as a whole, or when enough people ahead of it were
// admitted that its place moved by a meaningful step. What it keeps follows
// the held requests alone: an event is forgotten with its last waiter.
type held struct {
	max int // the most held at once; none when not positive

	mu        sync.Mutex
	n         int
	closed    bool
	bySession map[string][]*waiter
	byEvent   map[string]*eventWaiters
}

// waiter is one held request; ch closes when it is to answer.
type waiter struct {
	ch      chan struct{}
	session string
	event   string
	// target is the count of the event's admissions at which the place
	// has moved by a step; 0 for none. i is the waiter's index in its
	// event's step heap, -1 when not in it.
	target int64
	i      int
	woken  bool
}

// eventWaiters are the held requests of one event.
type eventWaiters struct {
	all      map[*waiter]struct{}
	admitted int64 // admissions heard since the event's first waiter came
	steps    stepHeap
}

// minStep is the fewest admissions ahead that count as a meaningful move:
// a held request is answered when its place has halved, and by at least
// this much, so a long wait costs a few answers, not one per admission.
const minStep = 100

func newHeld(max int) *held {
	return &held{max: max, bySession: map[string][]*waiter{}, byEvent: map[string]*eventWaiters{}}
}

// hold registers a request waiting for news of a WAITING session standing
// at position (0: none to count, as in the pre-queue or a lottery). It
// reports false at the cap or once closed: answer at once then.
func (h *held) hold(sess *room.Session) (*waiter, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.n >= h.max {
		return nil, false
	}
	h.n++
	w := &waiter{ch: make(chan struct{}), session: sess.ID, event: sess.EventID, i: -1}
	h.bySession[w.session] = append(h.bySession[w.session], w)
	ev := h.byEvent[w.event]
	if ev == nil {
		ev = &eventWaiters{all: map[*waiter]struct{}{}}
		h.byEvent[w.event] = ev
	}
	ev.all[w] = struct{}{}
	if step := max((sess.Position+1)/2, minStep); sess.Position > step && sess.Method != room.MethodRandom && !sess.PreQueued {
		w.target = ev.admitted + step
		heap.Push(&ev.steps, w)
	}
	return w, true
}

// release forgets a waiter that answered (woken or timed out).
func (h *held) release(w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n--
	ws := h.bySession[w.session]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(h.bySession, w.session)
	} else {
		h.bySession[w.session] = ws
	}
	ev := h.byEvent[w.event]
	delete(ev.all, w)
	if w.i >= 0 {
		heap.Remove(&ev.steps, w.i)
	}
	if len(ev.all) == 0 {
		delete(h.byEvent, w.event)
	}
}

// count is how many requests are held now.
func (h *held) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// changed wakes the waiters a store change concerns.
func (h *held) changed(c room.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := h.byEvent[c.EventID]
	if c.SessionID == "" {
		if ev != nil {
			for w := range ev.all {
				h.wake(ev, w)
			}
		}
		return
	}
	for _, w := range h.bySession[c.SessionID] {
		h.wake(h.byEvent[w.event], w)
	}
	if c.Status == room.StatusActive && ev != nil {
		ev.admitted++
		for len(ev.steps) > 0 && ev.steps[0].target <= ev.admitted {
			h.wake(ev, ev.steps[0])
		}
	}
}

// wake answers a waiter; it stays registered until released.
func (h *held) wake(ev *eventWaiters, w *waiter) {
	if w.i >= 0 {
		heap.Remove(&ev.steps, w.i)
	}
	if !w.woken {
		w.woken = true
		close(w.ch)
	}
}

// close wakes every held request and holds no more: the server stops.
func (h *held) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, ev := range h.byEvent {
		for w := range ev.all {
			h.wake(ev, w)
		}
	}
}

// listen feeds the store's changes to the held requests until the channel
// closes.
func (h *held) listen(changes <-chan room.Change) {
	for c := range changes {
		h.changed(c)
	}
}

// stepHeap orders an event's waiters by the admission count that moves them.
type stepHeap []*waiter

func (s stepHeap) Len() int           { return len(s) }
func (s stepHeap) Less(i, j int) bool { return s[i].target < s[j].target }
func (s stepHeap) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].i, s[j].i = i, j
}
func (s *stepHeap) Push(x any) {
	w := x.(*waiter)
	w.i = len(*s)
	*s = append(*s, w)
}
func (s *stepHeap) Pop() any {
	old := *s
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	w.i = -1
	return w
}
