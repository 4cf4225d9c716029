package units

import (
	"fmt"
	"strings"
	"testing"
)

// triples renders entries as "[Section] Key=Value@line" for easy comparison.
func triples(l *Lexed) string {
	var b strings.Builder
	for _, e := range l.Entries {
		fmt.Fprintf(&b, "[%s] %s=%s@%d\n", e.Section, e.Key, e.Value, e.Pos.Line)
	}
	return b.String()
}

func TestLex(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		failed bool
		warns  int
	}{
		// Continuations (test-conf-parser.c's table and spec section 5.1).
		{"continuation", "[S]\nA=1\\\n2\\\n3\n", "[S] A=1 2 3@4\n", false, 0},
		{"continuation keeps leading blanks of next line", "[S]\nA=1\\\n   2\n", "[S] A=1    2@3\n", false, 0},
		{"escaped backslashes", "[S]\nA=1\\\\\\\n\\\\2\n", "[S] A=1\\\\ \\\\2@3\n", false, 0},
		{"even backslashes do not continue", "[S]\nA=x\\\\\nB=y\n", "[S] A=x\\\\@2\n[S] B=y@3\n", false, 0},
		{"comment inside continuation", "[S]\nA=1\\\n# c\n; d\n2\n", "[S] A=1 2@5\n", false, 0},
		{"comment ending in backslash", "[S]\n# c \\\nA=1\n", "[S] A=1@3\n", false, 0},
		{"empty line ends continuation", "[S]\nA=1\\\n\nB=2\n", "[S] A=1@3\n[S] B=2@4\n", false, 0},
		{"blank line ends continuation", "[S]\nA=1\\\n  \t\nB=2\n", "[S] A=1@3\n[S] B=2@4\n", false, 0},
		{"backslash at EOF", "[S]\nA=1\\", "[S] A=1@3\n", false, 0},
		{"backslash and newline at EOF", "[S]\nA=1\\\n", "[S] A=1@3\n", false, 0},
		{"continuation into header text", "[S]\nA=1\\\n[T]\nB=2\n", "[S] A=1 [T]@3\n[S] B=2@4\n", false, 0},
		// Whitespace, comments, line endings.
		{"no inline comments", "[S]\nListenStream=8080 # x\n", "[S] ListenStream=8080 # x@2\n", false, 0},
		{"spaces around =", "[S]\n  Key  =  v a l  \n", "[S] Key=v a l@2\n", false, 0},
		{"CRLF", "[S]\r\nA=1\r\nB=2\r\n", "[S] A=1@2\n[S] B=2@3\n", false, 0},
		{"CR only", "[S]\rA=1\rB=2", "[S] A=1@2\n[S] B=2@3\n", false, 0},
		{"NUL ends a line", "[S]\nA=1\x00B=2\n", "[S] A=1@2\n[S] B=2@3\n", false, 0},
		{"LF CR is one line ending", "[S]\n\nA=1\n\rB=2\n", "[S] A=1@3\n[S] B=2@4\n", false, 0},
		{"BOM", "\xef\xbb\xbf[S]\nA=1\n", "[S] A=1@2\n", false, 0},
		{"empty value", "[S]\nA=\n", "[S] A=@2\n", false, 0},
		{"value with =", "[S]\nEnvironment=A=B\n", "[S] Environment=A=B@2\n", false, 0},
		{"repeated keys kept in order", "[S]\nA=1\nA=2\n", "[S] A=1@2\n[S] A=2@3\n", false, 0},
		// Warnings: line ignored.
		{"missing =", "[S]\nfoo\nA=1\n", "[S] A=1@3\n", false, 1},
		{"missing key", "[S]\n=1\n", "", false, 1},
		{"assignment outside section", "A=1\n[S]\nB=2\n", "[S] B=2@3\n", false, 1},
		// Errors: the file fails.
		{"bad header", "[S]\nA=1\n[T\nB=2\n", "[S] A=1@2\n", true, 0},
		{"unsafe header", "[S\"x]\n", "", true, 0},
		{"invalid UTF-8", "[S]\nA=\xff\n", "", true, 0},
		{"invalid UTF-8 in comment is fine", "[S]\n#\xff\nA=1\n", "[S] A=1@3\n", false, 0},
		{"too long", "[S]\nA=" + strings.Repeat("x", MaxLineLength) + "\n", "", true, 0},
		{"too long joined", "[S]\nA=" + strings.Repeat("x", MaxLineLength/2) + "\\\n" + strings.Repeat("y", MaxLineLength/2) + "\n", "", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := LexBytes([]byte(tt.in), "f")
			if got := triples(l); got != tt.want {
				t.Errorf("entries:\n%s\nwant:\n%s", got, tt.want)
			}
			if l.Failed != tt.failed {
				t.Errorf("Failed = %v, want %v (%v)", l.Failed, tt.failed, l.Diags)
			}
			if n := l.Diags.Count(Warning); n != tt.warns {
				t.Errorf("%d warnings, want %d: %v", n, tt.warns, l.Diags)
			}
		})
	}
}

func TestLexCountsLines(t *testing.T) {
	for in, want := range map[string]int{"": 0, "a": 1, "a\n": 1, "a\n\n": 2, "a\r\n\r\n": 2, "\r\r": 2, "a\n\r": 1, "a\n\r\n": 2, "a\n\x00b": 2, "a\x00\n": 2} {
		if got := LexBytes([]byte(in), "f").Lines; got != want {
			t.Errorf("Lex(%q).Lines = %d, want %d", in, got, want)
		}
	}
}
