package main

import (
	"os"
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// closest is the candidate nearest to s by edit distance, if one is near
// enough to be the typo it looks like (at most a third of s, and 3).
func closest(s string, candidates []string) string {
	best, bestD := "", min(3, max(1, len(s)/3))+1
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// flagError is cobra's flag error as a usage error, with the flag the user
// most likely meant.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		if c := closest(name, names); c != "" {
			return usagef("%s (did you mean --%s?)", msg, c)
		}
	}
	return usageError{err}
}

// checkEnv refuses WRCTL_* environment variables no command reads, as an
// unknown config key is refused: WRCTL_ROOM_CAPCITY=5 must not start a
// room of the default capacity in silence.
func checkEnv(root *cobra.Command) error {
	known := map[string]bool{"WRCTL_CONFIG": true}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if key := keyOf(f); key != "" {
				for _, n := range envNames(key) {
					known[n] = true
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var bad []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WRCTL_") && !known[name] {
			bad = append(bad, name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	slices.Sort(names)
	var parts []string
	for _, b := range bad {
		if c := closest(b, names); c != "" {
			b += " (did you mean " + c + "?)"
		}
		parts = append(parts, b)
	}
	return usagef("unknown environment variable(s) %s: no command reads them (unset them; see configs/wrctl.yaml for every key, WRCTL_ROOM_CAPACITY for room.capacity)", strings.Join(parts, ", "))
}
