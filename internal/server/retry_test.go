package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// TestRetryAfterGrowsWithThePlaceInLine: far back in a line with no known
// admission rate, a client is told to poll less often than at the head,
// and never past a third of the waiting TTL.
func TestRetryAfterGrowsWithThePlaceInLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "memory", defaultOptions()) // poll interval 2s, waiting TTL 60s
	ctx := context.Background()
	if err := h.Store.PutSettings(ctx, "FAR", room.Settings{Paused: true}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 2001 {
		s, _, err := h.Store.Join(ctx, room.JoinRequest{EventID: "FAR", UserID: fmt.Sprint("u", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	retry := func(id string) string {
		r := h.do(http.MethodGet, api.SessionsPath+"/"+id, "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("status: %d %s", r.Status, r.Body)
		}
		return r.Header.Get("Retry-After")
	}
	// Head: the configured 2s; 2,000 ahead: 2s more per thousand, 6s.
	if head, far := retry(ids[0]), retry(ids[2000]); head != "2" || far != "6" {
		t.Fatalf("Retry-After at the head %q, 2,000 back %q; want 2 and 6", head, far)
	}
}
