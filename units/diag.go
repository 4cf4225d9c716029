package units

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Severity says whether a Diagnostic only informs or makes something fail.
type Severity int

// Severities, from least to most serious.
const (
	// Notice is informational: systemd logs it at LOG_NOTICE/INFO (for
	// example the /var/run → /run rewrite).
	Notice Severity = iota
	// Warning means a line or setting was ignored; the unit still loads.
	Warning
	// Error means the unit (or, inside a drop-in, that drop-in) was refused.
	Error
)

func (s Severity) String() string {
	switch s {
	case Notice:
		return "notice"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText makes Severity print as a word in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one problem found while loading units, printed in the
// go/scanner style as "file:line: Directive=: message".
type Diagnostic struct {
	Pos       Pos
	Severity  Severity
	Unit      string // the unit it belongs to, "" if none
	Directive string // "ListenStream", "" when it is not about a directive
	Msg       string
}

func (d Diagnostic) String() string {
	var b strings.Builder
	if d.Pos.File != "" {
		b.WriteString(d.Pos.File)
		if d.Pos.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(d.Pos.Line))
		}
		b.WriteString(": ")
	} else if d.Unit != "" {
		b.WriteString(d.Unit)
		b.WriteString(": ")
	}
	if d.Directive != "" {
		b.WriteString(d.Directive)
		b.WriteString("=: ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Error implements error, so that a single Diagnostic can be returned as one.
func (d Diagnostic) Error() string { return d.String() }

// Diagnostics is a list of Diagnostic, sortable by position like
// go/scanner.ErrorList.
type Diagnostics []Diagnostic

func (l Diagnostics) Len() int      { return len(l) }
func (l Diagnostics) Swap(i, j int) { l[i], l[j] = l[j], l[i] }
func (l Diagnostics) Less(i, j int) bool {
	a, b := l[i], l[j]
	if a.Pos.File != b.Pos.File {
		return a.Pos.File < b.Pos.File
	}
	if a.Pos.Line != b.Pos.Line {
		return a.Pos.Line < b.Pos.Line
	}
	if a.Unit != b.Unit {
		return a.Unit < b.Unit
	}
	return false
}

// Sort orders the list by file, then line; diagnostics at the same place
// keep the order they were reported in.
func (l Diagnostics) Sort() { sort.Stable(l) }

// HasErrors reports whether any entry has Severity Error.
func (l Diagnostics) HasErrors() bool { return l.Count(Error) > 0 }

// Count returns how many entries have severity s.
func (l Diagnostics) Count(s Severity) int {
	n := 0
	for _, d := range l {
		if d.Severity == s {
			n++
		}
	}
	return n
}

// Error prints the first entry and how many more there are.
func (l Diagnostics) Error() string {
	switch len(l) {
	case 0:
		return "no problems"
	case 1:
		return l[0].String()
	}
	return fmt.Sprintf("%s (and %d more)", l[0], len(l)-1)
}

// Err returns the list as an error when it holds at least one Error,
// otherwise nil (warnings alone do not make a load fail).
func (l Diagnostics) Err() error {
	if l.HasErrors() {
		return l
	}
	return nil
}
