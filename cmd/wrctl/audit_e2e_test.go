package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/await"
)

// TestAuditProvesARehearsedOnSale: the real binary, signing with an
// Ed25519 key, runs a scheduled on-sale; wrctl audit fetches the event's
// log and proves it (exit 0), tells a session its own story, and refuses
// the same log with one digit changed (exit 8).
func TestAuditProvesARehearsedOnSale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "token.pem"), filepath.Join(dir, "token.pub.pem")
	if r := wrctl(t, nil, "token", "keygen", "--out", key, "--public-out", pub); r.code != 0 {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	s := startServe(t, []string{"WRCTL_ADMIN_TOKEN=" + e2eAdminToken}, "--addr", "127.0.0.1:0", "--capacity", "2", "--token-key-file", key)
	env := []string{"WRCTL_SERVER=" + s.URL}
	admin := append(env, "WRCTL_ADMIN_TOKEN="+e2eAdminToken)
	if r := wrctl(t, admin, "event", "set", "DROP", "--starts-at", "+1h"); r.code != 0 {
		t.Fatalf("event set: %d %s", r.code, r.stderr)
	}
	var ids []string
	for i := range 6 {
		ids = append(ids, joinJSON(t, env, "DROP", fmt.Sprint("u", i)).SessionID)
	}
	mine := ids[3]
	if r := wrctl(t, admin, "event", "set", "DROP", "--starts-at", "now"); r.code != 0 {
		t.Fatalf("event set --starts-at now: %d %s", r.code, r.stderr)
	}
	// Everyone is let in, two at a time, leaving as soon as admitted.
	left := map[string]bool{}
	await.Until(t, 30*time.Second, "everyone admitted and gone", func() bool {
		for _, id := range ids {
			if !left[id] && s.status(id).Status == "ACTIVE" {
				if resp, err := http.Post(s.URL+api.SessionsPath+"/"+id+":leave", "", nil); err == nil {
					resp.Body.Close()
					left[id] = true
				}
			}
		}
		return len(left) == len(ids)
	})

	r := wrctl(t, env, "audit", "DROP", "--session", mine)
	if r.code != 0 || !strings.Contains(r.stdout, "signature   verified") || !strings.Contains(r.stdout, "6 joined (6 in the pre-queue), 6 admitted") ||
		!strings.Contains(r.stdout, "proven") || !strings.Contains(r.stdout, "place ") {
		t.Fatalf("audit: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	_, log := get(t, s.URL+api.EventAuditPath("DROP"))
	file := filepath.Join(dir, "drop.jsonl")
	os.WriteFile(file, log, 0o600)
	if r := wrctl(t, nil, "audit", file, "--public-key", pub, "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `"signed":true`) {
		t.Fatalf("audit of the saved log: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	tampered := bytes.Replace(log, []byte(`"admission":2`), []byte(`"admission":3`), 1)
	os.WriteFile(file, tampered, 0o600)
	if r := wrctl(t, nil, "audit", file, "--public-key", pub); r.code != exitThreshold || !strings.Contains(r.stderr, "broken") {
		t.Fatalf("audit of a tampered log: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := wrctl(t, env, "audit", "NEVER"); r.code != exitNotFound {
		t.Fatalf("audit of an event with no log: exit %d %s", r.code, r.stderr)
	}
	if _, err := audit.Verify(bytes.NewReader(log), audit.Options{}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
