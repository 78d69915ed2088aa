package memstore_test

import (
	"testing"

	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/room/memstore"
	"github.com/wrctl/wrctl/internal/room/roomtest"
)

func TestConformance(t *testing.T) {
	roomtest.Run(t, func(t *testing.T, p room.Policies, clock room.Clock) room.Store {
		st := memstore.New(memstore.Config{Clock: clock}, p)
		t.Cleanup(func() { st.Close() })
		return st
	})
}
