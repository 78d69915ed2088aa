package server

import (
	"fmt"
	"testing"

	"github.com/wrctl/wrctl/internal/room"
)

func woken(w *waiter) bool {
	select {
	case <-w.ch:
		return true
	default:
		return false
	}
}

// TestHeldWakesOnAStepOfItsPlaceAndKeepsNothing: a request held at place
// 400 is answered when 200 ahead of it were admitted, not before; one at
// place 50 only by its own news; and nothing is kept once they answer.
func TestHeldWakesOnAStepOfItsPlaceAndKeepsNothing(t *testing.T) {
	h := newHeld(10)
	far, _ := h.hold(&room.Session{ID: "far", EventID: "E", Status: room.StatusWaiting, Position: 400})
	near, _ := h.hold(&room.Session{ID: "near", EventID: "E", Status: room.StatusWaiting, Position: 50})
	other, _ := h.hold(&room.Session{ID: "other", EventID: "F", Status: room.StatusWaiting, Position: 400})
	for i := range 199 {
		h.changed(room.Change{EventID: "E", SessionID: fmt.Sprint("s", i), Status: room.StatusActive})
	}
	h.changed(room.Change{EventID: "E", SessionID: "gone", Status: room.StatusExpired}) // no admission: no step
	if woken(far) || woken(near) || woken(other) {
		t.Fatal("woken before its place moved by a step")
	}
	h.changed(room.Change{EventID: "E", SessionID: "s199", Status: room.StatusActive})
	if !woken(far) || woken(near) || woken(other) {
		t.Fatalf("after 200 admissions ahead: far %v near %v other %v, want only far", woken(far), woken(near), woken(other))
	}
	h.changed(room.Change{EventID: "E", SessionID: "near", Status: room.StatusActive})
	if !woken(near) {
		t.Fatal("its own admission did not wake it")
	}
	h.changed(room.Change{EventID: "F"})
	if !woken(other) {
		t.Fatal("a change of its event's line did not wake it")
	}
	for _, w := range []*waiter{far, near, other} {
		h.release(w)
	}
	if h.count() != 0 || len(h.bySession) != 0 || len(h.byEvent) != 0 {
		t.Fatalf("kept %d held, %d sessions, %d events after every request answered", h.count(), len(h.bySession), len(h.byEvent))
	}
	// At the cap, and once closed, nothing more is held.
	for i := range 10 {
		if _, ok := h.hold(&room.Session{ID: fmt.Sprint("c", i), EventID: "E"}); !ok {
			t.Fatalf("held %d of 10", i)
		}
	}
	if _, ok := h.hold(&room.Session{ID: "eleventh", EventID: "E"}); ok {
		t.Fatal("held past the cap")
	}
	h.close()
	for _, ws := range h.bySession {
		if !woken(ws[0]) {
			t.Fatal("close left a request held")
		}
	}
}
