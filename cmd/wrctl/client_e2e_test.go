package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/room"
)

const e2eSecret = "e2e-secret-e2e-secret-e2e-secret-0123"

// clientServer runs a one-replica room for the client commands, capacity 1,
// with an HS256 token secret.
func clientServer(t *testing.T) []string {
	t.Helper()
	return []string{"WRCTL_SERVER=" + startApp(t, "--capacity", "1", "--poll-interval", "1s", "--token-secret", e2eSecret)}
}

func joinJSON(t *testing.T, env []string, event, user string, extra ...string) api.Session {
	t.Helper()
	r := wrctl(t, env, append([]string{"join", "--event", event, "--user", user, "--output", "json"}, extra...)...)
	if r.code != 0 {
		t.Fatalf("join %s: exit %d: %s", user, r.code, r.stderr)
	}
	var s api.Session
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("join --output json printed %q: %v", r.stdout, err)
	}
	return s
}

func TestClientCommandsExitCodes(t *testing.T) {
	t.Parallel()
	env := clientServer(t)
	a := joinJSON(t, env, "E1", "A", "--wait", "--timeout", "20s")
	if a.Status != api.StatusActive || a.AccessToken == "" {
		t.Fatalf("join --wait = %+v", a)
	}
	b := joinJSON(t, env, "E1", "B")
	if b.Status != api.StatusWaiting || b.Position == nil || *b.Position != 1 {
		t.Fatalf("second join = %+v", b)
	}
	unknown := room.NewSessionID()
	cases := []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"status of a waiting session", env, []string{"status", b.SessionID}, exitOK},
		{"heartbeat", env, []string{"heartbeat", a.SessionID}, exitOK},
		{"status --wait times out", env, []string{"status", b.SessionID, "--wait", "--timeout", "1500ms"}, exitTimeout},
		{"status of an unknown session", env, []string{"status", unknown}, exitNotFound},
		{"heartbeat of an unknown session", env, []string{"heartbeat", unknown}, exitNotFound},
		{"leave of an unknown session", env, []string{"leave", unknown}, exitNotFound},
		{"malformed session id", env, []string{"status", "not-an-id"}, exitUsage},
		{"no session id", env, []string{"status"}, exitUsage},
		{"join without --user", env, []string{"join", "--event", "E1"}, exitUsage},
		{"join with a bad event id", env, []string{"join", "--event", "E/1", "--user", "U"}, exitUsage},
		{"bad --server", nil, []string{"status", b.SessionID, "--server", "localhost"}, exitUsage},
		{"bad --output", env, []string{"status", b.SessionID, "--output", "yaml"}, exitUsage},
		{"server unreachable", []string{"WRCTL_SERVER=http://127.0.0.1:1"}, []string{"status", b.SessionID}, exitUnavailable},
		{"leave", env, []string{"leave", a.SessionID}, exitOK},
		{"leave twice", env, []string{"leave", a.SessionID}, exitOK},
		{"status of a left session", env, []string{"status", a.SessionID}, exitEnded},
		{"heartbeat of a left session", env, []string{"heartbeat", a.SessionID}, exitEnded},
		{"status --wait reaches ACTIVE", env, []string{"status", b.SessionID, "--wait", "--timeout", "20s"}, exitOK},
		{"token verify with the secret", append(env, "WRCTL_TOKEN_SECRET="+e2eSecret), []string{"token", "verify", a.AccessToken}, exitOK},
		{"token verify with a wrong secret", append(env, "WRCTL_TOKEN_SECRET=wrong-wrong-wrong-wrong-wrong-wrong"), []string{"token", "verify", a.AccessToken}, exitInvalidToken},
		{"token verify for another event", append(env, "WRCTL_TOKEN_SECRET="+e2eSecret), []string{"token", "verify", a.AccessToken, "--event", "E2"}, exitInvalidToken},
	}
	for _, c := range cases { // in order: the cases move the line
		r := wrctl(t, c.env, c.args...)
		if r.code != c.code {
			t.Fatalf("%s: exit %d, want %d\nstdout %s\nstderr %s", c.name, r.code, c.code, r.stdout, r.stderr)
		}
		if c.code != exitOK && !strings.Contains(r.stderr, "wrctl:") {
			t.Fatalf("%s: no error message on stderr: %q", c.name, r.stderr)
		}
	}
}

