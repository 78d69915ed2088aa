package redisstore

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// MutateGrant replaces old with new in the grant script, so a test can run
// a store with a flaw, and returns what puts the script back.
func MutateGrant(old, new string) (restore func()) {
	if !strings.Contains(grantSource, old) {
		panic("the grant script has no " + old)
	}
	kept := grantScript
	grantScript = redis.NewScript(strings.Replace(grantSource, old, new, 1))
	return func() { grantScript = kept }
}
