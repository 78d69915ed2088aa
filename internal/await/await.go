// Package await is the tests' one way to wait for a condition that
// something else makes true: it polls, and fails the test with what it
// waited for once the deadline passes. Polling is the interval of the
// check, not synchronisation: a condition that never holds fails.
package await

import (
	"testing"
	"time"
)

// interval is how often the condition is checked.
const interval = 10 * time.Millisecond

// Until polls cond until it holds, failing the test after within.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(interval)
	}
}