func TestStatusJSONAndPositions(t *testing.T) {
	t.Parallel()
	env := clientServer(t)
	first := joinJSON(t, env, "E1", "first", "--wait", "--timeout", "20s")
	var waiting []api.Session
	for _, u := range []string{"u1", "u2", "u3"} {
		waiting = append(waiting, joinJSON(t, env, "E1", u))
	}
	for i, s := range waiting {
		r := wrctl(t, env, "status", s.SessionID, "--output", "json")
		var got api.Session
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
			t.Fatalf("status: exit %d %q", r.code, r.stdout)
		}
		if got.Position == nil || *got.Position != int64(i+1) {
			t.Fatalf("user %d position %v, want %d", i, got.Position, i+1)
		}
		if got.EstimatedWaitSeconds == nil || *got.EstimatedWaitSeconds <= 0 {
			t.Fatalf("user %d estimate %v after an admission", i, got.EstimatedWaitSeconds)
		}
		if got.AccessToken != "" {
			t.Fatal("token while WAITING")
		}
	}
	// The person ahead leaves the line: everyone behind moves up.
	if r := wrctl(t, env, "leave", waiting[0].SessionID); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := wrctl(t, env, "status", waiting[2].SessionID, "--output", "json")
	var got api.Session
	json.Unmarshal([]byte(r.stdout), &got)
	if got.Position == nil || *got.Position != 2 {
		t.Fatalf("position after the first in line left = %v, want 2", got.Position)
	}
	_ = first
}

func TestShellScriptJoinsWaitsAndUsesTheToken(t *testing.T) {
	t.Parallel()
	env := clientServer(t)
	// The README's script, with nothing but wrctl and the shell.
	script := `set -eu
token=$(wrctl join --event launch --user alice --wait --timeout 30s --output token)
wrctl token verify "$token" --event launch --output json
`
	dir := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(dir, "wrctl")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = cleanEnv(append(env, "PATH="+dir+":"+os.Getenv("PATH"), "WRCTL_TOKEN_SECRET="+e2eSecret)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("script: %v: %s", err, out)
	}
	var claims struct {
		Sid, Evt, Sub, Iss string
	}
	if err := json.Unmarshal(out, &claims); err != nil || claims.Evt != "launch" || claims.Sub != "alice" || claims.Iss != "wrctl" || claims.Sid == "" {
		t.Fatalf("claims %q: %v", out, err)
	}
}

func TestEd25519KeyFileAndJWKSVerification(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "token.pem")
	gen := wrctl(t, nil, "token", "keygen", "--out", keyFile)
	if gen.code != 0 || !strings.Contains(gen.stdout, "BEGIN PUBLIC KEY") || !strings.Contains(gen.stderr, "private key to "+keyFile) ||
		strings.Contains(gen.stdout, "wrote") {
		t.Fatalf("keygen: exit %d %q %s; want the public key on stdout and what was written on stderr", gen.code, gen.stdout, gen.stderr)
	}
	if again := wrctl(t, nil, "token", "keygen", "--out", keyFile); again.code != exitUsage {
		t.Fatalf("keygen over an existing file: exit %d", again.code)
	}
	pubFile := filepath.Join(dir, "token.pub.pem")
	os.WriteFile(pubFile, []byte(gen.stdout), 0o600)
	s := struct{ URL string }{startApp(t, "--token-key-file", keyFile)}
	env := []string{"WRCTL_SERVER=" + s.URL}
	r := wrctl(t, env, "join", "--event", "E1", "--user", "U1", "--wait", "--timeout", "20s", "--output", "token")
	if r.code != 0 {
		t.Fatalf("join: %d %s", r.code, r.stderr)
	}
	token := strings.TrimSpace(r.stdout)
	for _, args := range [][]string{
		{"token", "verify", token},                          // the server's published key set
		{"token", "verify", token, "--public-key", pubFile}, // the key file
	} {
		if v := wrctl(t, env, args...); v.code != 0 || !strings.Contains(v.stdout, "valid") {
			t.Fatalf("%v: exit %d %s %s", args, v.code, v.stdout, v.stderr)
		}
	}
	other := wrctl(t, nil, "token", "keygen", "--out", filepath.Join(dir, "other.pem"))
	otherPub := filepath.Join(dir, "other.pub.pem")
	os.WriteFile(otherPub, []byte(other.stdout), 0o600)
	if v := wrctl(t, env, "token", "verify", token, "--public-key", otherPub); v.code != exitInvalidToken {
		t.Fatalf("verify with another key: exit %d", v.code)
	}
	// A shared secret for an EdDSA token: the message says what is needed.
	v := wrctl(t, env, "token", "verify", token, "--secret", "0123456789abcdef0123456789abcdef")
	if v.code != exitInvalidToken || !strings.Contains(v.stderr, "signed with EdDSA") || !strings.Contains(v.stderr, "--public-key") {
		t.Fatalf("verify an EdDSA token with --secret: exit %d %s", v.code, v.stderr)
	}
	// keygen into a missing directory writes nothing anywhere.
	pubOut := filepath.Join(dir, "pub-for-missing.pem")
	k := wrctl(t, nil, "token", "keygen", "--out", filepath.Join(dir, "missing", "k.pem"), "--public-out", pubOut)
	if k.code != exitUsage || !strings.Contains(k.stderr, "does not exist") {
		t.Fatalf("keygen into a missing directory: exit %d %s", k.code, k.stderr)
	}
	if _, err := os.Stat(pubOut); err == nil {
		t.Fatal("keygen left a public key behind after refusing")
	}
}

