package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/internal/api"
)

func TestOverridesNamesOnlyTheSettingsThatAreSet(t *testing.T) {
	for _, c := range []struct {
		s    api.EventSettings
		want string
	}{
		{api.EventSettings{}, ""},
		{api.EventSettings{Capacity: 5, Paused: true}, "capacity,paused"},
		{api.EventSettings{WaitingTTL: api.Duration(time.Minute), MaxWaiting: 10}, "waitingTTL,maxWaiting"},
		{api.EventSettings{HeartbeatTTL: api.Duration(time.Second), MaxActive: api.Duration(time.Hour)}, "heartbeatTTL,maxActive"},
	} {
		if got := strings.Join(c.s.Overrides(), ","); got != c.want {
			t.Errorf("%+v: Overrides = %q, want %q", c.s, got, c.want)
		}
	}
}
