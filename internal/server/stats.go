package server

import (
	"math"
	"net/http"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// eventStats is GET /api/waiting-room/events/{event}/stats: read-only counts
// for dashboards and the load tester's capacity audit. An event nobody has
// joined answers zeros.
func (s *Server) eventStats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("event")
	if err := room.ValidateID(id); err != nil {
		writeProblem(w, http.StatusBadRequest, CodeInvalidInput, "eventId", "event id "+err.Error())
		return
	}
	st, err := s.st.Stats(r.Context(), id, s.Now())
	if !s.storeOK(w, err) {
		return
	}
	out := api.EventStats{
		EventID:       st.EventID,
		Capacity:      st.Capacity,
		Active:        st.Active,
		Waiting:       st.Waiting,
		Joined:        st.Joined,
		Admitted:      st.Admitted,
		Left:          st.Left,
		Expired:       st.Expired,
		PeakActive:    st.PeakActive,
		AdmissionRate: math.Round(st.AdmissionRate*1000) / 1000,
	}
	if wait, ok := room.EstimatedWait(st.Waiting+1, st.AdmissionRate); ok {
		sec := math.Round(wait.Seconds()*10) / 10
		out.EstimatedWaitSeconds = &sec
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}
