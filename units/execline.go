package units

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Errors of the word splitter, wrapped with the offending text.
var (
	ErrUnbalancedQuote = errors.New("unbalanced quoting")
	ErrBadEscape       = errors.New("invalid escape sequence")
)

// wordFlags select the behaviour of extractWord, after systemd's
// EXTRACT_* flags.
type wordFlags uint8

const (
	wordUnquote       wordFlags = 1 << iota // EXTRACT_UNQUOTE
	wordCUnescape                           // EXTRACT_CUNESCAPE
	wordUnescapeRelax                       // EXTRACT_UNESCAPE_RELAX: keep unknown escapes and a trailing "\"
	wordRelax                               // EXTRACT_RELAX: tolerate an unbalanced quote or trailing "\"
)

const wordSeparators = " \t\n\r" // systemd's WHITESPACE

// extractWord is systemd's extract_first_word with whitespace separators.
// It returns the word, the rest of the input (separators after the word
// skipped) and whether a word was found at all; a quoted empty string ("")
// is a word.
func extractWord(s string, flags wordFlags) (word, rest string, ok bool, err error) {
	s = strings.TrimLeft(s, wordSeparators)
	if s == "" {
		return "", "", false, nil
	}
	// Fast path: a word without escapes or quotes is a substring of s.
	for j := 0; j < len(s); j++ {
		c := s[j]
		if c == '\\' || (c == '\'' || c == '"') && flags&wordUnquote != 0 {
			break
		}
		if strings.IndexByte(wordSeparators, c) >= 0 {
			return s[:j], strings.TrimLeft(s[j:], wordSeparators), true, nil
		}
		if j == len(s)-1 {
			return s, "", true, nil
		}
	}
	var b []byte
	var quote byte
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i >= len(s) {
				if flags&wordUnescapeRelax != 0 && (quote == 0 || flags&wordRelax != 0) {
					b = append(b, '\\')
					return string(b), "", true, nil
				}
				if flags&wordRelax != 0 {
					return string(b), "", true, nil
				}
				return "", "", false, fmt.Errorf("%w: trailing backslash in %q", ErrBadEscape, s)
			}
			if flags&wordCUnescape == 0 {
				b = append(b, s[i])
				i++
				continue
			}
			n, enc, ok := cunescapeOne(s[i:])
			switch {
			case ok:
				b = append(b, enc...)
				i += n
			case flags&wordUnescapeRelax != 0:
				b = append(b, '\\', s[i])
				i++
			default:
				return "", "", false, fmt.Errorf("%w \"\\%s\" in %q", ErrBadEscape, escapeHead(s[i:]), s)
			}
		case quote != 0: // only with wordUnquote
			if c == quote {
				quote = 0
			} else {
				b = append(b, c)
			}
			i++
		case (c == '\'' || c == '"') && flags&wordUnquote != 0:
			quote = c
			i++
		case strings.IndexByte(wordSeparators, c) >= 0:
			return string(b), strings.TrimLeft(s[i:], wordSeparators), true, nil
		default:
			b = append(b, c)
			i++
		}
	}
	if quote != 0 && flags&wordRelax == 0 {
		return "", "", false, fmt.Errorf("%w: missing closing %c in %q", ErrUnbalancedQuote, quote, s)
	}
	return string(b), "", true, nil
}

// escapeHead is the escape sequence at the start of s, for error messages.
func escapeHead(s string) string {
	n := 1
	switch s[0] {
	case 'x':
		n = 3
	case 'u':
		n = 5
	case 'U':
		n = 9
	}
	return s[:min(n, len(s))]
}

