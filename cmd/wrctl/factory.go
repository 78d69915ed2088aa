package main

import (
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// factory is what commands take from outside the process: the streams and
// the clock. The API clients depend on each run's flags and config
// (client.server, admin.token), so RunE puts a function building them in
// the command's Options; a test swaps it, or the whole run (runF).
type factory struct {
	In          io.Reader
	Out, ErrOut io.Writer
	Now         func() time.Time
}

func newFactory(stdout, stderr io.Writer) *factory {
	return &factory{In: os.Stdin, Out: stdout, ErrOut: stderr, Now: time.Now}
}

// isTerminal reports whether w is a terminal: the one place it is decided.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