// TestWaitTellsHowToResumeOrLeave: join --wait names the session at once;
// stopped by --timeout or Ctrl-C, it says how to resume or leave, and the
// place is still there.
func TestWaitTellsHowToResumeOrLeave(t *testing.T) {
	t.Parallel()
	s := struct{ URL string }{startApp(t, "--capacity", "1")}
	env := []string{"WRCTL_SERVER=" + s.URL}
	joinJSON(t, env, "W1", "inside", "--wait", "--timeout", "20s") // fills the event

	r := wrctl(t, env, "join", "--event", "W1", "--user", "patient", "--wait", "--timeout", "1s")
	if r.code != exitTimeout || !strings.Contains(r.stderr, "wrctl status ") || !strings.Contains(r.stderr, "wrctl leave ") {
		t.Fatalf("join --wait past --timeout: exit %d %s", r.code, r.stderr)
	}

	cmd := exec.Command(binary, "join", "--event", "W1", "--user", "ctrl-c", "--wait")
	cmd.Env = cleanEnv(env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "session ") {
		t.Fatalf("first stderr line %q, want the session id", sc.Text())
	}
	id := strings.Fields(sc.Text())[1]
	id = strings.TrimSuffix(id, ":")
	cmd.Process.Signal(os.Interrupt)
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(rest.String(), "wrctl status "+id+" --wait") {
		t.Fatalf("Ctrl-C during join --wait: exit %d %s", code, rest.String())
	}
	if st := wrctl(t, env, "status", id, "--output", "json"); st.code != 0 || !strings.Contains(st.stdout, `"WAITING"`) {
		t.Fatalf("the interrupted session: exit %d %s", st.code, st.stdout)
	}
}

// TestJoinShowsItsKeyAndASecondJoinWithoutItHasItsOwnExitCode: join names
// the Idempotency-Key it sent (text and JSON), which gets the same place
// back; a join of the same user without it is refused with exit 10 and a
// hint, not 4 (which means the session ended).
func TestJoinShowsItsKeyAndASecondJoinWithoutItHasItsOwnExitCode(t *testing.T) {
	t.Parallel()
	env := clientServer(t)
	r := wrctl(t, env, "join", "--event", "K1", "--user", "kim", "--output", "json")
	var first struct {
		api.Session
		IdempotencyKey string `json:"idempotencyKey"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &first) != nil || first.IdempotencyKey == "" {
		t.Fatalf("join --output json: exit %d %s: want an idempotencyKey", r.code, r.stdout)
	}
	again := wrctl(t, env, "join", "--event", "K1", "--user", "kim", "--idempotency-key", first.IdempotencyKey)
	if again.code != 0 || !strings.Contains(again.stdout, first.SessionID) || !strings.Contains(again.stdout, first.IdempotencyKey) {
		t.Fatalf("join with the printed key: exit %d %s", again.code, again.stdout)
	}
	other := wrctl(t, env, "join", "--event", "K1", "--user", "kim")
	if other.code != exitAlreadyIn || !strings.Contains(other.stderr, "--idempotency-key") {
		t.Fatalf("a second join without the key: exit %d %s; want %d with a hint", other.code, other.stderr, exitAlreadyIn)
	}
}
