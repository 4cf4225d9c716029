package units

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxLineLength is systemd's LONG_LINE_MAX: a physical line, or a logical
// line joined from continuations, longer than this fails the whole file.
const MaxLineLength = 1 << 20

// Entry is one "Key=Value" assignment of a unit file, after comments were
// dropped, continuation lines joined and whitespace trimmed.
type Entry struct {
	Section string
	Key     string
	Value   string
	// Pos is where the logical line ends: systemd reports problems in a
	// continued value at its last physical line (one past the last line
	// when the file ends inside a continuation). FirstLine is where it
	// started.
	Pos       Pos
	FirstLine int
}

// Header is a "[Section]" line.
type Header struct {
	Name string
	Pos  Pos
}

// LineKind says what a physical line turned out to be.
type LineKind uint8

// Line kinds. Every physical line read gets exactly one.
const (
	LineUnknown LineKind = iota // not reached (after a fatal error)
	LineBlank                   // empty or whitespace only (or a continuation giving nothing)
	LineComment                 // '#' or ';' comment
	LineHeader                  // "[Section]"
	LineEntry                   // part of a Key=Value assignment
	LineIgnored                 // warned about and ignored (no '=', outside a section)
	LineBad                     // made the file fail
)

// Lexed is the result of Lex.
type Lexed struct {
	// Kinds has one entry per physical line (index 0 is line 1), so that
	// every input line is accounted for.
	Kinds   []LineKind
	Entries []Entry
	Headers []Header
	// Lines is the number of physical lines read.
	Lines int
	// Failed is set when the file is unusable as a whole (systemd refuses
	// the unit, or ignores the drop-in): an invalid section header, invalid
	// UTF-8, an oversize line. Entries then holds what came before.
	Failed bool
	Diags  Diagnostics
	// diagSection is, for each entry of Diags, the section the line was in
	// ("" outside sections): systemd ignores lines of unknown sections
	// silently, which only the loader can tell.
	diagSection []string
}

const utf8BOM = "\xef\xbb\xbf"

// Lex splits a unit file into sections and assignments exactly as systemd's
// config_parse() (src/shared/conf-parser.c, v252) does:
//
//   - lines end at "\n", "\r", a NUL byte, or a run of them where no kind
//     repeats ("\r\n", "\n\r");
//   - a line whose first non-blank byte is '#' or ';' is a comment, even in
//     the middle of a continued value (it is skipped, the value goes on);
//   - an odd number of trailing backslashes continues the line: the last
//     backslash becomes a space and the next line is appended as is;
//   - a UTF-8 byte order mark is skipped once, at the start of the first
//     line that has one (after the comment check, so "\uFEFF# x" is not a
//     comment);
//   - there are no inline comments.
//
// Lex knows nothing about which sections and keys exist; it reports only
// syntax problems. It reads all of r.
func Lex(r io.Reader, file string) *Lexed {
	data, err := io.ReadAll(r)
	if err != nil {
		res := &Lexed{}
		res.Failed = true
		res.Diags = append(res.Diags, Diagnostic{Pos: Pos{File: file}, Severity: Error, Msg: fmt.Sprintf("read failed: %v", err)})
		return res
	}
	return lexString(string(data), file)
}

// LexBytes is Lex over a byte slice.
func LexBytes(data []byte, file string) *Lexed {
	return lexString(string(data), file)
}

// lexString is Lex over a string. The keys, values and section names of
// the result are substrings of data (except for continued lines): one
// allocation for the file instead of several per line.
func lexString(data, file string) *Lexed {
	res := &Lexed{}
	lexInto(res, data, file)
	return res
}

// lexInto is lexString into res, an empty Lexed whose slices may have room
// from an earlier use (see loader.lex).
func lexInto(res *Lexed, data, file string) {
	// Size the slices from cheap upper bounds (every entry line has a '=',
	// every header a '['), so that they are allocated once.
	lines := strings.Count(data, "\n") + 1
	if cap(res.Kinds) < lines {
		res.Kinds = make([]LineKind, 0, lines)
	}
	if n := min(strings.Count(data, "="), lines); cap(res.Entries) < n {
		res.Entries = make([]Entry, 0, n)
	}
	if h := min(strings.Count(data, "["), lines); h > 0 && cap(res.Headers) < h {
		res.Headers = make([]Header, 0, h)
	}
	lexBytes(data, file, res)
}

// reset empties l for lexInto, keeping the room of its slices.
func (l *Lexed) reset() {
	clear(l.Entries)
	clear(l.Headers)
	clear(l.Diags)
	*l = Lexed{Kinds: l.Kinds[:0], Entries: l.Entries[:0], Headers: l.Headers[:0]}
}

