// Package config is how each part of wrctl says which of its settings
// cannot work: a FieldError names the configuration key (the config
// file's, also a WRCTL_* variable and a flag of wrctl serve) and says why.
// Each part's Config validates itself with a Check; the app gathers them.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// FieldError is a setting that cannot work.
type FieldError struct {
	Key string // the config key, e.g. room.capacity, or events.<id>.capacity
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// FieldErrors are every setting that cannot work.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

// Check gathers the settings at fault; its zero value is ready.
type Check struct{ errs FieldErrors }

// Bad says the setting key cannot work, and why.
func (c *Check) Bad(key, format string, a ...any) {
	c.errs = append(c.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
}

// AtLeast checks that the duration key is at least floor.
func (c *Check) AtLeast(key string, d, floor time.Duration) {
	if d < floor {
		c.Bad(key, "must be at least %s, got %s", floor, d)
	}
}

// Between checks that the duration key is within lo..hi.
func (c *Check) Between(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		c.Bad(key, "must be between %s and %s, got %s", lo, hi, d)
	}
}

// NotNegative checks the count key.
func (c *Check) NotNegative(key string, n int) {
	if n < 0 {
		c.Bad(key, "must not be negative, got %d", n)
	}
}

// Add takes in another part's errors: its FieldErrors as they are, any
// other error as the setting key's.
func (c *Check) Add(key string, err error) {
	var fes FieldErrors
	var fe *FieldError
	switch {
	case err == nil:
	case errors.As(err, &fes):
		c.errs = append(c.errs, fes...)
	case errors.As(err, &fe):
		c.errs = append(c.errs, fe)
	default:
		c.Bad(key, "%v", err)
	}
}

// Err is the settings at fault as FieldErrors, or nil.
func (c *Check) Err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}
