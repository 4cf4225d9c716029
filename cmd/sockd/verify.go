package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/sockd/sockd/units"
)

// pathList is a repeatable string flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ":") }
func (p *pathList) Set(s string) error { *p = append(*p, s); return nil }

// Verify implements `sockd verify [flags] PATH...`: it loads the units named
// by PATH (unit files, or directories of them) exactly as the daemon does and
// prints every problem as "file:line: Directive=: message", then a summary.
// It exits 0 when no unit is refused (and, with --strict, nothing warned), 1
// otherwise, 2 on usage errors.
func Verify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sockd verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "treat warnings as errors")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	user := fs.Bool("user", false, "use the user manager's specifier values (%t, %h, ...)")
	list := fs.Bool("list-directives", false, "print every directive sockd knows and its status, then exit")
	var search pathList
	fs.Var(&search, "search-path", "extra unit `DIR` used to find paired units, not itself checked (repeatable, lowest priority)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sockd verify [--strict] [--json] [--user] [--search-path DIR]... PATH...\n\n")
		fmt.Fprintf(stderr, "Check .socket and .service files (or directories of them) and report problems as\nfile:line: messages. Units in the same directory are used to pair sockets with services.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *list {
		return listDirectives(stdout, *asJSON)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}

	var dirs []string
	seenDir := map[string]bool{}
	addDir := func(d string) {
		if !seenDir[d] {
			seenDir[d] = true
			dirs = append(dirs, d)
		}
	}
	selected := map[string]bool{} // unit names to report on
	allIn := map[string]bool{}    // directories whose units are all checked
	for _, p := range fs.Args() {
		// Unit paths are absolute, as on systemd's search path: %y/%Y and
		// relative references resolve the same from any directory.
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		st, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(stderr, "sockd verify: %v\n", err)
			return 2
		}
		if st.IsDir() {
			addDir(filepath.Clean(p))
			allIn[filepath.Clean(p)] = true
			continue
		}
		name := filepath.Base(p)
		if !strings.HasSuffix(name, ".socket") && !strings.HasSuffix(name, ".service") {
			fmt.Fprintf(stderr, "sockd verify: %s: not a .socket or .service file\n", p)
			return 2
		}
		addDir(filepath.Dir(filepath.Clean(p)))
		selected[name] = true
	}
	for _, d := range search {
		addDir(filepath.Clean(d))
	}

	spec := units.NewSpecifierContext("", *user)
	if *user && spec.RuntimeDir == "" {
		// Outside a user session: assume the runtime directory a user
		// manager would have, so that %t still verifies.
		spec.RuntimeDir = fmt.Sprintf("/run/user/%d", os.Getuid())
	}
	set, diags := units.Load(dirs, units.LoadOptions{UserMode: *user, Specifiers: spec})

	// Units checked: the selected ones, everything in directory arguments,
	// and the services the selected sockets activate.
	checked := map[string]bool{}
	for n := range selected {
		checked[n] = true
	}
	for d := range allIn {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if n := e.Name(); strings.HasSuffix(n, ".socket") || strings.HasSuffix(n, ".service") {
				checked[n] = true
			}
		}
	}
	for _, s := range set.Sockets {
		if checked[s.Name] {
			checked[s.Service] = true
			if t := units.TemplateOf(s.Service); t != "" {
				checked[t] = true
			}
		}
	}

	var shown units.Diagnostics
	refused := map[string]bool{}
	for _, d := range diags {
		if d.Unit != "" && !checked[d.Unit] {
			continue
		}
		if d.Severity == units.Warning && *strict {
			d.Severity = units.Error
		}
		if d.Severity == units.Error && d.Unit != "" {
			refused[d.Unit] = true
		}
		shown = append(shown, d)
	}
	nerr, nwarn := shown.Count(units.Error), shown.Count(units.Warning)

	if *asJSON {
		type jd struct {
			File      string         `json:"file"`
			Line      int            `json:"line,omitempty"`
			Severity  units.Severity `json:"severity"`
			Unit      string         `json:"unit,omitempty"`
			Directive string         `json:"directive,omitempty"`
			Message   string         `json:"message"`
		}
		out := struct {
			Units       int      `json:"units"`
			Refused     []string `json:"refused"`
			Errors      int      `json:"errors"`
			Warnings    int      `json:"warnings"`
			OK          bool     `json:"ok"`
			Diagnostics []jd     `json:"diagnostics"`
		}{Units: len(checked), Refused: sortedKeys(refused), Errors: nerr, Warnings: nwarn, OK: nerr == 0, Diagnostics: []jd{}}
		for _, d := range shown {
			out.Diagnostics = append(out.Diagnostics, jd{d.Pos.File, d.Pos.Line, d.Severity, d.Unit, d.Directive, d.Msg})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "sockd verify: %v\n", err)
			return 2
		}
	} else {
		for _, d := range shown {
			fmt.Fprintln(stdout, d.String())
		}
		for _, u := range sortedKeys(refused) {
			fmt.Fprintf(stdout, "%s: unit refused (bad unit file setting)\n", u)
		}
		fmt.Fprintf(stdout, "%d %s checked: %d refused, %d %s, %d %s\n",
			len(checked), plural(len(checked), "unit", "units"), len(refused),
			nerr, plural(nerr, "error", "errors"), nwarn, plural(nwarn, "warning", "warnings"))
	}
	if nerr > 0 {
		return 1
	}
	return 0
}

func listDirectives(w io.Writer, asJSON bool) int {
	ds := units.Directives()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ds); err != nil {
			return 2
		}
		return 0
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tDIRECTIVE\tSTATUS\tSYSTEMD SEMANTICS")
	for _, d := range ds {
		fmt.Fprintf(tw, "[%s]\t%s=\t%s\t%s\n", d.Section, d.Name, d.Status, d.Summary)
	}
	if err := tw.Flush(); err != nil {
		return 2
	}
	return 0
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
