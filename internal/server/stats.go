package server

import (
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// MaxListedEvents bounds GET /api/waiting-room/events.
const MaxListedEvents = 1000

// eventStats is GET /api/waiting-room/events/{event}/stats: read-only counts
// for dashboards and the load tester's capacity audit. An event nobody has
// joined answers zeros.
func (s *Server) eventStats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("event")
	if err := room.ValidateID(id); err != nil {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "eventId", "event id "+err.Error())
		return
	}
	st, err := s.st.Stats(r.Context(), id)
	if !s.storeOK(w, err) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, toAPIStats(st))
}

// events is GET /api/waiting-room/events?limit=N: the stats of every event
// anyone has joined, by id, at most limit (default and maximum
// MaxListedEvents).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	limit := MaxListedEvents
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListedEvents {
			writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "limit", "limit must be 1.."+strconv.Itoa(MaxListedEvents))
			return
		}
		limit = n
	}
	ids, err := s.st.Events(r.Context())
	if !s.storeOK(w, err) {
		return
	}
	// Only events people have joined, or that the operator made public:
	// a scheduled drop is not revealed (its times) before anyone is in it.
	// The operator (the admin token) sees every event.
	all := s.isAdmin(r)
	out := api.EventList{Events: []api.EventStats{}}
	extra := s.cfg.PublicEvents
	if all {
		extra = s.cfg.KnownEvents // the configured events, public or not
	}
	for _, id := range extra {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		st, err := s.st.Stats(r.Context(), id)
		if !s.storeOK(w, err) {
			return
		}
		if st.Joined == 0 && st.Waiting+st.Active == 0 && !slices.Contains(s.cfg.PublicEvents, id) && !all {
			continue
		}
		if out.Total++; len(out.Events) < limit {
			out.Events = append(out.Events, toAPIStats(st))
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func toAPIStats(st room.EventStats) api.EventStats {
	out := api.EventStats{
		EventID:           st.EventID,
		Capacity:          st.Capacity,
		NewUsersPerMinute: st.Policy.NewUsersPerMinute,
		Active:            st.Active,
		Waiting:           st.Waiting,
		Joined:            st.Joined,
		Admitted:          st.Admitted,
		Left:              st.Left,
		Expired:           st.Expired,
		PeakActive:        st.PeakActive,
		AdmissionRate:     math.Round(st.AdmissionRate*1000) / 1000,
		Paused:            st.Paused,
		Phase:             string(st.Phase()),
		OpensAt:           timePtr(st.Policy.OpensAt),
		StartsAt:          timePtr(st.Policy.StartsAt),
		EndsAt:            timePtr(st.Policy.EndsAt),
		QueueingMethod:    string(st.Policy.Method),
		PreQueued:         st.PreQueued,
		Binding:           st.Binding(),
		ShuffledAt:        timePtr(st.Shuffled),
		ShuffledCount:     st.ShuffledCount,
		Now:               st.Now.UTC(),
	}
	if out.QueueingMethod == "" {
		out.QueueingMethod = string(room.MethodFIFO)
	}
	// The wait a newcomer would face: none to estimate with nobody waiting.
	if wait, ok := room.EstimatedWait(st.Waiting+1, st.AdmissionRate); ok && st.Waiting > 0 {
		sec := math.Round(wait.Seconds()*10) / 10
		out.EstimatedWaitSeconds = &sec
	}
	return out
}
