package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/wrctl/wrctl/internal/app"
)

// Every flag is bound by hand to a field of its command's options. A flag
// that is also a configuration key carries it (the key argument of bind,
// or keyFlag): before the command runs, loadKeys sets each such flag the
// user did not give from its WRCTL_* variable or the config file, in that
// order, so the field holds the value in force and nothing reads viper
// afterwards.
const keyAnnotation = "wrctl_key"

// flags binds the flags of one titled group of a command's help ("" for
// none).
type flags struct {
	cmd   *cobra.Command
	group string
}

// flagGroup starts a group of flags, listed in --help in the order the
// groups are made.
func flagGroup(cmd *cobra.Command, name string) flags {
	seen := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if g := f.Annotations[groupAnnotation]; len(g) == 1 {
			seen[g[0]] = true
		}
	})
	if len(seen) == 0 {
		cmd.SetUsageTemplate(strings.Replace(cmd.UsageTemplate(), localFlagsSection, "{{groupedFlags .}}", 1))
	}
	// The letter keeps the groups in the order they were made.
	return flags{cmd, string(rune('a'+len(seen))) + name + " flags"}
}

// bind adds the flag name, bound to p, with its default written as on the
// command line; with a key, the flag sets that configuration key too.
func (g flags) bind(p any, name, key, def, usage string) {
	f := g.cmd.Flags()
	switch p := p.(type) {
	case *string:
		f.StringVar(p, name, def, usage)
	case *bool:
		f.BoolVar(p, name, def == "true", usage)
	case *int:
		n, _ := strconv.Atoi(cmp.Or(def, "0"))
		f.IntVar(p, name, n, usage)
	case *float64:
		x, _ := strconv.ParseFloat(cmp.Or(def, "0"), 64)
		f.Float64Var(p, name, x, usage)
	case *time.Duration:
		d, _ := time.ParseDuration(cmp.Or(def, "0s"))
		f.DurationVar(p, name, d, usage)
	case *[]string:
		// Repeatable and comma-separated.
		var d []string
		if def != "" {
			d = strings.Split(def, ",")
		}
		f.StringSliceVar(p, name, d, usage)
	default:
		panic(fmt.Sprintf("flag --%s: no flag type for %T", name, p))
	}
	if key != "" {
		keyFlag(g.cmd, name, key)
	}
	if g.group != "" {
		f.SetAnnotation(name, groupAnnotation, []string{g.group})
	}
}

// keyFlag makes flag name of cmd the one that sets key.
func keyFlag(cmd *cobra.Command, name, key string) {
	if err := cmd.Flags().SetAnnotation(name, keyAnnotation, []string{key}); err != nil {
		panic(err)
	}
}

// loadKeys sets every keyed flag of cmd the user did not give from its
// WRCTL_* variable or the config file, naming the flag of a bad value.
func loadKeys(cmd *cobra.Command) error {
	v, err := newViper(cmd)
	if err != nil {
		return err
	}
	var errs []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if list, ok := f.Value.(pflag.SliceValue); ok {
			// "a:1, b:2" is two entries, with no space.
			defer func() { list.Replace(splitList(list.GetSlice())) }()
		}
		key := keyOf(f)
		if key == "" || f.Changed || !v.IsSet(key) {
			return
		}
		raw := strings.Join(splitList(v.Get(key)), ",")
		if f.Value.Type() != "stringSlice" {
			raw = strings.TrimSpace(fmt.Sprint(v.Get(key)))
		}
		if err := f.Value.Set(raw); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q %s", flagFor(cmd, key), raw, typeHint[f.Value.Type()]))
		}
	})
	if len(errs) > 0 {
		return usagef("%s", strings.Join(errs, "; "))
	}
	return nil
}

// typeHint says what a flag's value must be.
var typeHint = map[string]string{
	"bool":     "is not true or false",
	"int":      "is not a whole number",
	"float64":  "is not a number",
	"duration": "is not a duration (e.g. 30s, 5m)",
}

