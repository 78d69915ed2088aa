package loadgen_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/client"
	"github.com/wrctl/wrctl/internal/room"
)

// fakeRoom is a small waiting room with a pluggable admission rule, to show
// that the audits catch a server that breaks the rules. It admits on a
// status poll.
type fakeRoom struct {
	capacity int
	// pick returns the ticket to admit among those waiting, or 0.
	pick func(waiting []int64) int64
	// slots is how many may be inside at once (capacity for a correct room).
	slots int
	// lieAboutPeak makes the stats endpoint report at most capacity.
	lieAboutPeak bool
	// joinDelay slows every join down.
	joinDelay time.Duration
	// reportCapacity, if set, is the capacity the stats endpoint claims.
	reportCapacity int
	// noStats answers the stats endpoint with 404, as a server without it.
	noStats bool
	// failJoins answers every n-th join with 503.
	failJoins int
	joins     int

	mu       sync.Mutex
	next     int64
	sessions map[string]*fakeSession
	byTicket map[int64]*fakeSession
	byKey    map[string]*fakeSession
	active   int
	peak     int
}

type fakeSession struct {
	id        string
	ticket    int64
	status    string
	activated time.Time
}

func inOrder(w []int64) int64 { return w[0] }
func reverse(w []int64) int64 { return w[len(w)-1] }

func newFake(capacity, slots int, pick func([]int64) int64) *fakeRoom {
	return &fakeRoom{capacity: capacity, slots: slots, pick: pick, sessions: map[string]*fakeSession{}, byTicket: map[int64]*fakeSession{}, byKey: map[string]*fakeSession{}}
}

// open counts the sessions still WAITING or ACTIVE: what a run left behind.
func (f *fakeRoom) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.sessions {
		if s.status == api.StatusWaiting || s.status == api.StatusActive {
			n++
		}
	}
	return n
}

func (f *fakeRoom) waiting() []int64 {
	var w []int64
	for t := int64(1); t <= f.next; t++ {
		if f.byTicket[t].status == api.StatusWaiting {
			w = append(w, t)
		}
	}
	return w
}

func (f *fakeRoom) view(s *fakeSession) api.Session {
	out := api.Session{SessionID: s.id, Status: s.status, Ticket: s.ticket}
	if !s.activated.IsZero() {
		t := s.activated
		out.ActivatedAt = &t
	}
	return out
}

func (f *fakeRoom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	path := r.URL.Path
	switch {
	case path == "/readyz":
		io.WriteString(w, `{"status":"ready"}`)
	case r.Method == "POST" && path == api.SessionsPath:
		time.Sleep(f.joinDelay) // the slow server under test
		f.mu.Lock()
		f.joins++
		if f.failJoins > 0 && f.joins%f.failJoins == 0 {
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the room is overloaded"}`)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if s, ok := f.byKey[key]; ok && key != "" { // a retried join gets its session back
			v := f.view(s)
			f.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(v)
			return
		}
		f.next++
		s := &fakeSession{id: room.NewSessionID(), ticket: f.next, status: api.StatusWaiting}
		f.sessions[s.id], f.byTicket[s.ticket], f.byKey[key] = s, s, s
		v := f.view(s)
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(v)
	case strings.HasSuffix(path, "/stats"):
		if f.noStats {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		f.mu.Lock()
		st := api.EventStats{Capacity: f.capacity, Active: int64(f.active), PeakActive: int64(f.peak)}
		if f.reportCapacity > 0 {
			st.Capacity = f.reportCapacity
		}
		f.mu.Unlock()
		if f.lieAboutPeak {
			st.Active, st.PeakActive = min(st.Active, int64(f.capacity)), min(st.PeakActive, int64(f.capacity))
		}
		json.NewEncoder(w).Encode(st)
	case strings.HasPrefix(path, api.SessionsPath+"/"):
		id, method, _ := strings.Cut(strings.TrimPrefix(path, api.SessionsPath+"/"), ":")
		f.mu.Lock()
		defer f.mu.Unlock()
		s, ok := f.sessions[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		switch method {
		case "":
			if s.status == api.StatusWaiting && f.active < f.slots {
				if w := f.waiting(); len(w) > 0 && f.pick(w) == s.ticket {
					s.status, s.activated = api.StatusActive, time.Now()
					f.active++
					f.peak = max(f.peak, f.active)
				}
			}
			json.NewEncoder(w).Encode(f.view(s))
		case "heartbeat":
			w.WriteHeader(http.StatusNoContent)
		case "leave":
			if s.status == api.StatusActive {
				f.active--
			}
			s.status = api.StatusLeft
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func fakeClient(t *testing.T, h http.Handler) *client.Client {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func itoa(i int) string { return strconv.Itoa(i) }
