package server

import (
	"cmp"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

// admin guards the admin API: off (404) without a configured token, 401
// without the right bearer token, compared in constant time.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			writeProblem(w, http.StatusNotFound, api.CodeAdminOff, "", "the admin API is off on this server: start wrctl serve with --admin-token (or WRCTL_ADMIN_TOKEN, admin.token) to turn it on")
			return
		}
		if !s.isAdmin(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wrctl-admin"`)
			writeProblem(w, http.StatusUnauthorized, api.CodeUnauthorized, "", "a valid admin bearer token is required")
			return
		}
		h(w, r)
	}
}

// isAdmin reports whether the request carries the admin bearer token
// (compared in constant time); always false with the admin API off.
func (s *Server) isAdmin(r *http.Request) bool {
	got, ok := bearer(r)
	return s.cfg.AdminToken != "" && ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.AdminToken)) == 1
}

// bearer returns the credentials of an Authorization header of the Bearer
// scheme, whose name is case-insensitive (RFC 9110, section 11.1).
func bearer(r *http.Request) (string, bool) {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return cred, true
}

// adminEvents is GET /api/admin/events: every event with its settings.
func (s *Server) adminEvents(w http.ResponseWriter, r *http.Request) {
	ids, err := s.st.Events(r.Context())
	if !s.storeOK(w, err) {
		return
	}
	out := []api.AdminEvent{}
	for _, id := range ids[:min(len(ids), MaxListedEvents)] {
		ev, err := s.adminEvent(r, id)
		if !s.storeOK(w, err) {
			return
		}
		out = append(out, ev)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "total": len(ids)})
}

// adminEventGet is GET /api/admin/events/{event}.
// An event the room does not know (not configured, no runtime settings, no
// session lately) is 404 unknown_event, not a made-up idle event.
func (s *Server) adminEventGet(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminEventID(w, r)
	if !ok {
		return
	}
	ev, err := s.adminEvent(r, id)
	if !s.storeOK(w, err) {
		return
	}
	_, hasSettings, err := s.st.Settings(r.Context(), id)
	if !s.storeOK(w, err) {
		return
	}
	st := ev.Stats
	if !hasSettings && !slices.Contains(s.cfg.KnownEvents, id) && st.Joined == 0 && st.Active == 0 && st.Waiting == 0 {
		writeProblem(w, http.StatusNotFound, api.CodeUnknownEvent, "",
			fmt.Sprintf("no event %s: it is not configured, has no runtime settings and has had no session lately ('wrctl event set %s' gives it settings)", id, id))
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

// adminEventPut is PUT /api/admin/events/{event}: replaces the event's
// runtime settings (zero fields keep the configured values). Every replica
// applies them at once; a raised capacity admits waiting users right away.
// settingNames lists the settings a PUT may carry, for its errors.
var settingNames = func() string {
	var names []string
	for _, s := range room.Table() {
		names = append(names, s.Name)
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}()

func (s *Server) adminEventPut(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminEventID(w, r)
	if !ok {
		return
	}
	var st room.Settings
	if !s.decodeBody(w, r, &st, settingNames) {
		return
	}
	if err := st.Validate(); err != nil {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "", err.Error())
		return
	}
	// The schedule in force must still come in order with the configured
	// times the settings keep.
	if s.cfg.Policies != nil {
		conf := s.cfg.Policies.Policy(id).With(st)
		if err := room.ValidateSchedule(conf.OpensAt, conf.StartsAt, conf.EndsAt); err != nil {
			writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "", "with the configured schedule, "+err.Error())
			return
		}
	}
	if err := s.st.PutSettings(r.Context(), id, st); !s.storeOK(w, err) {
		return
	}
	attrs := []any{"event", id}
	for _, set := range room.Table() {
		attrs = append(attrs, set.Name, set.Format(st))
	}
	s.log.Info("event settings changed", attrs...)
	ev, err := s.adminEvent(r, id)
	if !s.storeOK(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

func (s *Server) adminEventID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("event")
	if err := room.ValidateID(id); err != nil {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "eventId", "event id "+err.Error())
		return "", false
	}
	return id, true
}

func (s *Server) adminEvent(r *http.Request, id string) (api.AdminEvent, error) {
	set, _, err := s.st.Settings(r.Context(), id)
	if err != nil {
		return api.AdminEvent{}, err
	}
	st, err := s.st.Stats(r.Context(), id)
	if err != nil {
		return api.AdminEvent{}, err
	}
	eff := st.Policy // merged by the store, as every decision sees it
	effective := room.SettingsOf(eff)
	effective.Method = cmp.Or(effective.Method, room.MethodFIFO)
	return api.AdminEvent{EventID: id, Settings: set, Effective: effective, Stats: toAPIStats(st)}, nil
}

// adminShuffle is GET /api/admin/events/{event}/shuffle: the record of the
// pre-queue's shuffle at the event's last start, to audit it.
func (s *Server) adminShuffle(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminEventID(w, r)
	if !ok {
		return
	}
	sh, ok, err := s.st.Shuffle(r.Context(), id)
	if !s.storeOK(w, err) {
		return
	}
	if !ok {
		writeProblem(w, http.StatusNotFound, api.CodeNotFound, "", "event "+id+" has had no start with a pre-queue to shuffle (or it was forgotten)")
		return
	}
	writeJSON(w, http.StatusOK, api.Shuffle{EventID: id, At: sh.At.UTC(), StartsAt: sh.StartsAt.UTC(), Algorithm: api.ShuffleAlgorithm,
		Seed: sh.Seed, Order: append([]int64{}, sh.Order...)})
}

// timePtr is t in UTC, nil for the zero time.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
