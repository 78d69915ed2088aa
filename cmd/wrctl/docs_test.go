package main

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/wrctl/wrctl/internal/room"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated docs instead of checking them (make docs)")

// manDate heads the man pages: the docs' date, not the day they were
// generated, so that generating them twice gives the same files.
var manDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// TestDocsAreCurrent: the CLI reference, the man pages and the tables of
// configuration keys, per-event settings and exit codes are generated from
// the command tree and the code; the committed ones must be what the code
// says now. `make docs` rewrites them.
func TestDocsAreCurrent(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	want := generatedDocs(t)
	var stale []string
	for _, path := range slices.Sorted(maps.Keys(want)) {
		file := filepath.Join(repo, path)
		if *updateDocs {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, want[path], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want[path]) {
			stale = append(stale, path)
		}
	}
	for _, dir := range []string{"docs/cli", "docs/man"} {
		entries, _ := os.ReadDir(filepath.Join(repo, dir))
		for _, e := range entries {
			if path := dir + "/" + e.Name(); want[path] == nil {
				if *updateDocs {
					os.Remove(filepath.Join(repo, path))
				} else {
					stale = append(stale, path+" (no such command)")
				}
			}
		}
	}
	if len(stale) > 0 {
		t.Fatalf("generated docs are stale: %s\nrun `make docs` and commit the result", strings.Join(stale, ", "))
	}
}

// TestExampleConfigNamesEveryKey: configs/wrctl.yaml, which the README
// says documents every key, has a line (set or commented out) for each key
// a command reads. (The per-event settings are listed in
// docs/configuration.md, generated, so that adding one is two files.)
func TestExampleConfigNamesEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../configs/wrctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	walk(newRootCmd(io.Discard, io.Discard), func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			key := keyOf(f)
			if key == "" || key == "client.server" || slices.Contains(missing, key) {
				return
			}
			last := key[strings.LastIndexByte(key, '.')+1:]
			if !regexp.MustCompile(`(?m)^\s*#?\s*` + regexp.QuoteMeta(last) + `:`).Match(b) {
				missing = append(missing, key)
			}
		})
	})
	if len(missing) > 0 {
		t.Fatalf("configs/wrctl.yaml does not name %s", strings.Join(missing, ", "))
	}
}

// generatedDocs is every generated file, and every file with a generated
// section, by its path in the repository.
func generatedDocs(t *testing.T) map[string][]byte {
	t.Helper()
	root := newRootCmd(io.Discard, io.Discard)
	walk(root, func(c *cobra.Command) { c.DisableAutoGenTag = true })
	dir := t.TempDir()
	for sub, gen := range map[string]func(string) error{
		"cli": func(d string) error { return doc.GenMarkdownTree(root, d) },
		"man": func(d string) error {
			return doc.GenManTree(root, &doc.GenManHeader{Title: "WRCTL", Section: "1", Source: "wrctl", Manual: "wrctl manual", Date: &manDate}, d)
		},
	} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := gen(filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string][]byte{}
	for _, sub := range []string{"cli", "man"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out["docs/"+sub+"/"+e.Name()] = b
		}
	}
	sections := map[string]string{"config-keys": configTable(root), "event-settings": eventSettingsTable(), "exit-codes": exitTable(),
		"event-settings-schema": eventSettingsSchema()}
	for _, path := range []string{"README.md", "docs/configuration.md", "docs/openapi.yaml"} {
		b, err := os.ReadFile(filepath.Join("../..", path))
		if err != nil {
			t.Fatal(err)
		}
		out[path] = fillSections(t, path, b, sections)
	}
	return out
}