// settingsError names the flag behind each setting app found at fault.
func settingsError(cmd *cobra.Command, err error) error {
	var fes app.FieldErrors
	var fe *app.FieldError
	switch {
	case errors.As(err, &fes):
	case errors.As(err, &fe):
		fes = app.FieldErrors{fe}
	default:
		return err
	}
	msgs := make([]string, len(fes))
	for i, e := range fes {
		msgs[i] = flagFor(cmd, e.Key) + ": " + e.Msg
	}
	return usagef("invalid configuration:\n  %s", strings.Join(msgs, "\n  "))
}

// keyOf returns the configuration key a flag sets, if any.
func keyOf(f *pflag.Flag) string {
	if k := f.Annotations[keyAnnotation]; len(k) == 1 {
		return k[0]
	}
	return ""
}

// flagFor names a key as "--flag (key)" when cmd has a flag for it.
func flagFor(cmd *cobra.Command, key string) string {
	name := key
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if keyOf(f) == key {
			name = "--" + f.Name + " (" + key + ")"
		}
	})
	return name
}

// envAliases are documented short environment names, read first.
var envAliases = map[string][]string{
	"client.server": {"WRCTL_SERVER"},
}

// envNames gives a key's environment variables: room.heartbeatTTL is read
// from WRCTL_ROOM_HEARTBEAT_TTL and WRCTL_ROOM_HEARTBEATTTL.
func envNames(key string) []string {
	var snake strings.Builder
	for i, r := range key {
		switch {
		case r == '.':
			snake.WriteByte('_')
		case r >= 'A' && r <= 'Z':
			if i > 0 && key[i-1] >= 'a' && key[i-1] <= 'z' {
				snake.WriteByte('_')
			}
			snake.WriteRune(r)
		default:
			snake.WriteString(strings.ToUpper(string(r)))
		}
	}
	names := []string{"WRCTL_" + snake.String()}
	if flat := "WRCTL_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_")); flat != names[0] {
		names = append(names, flat)
	}
	return append(envAliases[key], names...)
}

type viperKey struct{}

// newViper returns the run's viper: built once per command run, with each
// of the command's keys bound to its flag and its WRCTL_* names, then the
// config file read and checked for unknown keys. One per run, so flags of
// the same name on different commands never clobber each other
// (spf13/viper#233) and the config file is read once.
func newViper(cmd *cobra.Command) (*viper.Viper, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background() // a command not run through Execute (tests)
	}
	if v, ok := ctx.Value(viperKey{}).(*viper.Viper); ok {
		return v, nil
	}
	v := viper.New()
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if key := keyOf(f); key != "" && err == nil {
			err = v.BindEnv(append([]string{key}, envNames(key)...)...)
		}
	})
	if err != nil {
		return nil, err
	}
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = os.Getenv("WRCTL_CONFIG")
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, usagef("--config %s: %v", path, err)
		}
		// Every command refuses a key no command reads: a typo in a
		// client's config must not pass silently either.
		if err := unknownKeys(cmd.Root(), v); err != nil {
			return nil, err
		}
	}
	cmd.SetContext(context.WithValue(ctx, viperKey{}, v))
	return v, nil
}

// unknownKeys refuses a config file key no command reads: a typo such as
// room.capcity would otherwise be ignored silently during an on-sale.
func unknownKeys(root *cobra.Command, v *viper.Viper) error {
	known := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { known[strings.ToLower(keyOf(f))] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var bad []string
	for _, k := range v.AllKeys() {
		if !known[k] && !strings.HasPrefix(k, "events.") {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return usagef("--config %s: unknown key(s) %s (see configs/wrctl.yaml for every key)", v.ConfigFileUsed(), strings.Join(bad, ", "))
	}
	return nil
}

// splitList reads a list given as a YAML list or a comma-separated string.
func splitList(v any) []string {
	var raw []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			raw = append(raw, fmt.Sprint(e))
		}
	case []string:
		raw = x
	default:
		raw = strings.Split(fmt.Sprint(x), ",")
	}
	var out []string
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
