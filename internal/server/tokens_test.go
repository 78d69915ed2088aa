package server

import (
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// TestTokenSignedOncePerSessionChange: polls of an unchanged session reuse
// its token; a heartbeat (a new last sight and expiry) signs a new one.
func TestTokenSignedOncePerSessionChange(t *testing.T) {
	c := newTokenCache(10)
	signs := 0
	sign := func() (string, error) { signs++; return "token-" + string(rune('0'+signs)), nil }
	t0 := time.Unix(1_800_000_000, 0)
	s := room.Session{ID: "s1", LastSeenAt: t0, ExpiresAt: t0.Add(time.Minute)}
	first, _ := c.get(s, sign)
	again, _ := c.get(s, sign)
	if signs != 1 || again != first {
		t.Fatalf("two polls of one session: %d signatures, tokens %q %q", signs, first, again)
	}
	s.LastSeenAt, s.ExpiresAt = t0.Add(10*time.Second), t0.Add(70*time.Second)
	if renewed, _ := c.get(s, sign); signs != 2 || renewed == first {
		t.Fatalf("after a heartbeat: %d signatures, token %q", signs, renewed)
	}
	for i := range 20 { // bounded: older sessions fall out
		c.get(room.Session{ID: string(rune('a' + i)), LastSeenAt: t0, ExpiresAt: t0}, sign)
	}
	if n := c.c.Len(); n != 10 {
		t.Fatalf("cache holds %d tokens, want at most 10", n)
	}
}
