package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagGroup is a titled section of a command's flags in its help, as
// kubectl and gh show long flag lists.
type flagGroup struct {
	title string
	names []string
}

const groupAnnotation = "wrctl_group"

// localFlagsSection is the part of cobra's usage template that lists a
// command's own flags in one block.
const localFlagsSection = `{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}`

func init() { cobra.AddTemplateFunc("groupedFlags", groupedFlags) }

// groupFlags shows cmd's flags in groups; flags named in no group come last
// under "Other flags".
func groupFlags(cmd *cobra.Command, groups []flagGroup) {
	for i, g := range groups {
		for _, n := range g.names {
			if cmd.Flags().Lookup(n) == nil {
				panic("flag group " + g.title + ": no flag --" + n)
			}
			cmd.Flags().SetAnnotation(n, groupAnnotation, []string{string(rune('a'+i)) + g.title})
		}
	}
	cmd.SetUsageTemplate(strings.Replace(cmd.UsageTemplate(), localFlagsSection, "{{groupedFlags .}}", 1))
}

// groupedFlags renders a command's local flags section by section.
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