// fillSections replaces what stands between each pair of markers
// <!-- generated: NAME --> and <!-- end generated --> (in YAML, the lines
// # generated: NAME and # end generated) with the section NAME.
func fillSections(t *testing.T, path string, b []byte, sections map[string]string) []byte {
	t.Helper()
	begin, end, close := "<!-- generated: ", "<!-- end generated -->", "-->"
	if strings.HasSuffix(path, ".yaml") {
		begin, end, close = "# generated: ", "# end generated", "\n"
	}
	var out strings.Builder
	rest := string(b)
	for {
		i := strings.Index(rest, begin)
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], close)
		name, _, _ := strings.Cut(strings.TrimSpace(rest[i+len(begin):i+j]), " ") // a note may follow the name
		k := strings.Index(rest[i:], end)
		body, ok := sections[name]
		if k < 0 || !ok {
			t.Fatalf("%s: generated section %q has no end marker or no generator", path, name)
		}
		head := rest[:i+j+len(close)]
		if !strings.HasSuffix(head, "\n") {
			head += "\n"
		}
		indent := rest[strings.LastIndexByte(rest[:i], '\n')+1 : i] // a YAML marker's indentation
		out.WriteString(head + body + indent + rest[i+k:i+k+len(end)])
		rest = rest[i+k+len(end):]
	}
	out.WriteString(rest)
	return []byte(out.String())
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// configTable lists every configuration key a command reads: its flag,
// environment variables, default and help, from the command tree.
func configTable(root *cobra.Command) string {
	type row struct{ flag, def, usage string }
	rows := map[string]row{}
	walk(root, func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if key := keyOf(f); key != "" {
				if _, seen := rows[key]; !seen || c.Name() == "serve" {
					rows[key] = row{"--" + f.Name, strings.Trim(f.DefValue, "[]"), f.Usage}
				}
			}
		})
	})
	var b strings.Builder
	b.WriteString("| key | flag | environment | default | meaning |\n|---|---|---|---|---|\n")
	for _, key := range slices.SortedFunc(maps.Keys(rows), func(a, b string) int {
		return cmp.Or(cmp.Compare(section(a), section(b)), cmp.Compare(a, b))
	}) {
		r := rows[key]
		def := ""
		if r.def != "" && r.def != "false" && r.def != "0" && r.def != "0s" {
			def = "`" + r.def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s | %s |\n", key, r.flag, strings.Join(envNames(key), "`, `"), def, strings.ReplaceAll(r.usage, "|", "\\|"))
	}
	return b.String()
}

// section orders keys as the config file does.
func section(key string) int {
	order := []string{"server", "queue", "aws", "store", "room", "token", "userToken", "admin", "limits", "gate", "page", "log", "client"}
	s, _, _ := strings.Cut(key, ".")
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// eventSettingsTable lists the per-event settings, from room's table.
func eventSettingsTable() string {
	var b strings.Builder
	b.WriteString("| setting | config file | `wrctl event set` | kind | meaning |\n|---|---|---|---|---|\n")
	for _, s := range room.Table() {
		fmt.Fprintf(&b, "| `%s` | `events.<id>.%s` | `--%s` | %s | %s |\n", s.Name, s.Name, s.Flag, s.Kind, s.Doc)
	}
	return b.String()
}

// eventSettingsSchema is the properties of the OpenAPI EventSettings
// schema, from room's table.
func eventSettingsSchema() string {
	types := map[room.Kind]string{
		room.KindCount: "{type: integer, minimum: 0}", room.KindDuration: `{type: string, description: "A Go duration (30s); \"\" keeps the configured one."}`,
		room.KindTime: "{type: [string, \"null\"], format: date-time}", room.KindSwitch: "{type: boolean}",
		room.KindMethod: `{type: string, enum: ["", fifo, random, passthrough, reject]}`, room.KindText: fmt.Sprintf("{type: string, maxLength: %d}", room.MaxMessageLen),
	}
	var b strings.Builder
	for _, s := range room.Table() {
		fmt.Fprintf(&b, "        %s: %s\n", s.Name, types[s.Kind])
	}
	return b.String()
}

// exitTable lists the exit codes, from exitMeanings.
func exitTable() string {
	var b strings.Builder
	b.WriteString("| code | meaning |\n|---|---|\n")
	for _, code := range slices.Sorted(maps.Keys(exitMeanings)) {
		fmt.Fprintf(&b, "| %d | %s |\n", code, exitMeanings[code])
	}
	return b.String()
}
