package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Long flag lists show in titled groups, as kubectl and gh show them: a
// field's group tag (see bindFields) puts its flag in one.
const groupAnnotation = "wrctl_group"

// localFlagsSection is the part of cobra's usage template that lists a
// command's own flags in one block.
const localFlagsSection = `{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}`

func init() { cobra.AddTemplateFunc("groupedFlags", groupedFlags) }

// groupedFlags renders a command's local flags group by group; flags in no
// group come last under "Other flags".
func groupedFlags(c *cobra.Command) string {
	sets := map[string]*pflag.FlagSet{}
	var order []string
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		key := "zOther flags"
		if g := f.Annotations[groupAnnotation]; len(g) == 1 {
			key = g[0]
		}
		if sets[key] == nil {
			sets[key] = pflag.NewFlagSet(key, pflag.ContinueOnError)
			order = append(order, key)
		}
		sets[key].AddFlag(f)
	})
	slices.Sort(order)
	var b strings.Builder
	for _, key := range order {
		b.WriteString("\n\n" + key[1:] + ":\n")
		b.WriteString(strings.TrimRight(sets[key].FlagUsages(), " \n"))
	}
	return b.String()
}
