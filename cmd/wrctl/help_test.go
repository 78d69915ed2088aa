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
		{[]string{"event", "--help"}, []string{"9  the server's admin API is off"}, []string{"3  no such session"}},
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
