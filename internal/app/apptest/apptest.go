// Package apptest runs a waiting room in process for tests: app.New on the
// given config, Run in the background, and a clean stop when the test ends.
package apptest

import (
	"context"
	"testing"

	"github.com/wrctl/wrctl/internal/app"
)

// Start runs the app cfg describes until the test ends; cfg.Addr should be
// 127.0.0.1:0.
func Start(tb testing.TB, cfg app.Config) *app.App {
	tb.Helper()
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return a
}
