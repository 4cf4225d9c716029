package units

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxEnvFileSize bounds what ParseEnvironmentFile reads, like systemd's
// READ_FULL_BYTES_MAX.
const maxEnvFileSize = 64 << 20

// ParseEnvironmentFile parses an EnvironmentFile= as systemd v252's
// load_env_file followed by strv_env_clean (what the service manager does
// before starting a command). It returns KEY=VALUE assignments in the order
// each key first appeared, with the value of its last assignment.
//
// The grammar (parse_env_file_internal):
//   - lines whose first non-blank character is '#' or ';' are comments; as
//     in v252, a comment line ending in a backslash continues onto the next
//     line (v254 changed that);
//   - KEY=VALUE; blanks around the key and before the value are dropped,
//     trailing blanks of an unquoted value too;
//   - unquoted, a backslash escapes the next character and a
//     backslash-newline is removed;
//   - in '…' everything is literal; in "…" a backslash escapes only " \ `
//     and $ (other pairs are kept), and backslash-newline is removed; quoted
//     and unquoted parts join ("a"'b'c is abc);
//   - a line without "=" is ignored; the input stops at a NUL byte.
//
// Assignments with an invalid name ("export FOO", "1X", "A-B") are dropped,
// as systemd drops them with "Ignoring invalid environment assignment".
// Invalid UTF-8 in a key or value is an error.
func ParseEnvironmentFile(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxEnvFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading environment file: %w", err)
	}
	if len(data) > maxEnvFileSize {
		return nil, fmt.Errorf("environment file larger than %d bytes", maxEnvFileSize)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}

	const (
		preKey = iota
		key
		preValue
		value
		valueEscape
		singleQuote
		doubleQuote
		doubleQuoteEscape
		comment
		commentEscape
	)
	var (
		state   = preKey
		k, v    []byte
		keyWS   = -1 // start of trailing blanks in k, -1 if none
		valueWS = -1
		line    = 1
		out     []string
		index   = map[string]int{}
	)
	isNL := func(c byte) bool { return c == '\n' || c == '\r' }
	isWS := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	push := func() error {
		if keyWS >= 0 {
			k = k[:keyWS]
		}
		name, val := string(k), string(v)
		if !utf8.ValidString(name) {
			return fmt.Errorf("line %d: invalid UTF-8 in key %q", line, name)
		}
		if !utf8.ValidString(val) {
			return fmt.Errorf("line %d: invalid UTF-8 in value of %s", line, name)
		}
		if envNameValid(name) {
			if i, ok := index[name]; ok {
				out[i] = name + "=" + val
			} else {
				index[name] = len(out)
				out = append(out, name+"="+val)
			}
		}
		k, v = k[:0], nil
		return nil
	}
	for _, c := range data {
		switch state {
		case preKey:
			if c == '#' || c == ';' {
				state = comment
			} else if !isWS(c) {
				state = key
				keyWS = -1
				k = append(k[:0], c)
			}
		case key:
			switch {
			case isNL(c):
				state = preKey
				line++
				k = k[:0]
			case c == '=':
				state = preValue
				valueWS = -1
			default:
				if !isWS(c) {
					keyWS = -1
				} else if keyWS < 0 {
					keyWS = len(k)
				}
				k = append(k, c)
			}
		case preValue:
			switch {
			case isNL(c):
				state = preKey
				line++
				if err := push(); err != nil {
					return nil, err
				}
			case c == '\'':
				state = singleQuote
			case c == '"':
				state = doubleQuote
			case c == '\\':
				state = valueEscape
			case !isWS(c):
				state = value
				v = append(v, c)
			}
		case value:
			switch {
			case isNL(c):
				state = preKey
				line++
				if valueWS >= 0 {
					v = v[:valueWS]
				}
				if err := push(); err != nil {
					return nil, err
				}
			case c == '\\':
				state = valueEscape
				valueWS = -1
			default:
				if !isWS(c) {
					valueWS = -1
				} else if valueWS < 0 {
					valueWS = len(v)
				}
				v = append(v, c)
			}
		case valueEscape:
			state = value
			if !isNL(c) { // an escaped newline is eaten
				v = append(v, c)
			}
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				v = append(v, c)
			}
		case doubleQuote:
			if c == '"' {
				state = preValue
			} else if c == '\\' {
				state = doubleQuoteEscape
			} else {
				v = append(v, c)
			}
		case doubleQuoteEscape:
			state = doubleQuote
			if strings.IndexByte("\"\\`$", c) >= 0 {
				v = append(v, c)
			} else if c != '\n' {
				v = append(v, '\\', c)
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNL(c) {
				state = preKey
				line++
			}
		case commentEscape:
			state = comment
		}
	}
	switch state {
	case preValue, value, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		if state == value && valueWS >= 0 {
			v = v[:valueWS]
		}
		if err := push(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// envNameValid is systemd's env_name_is_valid: [A-Za-z_][A-Za-z0-9_]*.
func envNameValid(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}