func lexBytes(data string, file string, res *Lexed) {
	var (
		cont      []byte // the logical line being continued, nil if none
		contFirst int
		bomSeen   bool
		section   string
		inSection bool // a section (known to Lex: any valid header) is open
	)
	diag := func(sev Severity, line int, format string, args ...any) {
		res.Diags = append(res.Diags, Diagnostic{Pos: Pos{File: file, Line: line}, Severity: sev, Msg: fmt.Sprintf(format, args...)})
		res.diagSection = append(res.diagSection, "")
	}
	// sectionDiag is a warning about a line inside the current section.
	sectionDiag := func(line int, msg string) {
		diag(Warning, line, "%s", msg)
		res.diagSection[len(res.diagSection)-1] = section
	}
	// parseLine is conf-parser.c's parse_line() for the logical line
	// first..line; it returns what the line was.
	parseLine := func(first, line int, l string) LineKind {
		l = trimSpace(l)
		if len(l) == 0 {
			return LineBlank
		}
		if !utf8.ValidString(l) {
			diag(Error, line, "line is not valid UTF-8, refusing the file")
			return LineBad
		}
		if l[0] == '[' {
			if l[len(l)-1] != ']' {
				diag(Error, line, "invalid section header %q", l)
				return LineBad
			}
			name := l[1 : len(l)-1]
			if !sectionNameIsSafe(name) {
				diag(Error, line, "bad characters in section header %q", l)
				return LineBad
			}
			section = name
			inSection = true
			res.Headers = append(res.Headers, Header{Name: section, Pos: Pos{File: file, Line: line}})
			return LineHeader
		}
		if !inSection {
			diag(Warning, line, "assignment outside of section, ignoring")
			return LineIgnored
		}
		eq := strings.IndexByte(l, '=')
		if eq < 0 {
			sectionDiag(line, "missing '=', ignoring line")
			return LineIgnored
		}
		if eq == 0 {
			sectionDiag(line, "missing key name before '=', ignoring line")
			return LineIgnored
		}
		res.Entries = append(res.Entries, Entry{
			Section:   section,
			Key:       trimSpace(l[:eq]),
			Value:     trimSpace(l[eq+1:]),
			Pos:       Pos{File: file, Line: line},
			FirstLine: first,
		})
		return LineEntry
	}
	finish := func(first, line, report int, l string) bool {
		k := parseLine(first, report, l)
		for i := first; i <= line; i++ {
			if res.Kinds[i-1] == LineUnknown { // comments inside stay comments
				res.Kinds[i-1] = k
			}
		}
		if k == LineBad {
			res.Failed = true
			return false
		}
		return true
	}

	// Lines end at \n, \r or NUL; most files have only \n, which
	// IndexByte finds much faster than IndexAny finds any of the three.
	onlyLF := strings.IndexByte(data, '\r') < 0 && strings.IndexByte(data, 0) < 0
	line := 0
	for len(data) > 0 {
		var end int
		if onlyLF {
			end = strings.IndexByte(data, '\n')
		} else {
			end = strings.IndexAny(data, "\n\r\x00")
		}
		var buf string
		if end < 0 {
			buf, data = data, ""
		} else {
			buf = data[:end]
			data = data[end+eolLength(data[end:]):]
		}
		line++
		res.Lines = line
		res.Kinds = append(res.Kinds, LineUnknown)
		if len(buf) > MaxLineLength {
			diag(Error, line, "line too long (more than %d bytes), refusing the file", MaxLineLength)
			res.Kinds[line-1] = LineBad
			res.Failed = true
			return
		}

		if t := trimLeftSpace(buf); len(t) > 0 && (t[0] == '#' || t[0] == ';') {
			res.Kinds[line-1] = LineComment
			continue
		}
		l := buf
		if !bomSeen && strings.HasPrefix(l, utf8BOM) {
			l = l[len(utf8BOM):]
			bomSeen = true
		}

		var p string
		if cont != nil {
			if len(cont)+len(l) > MaxLineLength {
				diag(Error, line, "continuation line too long (more than %d bytes), refusing the file", MaxLineLength)
				for i := contFirst; i <= line; i++ {
					res.Kinds[i-1] = LineBad
				}
				res.Failed = true
				return
			}
			cont = append(cont, l...)
		} else {
			p = l
			contFirst = line
		}

		if cont != nil {
			if oddTrailingBackslashes(cont) {
				cont[len(cont)-1] = ' '
				continue
			}
			p = string(cont)
		} else if oddTrailingBackslashes(p) {
			cont = make([]byte, 0, len(p)+64)
			cont = append(cont, p...)
			cont[len(cont)-1] = ' '
			continue
		}
		cont = nil
		if !finish(contFirst, line, line, p) {
			return
		}
	}
	if cont != nil {
		// A trailing backslash at EOF still ends the value; systemd counts
		// one more line for it (parse_line(..., ++line, ...) after EOF).
		finish(contFirst, line, line+1, string(cont))
	}
}

// eolLength returns the length of the line ending at the start of p, as
// systemd's read_line(): a run of \n, \r and NUL bytes is one line ending
// as long as no kind repeats and nothing follows a NUL ("\r\n" and "\n\r"
// are one ending, "\n\n" two).
func eolLength(p string) int {
	kind := func(c byte) int {
		switch c {
		case '\n':
			return 1
		case '\r':
			return 2
		case 0:
			return 4
		}
		return 0
	}
	seen := 0
	n := 0
	for ; n < len(p); n++ {
		k := kind(p[n])
		if k == 0 || seen&4 != 0 || seen&k != 0 {
			break
		}
		seen |= k
	}
	return n
}

// oddTrailingBackslashes mirrors config_parse()'s escape scan: the line
// continues when its last byte is a backslash that is not itself escaped.
func oddTrailingBackslashes[T string | []byte](p T) bool {
	n := 0
	for i := len(p) - 1; i >= 0 && p[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// isSpace is systemd's WHITESPACE set.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimLeftSpace(b string) string {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func trimSpace(b string) string {
	b = trimLeftSpace(b)
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// sectionNameIsSafe is systemd's string_is_safe(): no control characters, no
// quotes, no backslash.
func sectionNameIsSafe(b string) bool {
	for _, c := range []byte(b) {
		if c < ' ' || c == 0x7f || c == '\\' || c == '"' || c == '\'' {
			return false
		}
	}
	return true
}
