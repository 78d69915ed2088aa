package main

import (
	"strings"
	"testing"
)

func TestHelpGroupsFlagsAndListsOnlyTheCommandsExitCodes(t *testing.T) {
	t.Parallel()
	serve := wrctl(t, nil, "serve", "--help")
	for _, want := range []string{"HTTP flags:", "Queue flags:", "Store flags:", "Room flags:", "Token flags:", "Limit and admin flags:", "Logging flags:", "      --redis-tls  "} {
		if !strings.Contains(serve.stdout, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	for _, c := range []struct {
		args       []string
		has, lacks []string
	}{
		{[]string{"leave", "--help"}, []string{"3  no such session"}, []string{"5  --timeout", "9  "}},
		{[]string{"event", "--help"}, []string{"9  the server's admin API is off", "3  no such session (event get: no such event)", "11  the server refused the admin token"}, []string{"5  --timeout", "10  "}},
		{[]string{"join", "--help"}, []string{"5  --timeout passed"}, []string{"7  ", "9  "}},
	} {
		r := wrctl(t, nil, c.args...)
		for _, s := range c.has {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("%v lacks %q", c.args, s)
			}
		}
		for _, s := range c.lacks {
			if strings.Contains(r.stdout, "\n  "+s) {
				t.Errorf("%v lists %q, which it cannot return", c.args, s)
			}
		}
	}
	for _, args := range [][]string{{"serve", "--help"}, {"queue", "create", "--help"}, {"--help"}} {
		if r := wrctl(t, nil, args...); strings.Contains(r.stdout, "[=true|false]") {
			t.Errorf("%v shows boolean flags as [=true|false]", args)
		}
	}
}

// TestTyposAreRefusedWithTheLikelyName: a mistyped WRCTL_* variable is
// refused like an unknown config key (exit 2, nothing started), and a
// mistyped flag or variable is answered with the name it most likely was.
func TestTyposAreRefusedWithTheLikelyName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env        []string
		args       []string
		want, hint string
	}{
		{[]string{"WRCTL_ROOM_CAPCITY=5"}, []string{"serve", "--addr", "127.0.0.1:0"}, "WRCTL_ROOM_CAPCITY", "did you mean WRCTL_ROOM_CAPACITY?"},
		{[]string{"WRCTL_SERVR=http://127.0.0.1:1"}, []string{"status", "0123456789abcdef0123456789abcdef"}, "WRCTL_SERVR", "did you mean WRCTL_SERVER?"},
		{nil, []string{"serve", "--capcity", "5"}, "--capcity", "did you mean --capacity?"},
		{nil, []string{"join", "--evnt", "E1", "--user", "u"}, "--evnt", "did you mean --event?"},
	} {
		r := wrctl(t, c.env, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, c.hint) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit %d naming %s and %q", c.env, c.args, r.code, r.stderr, exitUsage, c.want, c.hint)
		}
	}
	// Every documented variable is known.
	if r := wrctl(t, []string{"WRCTL_SERVER=http://127.0.0.1:1", "WRCTL_ADMIN_TOKEN=x", "WRCTL_ROOM_HEARTBEAT_TTL=30s", "WRCTL_TOKEN_SECRET=s"},
		"status", "0123456789abcdef0123456789abcdef"); r.code != exitUnavailable {
		t.Errorf("documented variables: exit %d %s, want %d (the server is unreachable, nothing else wrong)", r.code, r.stderr, exitUnavailable)
	}
}