// cunescapeOne is systemd's cunescape_one (NUL refused): the escape at the
// start of s (after the backslash), its length and its bytes. \xHH and \NNN
// give a raw byte; \u and \U a code point in UTF-8 (\u does not refuse
// surrogates, as in systemd).
func cunescapeOne(s string) (n int, enc []byte, ok bool) {
	switch s[0] {
	case 'a':
		return 1, []byte{'\a'}, true
	case 'b':
		return 1, []byte{'\b'}, true
	case 'f':
		return 1, []byte{'\f'}, true
	case 'n':
		return 1, []byte{'\n'}, true
	case 'r':
		return 1, []byte{'\r'}, true
	case 't':
		return 1, []byte{'\t'}, true
	case 'v':
		return 1, []byte{'\v'}, true
	case '\\', '"', '\'':
		return 1, []byte{s[0]}, true
	case 's':
		return 1, []byte{' '}, true
	case 'x':
		if len(s) < 3 {
			return 0, nil, false
		}
		a, b := unhex(s[1]), unhex(s[2])
		if a < 0 || b < 0 || a|b == 0 {
			return 0, nil, false
		}
		return 3, []byte{byte(a<<4 | b)}, true
	case 'u', 'U':
		digits := 4
		if s[0] == 'U' {
			digits = 8
		}
		if len(s) < 1+digits {
			return 0, nil, false
		}
		var c uint32
		for i := 1; i <= digits; i++ {
			d := unhex(s[i])
			if d < 0 {
				return 0, nil, false
			}
			c = c<<4 | uint32(d)
		}
		if c == 0 || (s[0] == 'U' && !unicharValid(c)) {
			return 0, nil, false
		}
		return 1 + digits, encodeUnichar(c), true
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 3 {
			return 0, nil, false
		}
		var m int
		for i := 0; i < 3; i++ {
			if s[i] < '0' || s[i] > '7' {
				return 0, nil, false
			}
			m = m<<3 | int(s[i]-'0')
		}
		if m == 0 || m > 255 {
			return 0, nil, false
		}
		return 3, []byte{byte(m)}, true
	}
	return 0, nil, false
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unicharValid is systemd's unichar_is_valid.
func unicharValid(c uint32) bool {
	return c < 0xd800 || (c >= 0xe000 && c < 0xfffe) || (c > 0xffff && c <= 0x10ffff)
}

// encodeUnichar is utf8_encode_unichar: unlike utf8.AppendRune it encodes
// surrogates as they are rather than as U+FFFD.
func encodeUnichar(c uint32) []byte {
	if c >= 0xd800 && c <= 0xdfff {
		return []byte{0xe0 | byte(c>>12), 0x80 | byte(c>>6)&0x3f, 0x80 | byte(c)&0x3f}
	}
	return utf8.AppendRune(nil, rune(c))
}

// SplitWords splits a value into words as systemd's extract_first_word with
// EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE, used for Environment= and other list
// settings: words are separated by whitespace; single or double quotes may
// open anywhere in a word and the quoted parts are joined to it
// (a"b c"d is "ab cd"); C escapes (\a \b \f \n \r \t \v \\ \" \' \s \xHH
// \NNN \uXXXX \UXXXXXXXX) work inside and outside quotes. An unknown
// escape, a NUL escape, a trailing backslash or a missing closing quote is
// an error.
func SplitWords(s string) ([]string, error) {
	return splitWords(s, wordUnquote|wordCUnescape)
}

// SplitWordsUnquote splits like SplitWords but without C unescaping
// (extract_first_word with EXTRACT_UNQUOTE only), as systemd does for
// Symlinks= and other path lists: quotes group and are removed, a backslash
// makes the next character literal, a trailing backslash or an unbalanced
// quote is an error.
func SplitWordsUnquote(s string) ([]string, error) {
	return splitWords(s, wordUnquote)
}

// SplitFields splits on whitespace with no quoting (extract_first_word
// with no flags), as systemd does for SupplementaryGroups=: quotes are
// ordinary characters, a backslash makes the next character literal, a
// trailing backslash is an error.
func SplitFields(s string) ([]string, error) {
	return splitWords(s, 0)
}

func splitWords(s string, flags wordFlags) ([]string, error) {
	var words []string
	for {
		w, rest, ok, err := extractWord(s, flags)
		if err != nil {
			return words, err
		}
		if !ok {
			return words, nil
		}
		words = append(words, w)
		s = rest
	}
}

// ExecError is a problem with an Exec*= line. Fatal mirrors systemd: when
// set, systemd fails the unit (-ENOEXEC, "bad-setting"); when clear (the
// command has the "-" prefix, or the program word itself could not be
// split), the line is only dropped with a warning.
type ExecError struct {
	Value string // the whole value
	Msg   string
	Fatal bool
	Err   error // the underlying splitter or expansion error, if any
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("%s: %q", e.Msg, e.Value)
}

func (e *ExecError) Unwrap() error { return e.Err }

// ParseExecLine parses the value of an Exec*= setting as systemd's
// config_parse_exec, without specifier expansion; see ParseExecLineExpand.
func ParseExecLine(s string) ([]Command, error) {
	return ParseExecLineExpand(s, nil)
}

// ParseExecLineExpand parses the value of an Exec*= setting as systemd's
// config_parse_exec. expand, if not nil, expands the specifiers of each word
// after it was split and unquoted, as systemd does (so a specifier that
// expands to spaces never splits a word).
//
// The program word may start with the prefixes "-", "@", ":", "+", "!",
// "!!" in any order, each at most once and at most one of "+", "!", "!!"
// (anything else stays part of the program word, which then fails as not
// absolute). With "@" the second word is Args[0]. Path is the program word
// with repeated slashes collapsed; it must be absolute or a plain file name
// (resolve it with ResolveProgram), must not end in "/" and must not contain
// quotes, backslashes or control characters. Args[0] is the program word as
// written. A lone ";" separates commands; "\;", ";" in quotes and \073 are
// literal arguments. Unknown escapes in arguments are kept as written, as
// systemd does (it only warns). An empty value gives no commands (the
// caller resets the list).
//
// On error, the commands before the failing one are returned with an
// *ExecError.
func ParseExecLineExpand(s string, expand func(string) (string, error)) ([]Command, error) {
	const flags = wordUnquote | wordCUnescape | wordUnescapeRelax
	var cmds []Command
	p := s
	for {
		first, rest, ok, err := extractWord(p, flags)
		if err != nil {
			return cmds, &ExecError{Value: s, Msg: "invalid program word: " + err.Error(), Err: err}
		}
		if !ok {
			return cmds, nil
		}
		p = rest
		if first == ";" {
			continue
		}

		var cflags CommandFlags
		argv0 := false
		f := first
	prefixes:
		for f != "" {
			full := cflags&(CmdFullPrivileges|CmdNoSetuid|CmdAmbientMagic) != 0
			switch {
			case f[0] == '-' && cflags&CmdIgnoreFailure == 0:
				cflags |= CmdIgnoreFailure
			case f[0] == '@' && !argv0:
				argv0 = true
				cflags |= CmdArgv0
			case f[0] == ':' && cflags&CmdNoEnvExpand == 0:
				cflags |= CmdNoEnvExpand
			case f[0] == '+' && !full:
				cflags |= CmdFullPrivileges
			case f[0] == '!' && !full:
				cflags |= CmdNoSetuid
			case f[0] == '!' && cflags&(CmdFullPrivileges|CmdAmbientMagic) == 0:
				cflags = cflags&^CmdNoSetuid | CmdAmbientMagic
			default:
				break prefixes
			}
			f = f[1:]
		}
		ignore := cflags&CmdIgnoreFailure != 0
		fail := func(msg string, err error) ([]Command, error) {
			return cmds, &ExecError{Value: s, Msg: msg, Fatal: !ignore, Err: err}
		}

		path := f
		if expand != nil {
			if path, err = expand(f); err != nil {
				return fail(fmt.Sprintf("failed to resolve specifiers in %q", f), err)
			}
		}
		if path == "" {
			return fail("empty program path in command line", nil)
		}
		if !stringIsSafe(path) {
			return fail(fmt.Sprintf("program path %q contains quotes, backslashes (a bad escape?) or control characters", path), nil)
		}
		if strings.HasSuffix(path, "/") {
			return fail(fmt.Sprintf("program path %q specifies a directory", path), nil)
		}
		if !filepath.IsAbs(path) && !filenameValid(path) {
			msg := fmt.Sprintf("program %q is neither an absolute path nor a file name", path)
			if strings.ContainsAny(path[:1], "-@:+!|") {
				msg += fmt.Sprintf(" (repeated, conflicting or unknown prefix %q?)", path[:1])
			}
			return fail(msg, nil)
		}

		var args []string
		if !argv0 {
			args = append(args, path)
		}
		for p != "" {
			// A lone unquoted ";" ends the command; a lone "\;" is a
			// literal ";" (the splitter would keep "\;" as written).
			if p[0] == ';' && (len(p) == 1 || strings.IndexByte(wordSeparators, p[1]) >= 0) {
				p = strings.TrimLeft(p[1:], wordSeparators)
				break
			}
			if strings.HasPrefix(p, "\\;") && (len(p) == 2 || strings.IndexByte(wordSeparators, p[2]) >= 0) {
				p = strings.TrimLeft(p[2:], wordSeparators)
				args = append(args, ";")
				continue
			}
			w, rest, ok, err := extractWord(p, flags)
			if err != nil {
				return fail(err.Error(), err)
			}
			if !ok {
				p = ""
				break
			}
			p = rest
			if expand != nil {
				x, err := expand(w)
				if err != nil {
					return fail(fmt.Sprintf("failed to resolve specifiers in %q", w), err)
				}
				w = x
			}
			args = append(args, w)
		}
		if len(args) == 0 {
			return fail("empty executable name or zeroeth argument (\"@\" needs argv[0])", nil)
		}
		cmds = append(cmds, Command{Path: simplifyPath(path), Args: args, Flags: cflags})
		if p == "" {
			return cmds, nil
		}
	}
}

// stringIsSafe is systemd's string_is_safe: no control characters, quotes,
// backslashes or DEL.
func stringIsSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c == 0x7f || c == '"' || c == '\'' || c == '\\' {
			return false
		}
	}
	return true
}

