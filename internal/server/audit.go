package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/room"
)

// auditPage is how many entries are read from the store at a time.
const auditPage = 1000

// eventAudit is GET /api/waiting-room/events/{event}/audit?from=SEQ: the
// event's audit log, public, as JSON Lines chained with SHA-256 and ended
// by a head line signed with the room's Ed25519 key when it has one
// (docs/audit.md). It is streamed page by page; from resumes a log read
// before (the chain is still computed from the first entry, so the prev
// of the first line sent links to what the reader has).
func (s *Server) eventAudit(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("event")
	if err := room.ValidateID(id); err != nil {
		writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "eventId", "event id "+err.Error())
		return
	}
	from := int64(1)
	if v := r.URL.Query().Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeProblem(w, http.StatusBadRequest, api.CodeInvalidInput, "from", "from must be an entry's seq, 1 or more")
			return
		}
		from = n
	}
	first, err := s.st.Audit(r.Context(), id, 1, auditPage)
	if !s.storeOK(w, err) {
		return
	}
	if len(first) == 0 {
		writeProblem(w, http.StatusNotFound, api.CodeNotFound, "", "event "+id+" has no audit log (nobody joined it and it has no settings, or it was forgotten)")
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	bw := bufio.NewWriterSize(w, 64<<10)
	prev, seq, page := audit.Genesis, int64(0), first
	for len(page) > 0 {
		lines, err := audit.Chain(page, seq+1, prev)
		if err != nil {
			s.log.Error("audit log", "event", id, "err", err)
			return
		}
		for i, line := range lines {
			if seq+1+int64(i) >= from {
				bw.Write(line)
			}
		}
		seq += int64(len(page))
		prev = lastHash(lines)
		if len(page) < auditPage {
			break
		}
		if page, err = s.st.Audit(r.Context(), id, seq+1, auditPage); err != nil {
			s.log.Error("audit log", "event", id, "err", err)
			return // the reader sees no head: a cut log, never a wrong one
		}
		bw.Flush()
	}
	head := audit.NewHead(id, seq, prev, s.signer.PrivateKey(), s.signer.KeyID())
	line, _ := jsonLine(head)
	bw.Write(line)
	bw.Flush()
}

// lastHash is the hash of the last of the chained lines.
func lastHash(lines [][]byte) string {
	var e struct {
		Hash string `json:"hash"`
	}
	json.Unmarshal(lines[len(lines)-1], &e)
	return e.Hash
}

func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}
