package notify

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every line is accounted for
// (exactly one of fields or ignored, each well formed) and that re-escaping
// the lines and parsing again yields the same result.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "READY=1", "READY=1\nSTATUS=x\n", "\r\n\n", "A=\\\nB", "A=\\", "A\x00", "A=1\x00",
		"FDSTORE=1\nFDNAME=a:b", "=x\nk=v\n1=2", "STATUS=\xff\xfe", strings.Repeat("X_A=b\n", 100),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, ignored, err := Parse(data)
		body := bytes.TrimSuffix(data, []byte{0})
		if err != nil {
			if len(fields) != 0 || len(ignored) != 0 {
				t.Fatalf("Parse(%q) returned lines with error %v", data, err)
			}
			if bytes.IndexByte(body, 0) < 0 && !bytes.HasSuffix(body, []byte{'\\'}) {
				t.Fatalf("Parse(%q) failed without NUL or trailing backslash: %v", data, err)
			}
			return
		}
		// Oracle for the line count when no escapes are involved.
		if bytes.IndexByte(body, '\\') < 0 {
			want := strings.FieldsFunc(string(body), func(r rune) bool { return r == '\n' || r == '\r' })
			if got := len(fields) + len(ignored); got != len(want) {
				t.Fatalf("Parse(%q): %d fields + %d ignored, want %d lines", data, len(fields), len(ignored), len(want))
			}
		}
		var lines []string
		for _, fl := range fields {
			if !validKey(fl.Key) {
				t.Fatalf("Parse(%q): invalid key %q", data, fl.Key)
			}
			lines = append(lines, fl.Key+"="+fl.Value)
		}
		for _, l := range ignored {
			if l == "" {
				t.Fatalf("Parse(%q): empty ignored line", data)
			}
			if k, _, ok := strings.Cut(l, "="); ok && validKey(k) {
				t.Fatalf("Parse(%q): ignored line %q is a valid field", data, l)
			}
			lines = append(lines, l)
		}
		// Round trip: escape '\\', '\n' and '\r' and parse again.
		var b strings.Builder
		for _, l := range lines {
			for i := 0; i < len(l); i++ {
				if c := l[i]; c == '\\' || c == '\n' || c == '\r' {
					b.WriteByte('\\')
				}
				b.WriteByte(l[i])
			}
			b.WriteByte('\n')
		}
		f2, i2, err := Parse([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if len(f2) != len(fields) || len(i2) != len(ignored) ||
			(len(fields) > 0 && !reflect.DeepEqual(f2, fields)) || (len(ignored) > 0 && !reflect.DeepEqual(i2, ignored)) {
			t.Fatalf("round trip of %q: got %q %q, want %q %q", data, f2, i2, fields, ignored)
		}
	})
}
