package units

import (
	"bytes"
	"testing"
)

var lexSeeds = []string{
	"",
	"[Socket]\nListenStream=80\n",
	"[S]\nA=1\\\n2\\\n3\n",
	"[S]\nA=1\\\\\\\n\\\\2\n",
	"[S]\nA=1\\\n# c\n2\n",
	"[S]\nA=1\\\n\nB=2\n",
	"\xef\xbb\xbf[S]\r\nA=1\r\n",
	"[S]\rA=1\x00B=2",
	"A=1\n[S\n",
	"[S]\nfoo\n=x\nA=\xff\n",
	"[S]\nA=x\\",
	"\\\n\n[S]\n\\\n",
	"[X-Foo]\nBar=1\n[Service]\nExecStart=/bin/echo \"a;b\" ; /bin/true\n",
}

// FuzzLex checks that the lexer never panics and accounts for every line:
// the number of lines matches an independent count, every line reached has
// a kind, entries cover exactly the lines marked LineEntry, and positions
// only grow.
func FuzzLex(f *testing.F) {
	for _, s := range lexSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l := LexBytes(data, "f")
		want := countLines(data)
		if !l.Failed && l.Lines != want {
			t.Fatalf("Lines = %d, want %d", l.Lines, want)
		}
		if len(l.Kinds) != l.Lines {
			t.Fatalf("%d kinds for %d lines", len(l.Kinds), l.Lines)
		}
		for i, k := range l.Kinds {
			if k == LineUnknown && !l.Failed {
				t.Fatalf("line %d not accounted for", i+1)
			}
		}
		if l.Failed != l.Diags.HasErrors() {
			t.Fatalf("Failed = %v but diagnostics %v", l.Failed, l.Diags)
		}
		prev := 0
		covered := map[int]bool{}
		for _, e := range l.Entries {
			if e.FirstLine <= prev || e.Pos.Line < e.FirstLine || e.Pos.Line > l.Lines+1 {
				t.Fatalf("entry %+v out of order (previous ended at %d)", e, prev)
			}
			if e.Key == "" || bytes.ContainsRune([]byte(e.Key), '=') || len(trimSpace(e.Key)) != len(e.Key) {
				t.Fatalf("bad key in %+v", e)
			}
			for i := e.FirstLine; i <= e.Pos.Line && i <= l.Lines; i++ {
				covered[i] = true
			}
			prev = e.Pos.Line
		}
		for i, k := range l.Kinds {
			if (k == LineEntry) != (covered[i+1] && k != LineComment) && k != LineComment {
				t.Fatalf("line %d: kind %d, covered by an entry: %v", i+1, k, covered[i+1])
			}
		}
	})
}

// countLines counts lines independently of the lexer: every maximal run of
// \n, \r, NUL bytes is split into line endings where a byte kind repeats or
// something follows a NUL; a last line without a terminator counts too.
func countLines(data []byte) int {
	n := 0
	for i := 0; i < len(data); {
		c := data[i]
		if c != '\n' && c != '\r' && c != 0 {
			j := i
			for j < len(data) && data[j] != '\n' && data[j] != '\r' && data[j] != 0 {
				j++
			}
			if j == len(data) {
				n++ // unterminated last line
			}
			i = j
			continue
		}
		// One line ending.
		seen := map[byte]bool{}
		for i < len(data) && (data[i] == '\n' || data[i] == '\r' || data[i] == 0) && !seen[data[i]] && !seen[0] {
			seen[data[i]] = true
			i++
		}
		n++
	}
	return n
}