// filenameValid is systemd's filename_is_valid.
func filenameValid(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 255 && !strings.Contains(s, "/")
}

// DefaultPath is the search path for programs given by bare name, systemd's
// compiled-in DEFAULT_PATH for a merged-/usr system.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"

// ResolveProgram returns the absolute path of an Exec*= program. An
// absolute path is returned as it is. A bare name is looked up in
// DefaultPath and the first candidate that is an executable regular file is
// returned; if there is none, ResolveProgram returns "/usr/bin/NAME" so the
// failure shows up at start time (as systemd's "Failed to locate
// executable") with a plausible path, rather than at load time.
func ResolveProgram(path string) string {
	return resolveProgram(path, isExecutable)
}

func resolveProgram(path string, executable func(string) bool) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	for _, dir := range strings.Split(DefaultPath, ":") {
		if full := dir + "/" + path; executable(full) {
			return full
		}
	}
	return "/usr/bin/" + path
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// ExpandEnv expands environment variable references in argv as systemd's
// replace_env_argv does at exec time (not for commands with the ":"
// prefix; Command.Path is never expanded):
//
//   - a word that is exactly "$NAME" is replaced by the value of NAME split
//     on whitespace (quotes respected, no escapes), giving 0..n arguments;
//   - "${NAME}" anywhere in a word is replaced by the value as is, and the
//     word stays one argument (even if empty);
//   - "$$" is a literal "$";
//   - unknown variables are empty; "$NAME" inside a longer word and
//     unterminated "${" are left as written.
func ExpandEnv(args []string, env map[string]string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if len(a) >= 1 && a[0] == '$' && (len(a) == 1 || (a[1] != '{' && a[1] != '$')) {
			if v, ok := env[a[1:]]; ok {
				words, _ := splitWords(v, wordUnquote|wordRelax)
				out = append(out, words...)
			}
			continue
		}
		out = append(out, replaceEnv(a, env))
	}
	return out
}

// replaceEnv is systemd's replace_env without the extended (${A:-b})
// syntax, which it leaves untouched.
func replaceEnv(s string, env map[string]string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			end := strings.IndexAny(s[i+2:], "}:")
			if end < 0 || s[i+2+end] == ':' {
				// Unterminated or unsupported: keep as written.
				if end < 0 {
					b.WriteString(s[i:])
					return b.String()
				}
				b.WriteString(s[i : i+2+end])
				i += 2 + end
				continue
			}
			b.WriteString(env[s[i+2:i+2+end]])
			i += 2 + end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String()
}
