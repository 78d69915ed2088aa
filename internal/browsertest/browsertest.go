// Package browsertest starts Debian's headless Chromium for tests that look
// at a page as a person would: `make test` installs it.
package browsertest

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser is one Chromium with a profile of its own (its own cookies), and
// the console errors and exceptions its pages raised.
type Browser struct {
	Ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	problems []string
}

// New starts a browser of width×height, closed by t.Cleanup (or Close).
func New(t testing.TB, width, height int) *Browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run the tests with `make test`, which installs Debian's chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	b := &Browser{Ctx: ctx, cancel: func() { cancelTimeout(); cancelCtx(); cancelAlloc() }}
	t.Cleanup(b.Close)
	err = chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				msg := string(e.Type) + ": console"
				for _, a := range e.Args {
					msg += " " + string(a.Value)
				}
				b.problems = append(b.problems, msg)
			}
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, "exception: "+e.ExceptionDetails.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Problems are the console errors, warnings and exceptions seen so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Close ends the browser as a person closing it would: no more requests.
func (b *Browser) Close() { b.cancel() }
