package units

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"80", "0x50", "010", "65535", "65536", "0", "127.0.0.1:8080", "127.1:80", "[::1]:8888",
		"[fe80::1]:80%eth0", "[::1]%lo:1234", "[::ffff:1.2.3.4]:80", "/run/x.sock", "/var/run/x", "/var/run", "/var/run/",
		"@abstract", "@", "/", "vsock:2:1234", "vsock::1", "vsock-dgram:host:5", "route 1",
		"kobject-uevent 2", "9999 0x10", "/dev/kmsg", "/a/../b", "//x//", "[::1]:1234%lo%lo",
	} {
		for k := ListenStream; k <= ListenUSBFunction; k++ {
			f.Add(uint8(k), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, s string) {
		k := ListenKind(kind % uint8(ListenUSBFunction+1))
		a, err := ParseAddress(k, s)
		if err != nil {
			return
		}
		text := a.String()
		b, err := ParseAddress(k, text)
		if err != nil {
			t.Fatalf("ParseAddress(%d, %q) = %q, which does not parse again: %v", k, s, text, err)
		}
		// A bare port prints as "[::]:PORT", which parses as FamilyInet6.
		sameFamily := b.Family == a.Family || (a.Family == FamilyInet6Any && b.Family == FamilyInet6)
		if b.String() != text || !sameFamily {
			t.Fatalf("round trip of %q (kind %d): %q family %d → %q family %d", s, k, text, a.Family, b.String(), b.Family)
		}
	})
}

func FuzzParseExecLine(f *testing.F) {
	for _, s := range []string{
		"/bin/true", "-@/bin/x argv0 a ; /bin/y", `"/PATH WITH SPACES/x" '-1 -2'`, `/bin/find \; \073 ";"`,
		`/bin/echo \q \x41 \u00e9 "a\`, "+!/bin/x", "!!/bin/x", ":-@ x", "echo $FOO ${BAR}", ";", "; ;", `\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmds, err := ParseExecLine(s)
		if err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
		for _, c := range cmds {
			if c.Path == "" || len(c.Args) == 0 {
				t.Fatalf("ParseExecLine(%q): bad command %+v", s, c)
			}
			if !strings.HasPrefix(c.Path, "/") && strings.Contains(c.Path, "/") {
				t.Fatalf("ParseExecLine(%q): relative path %q accepted", s, c.Path)
			}
		}
	})
}

func FuzzParseTimespan(f *testing.F) {
	for _, s := range []string{"5s", "1min 30s", "55s500ms", "1.5h", ".5", "infinity", "3.1s.2", "-1", "300y", "1 2 3", "5µs", "9223372036854775807us"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimespan(s)
		if err != nil || d == Infinity {
			return
		}
		if d < 0 || d%time.Microsecond != 0 {
			t.Fatalf("ParseTimespan(%q) = %d", s, d)
		}
		us := fmt.Sprintf("%dus", d/time.Microsecond)
		if e, err := ParseTimespan(us); err != nil || e != d {
			t.Fatalf("ParseTimespan(%q) = %v, %v; want %v (from %q)", us, e, err, d, s)
		}
	})
}

// quoteWord quotes w so that SplitWords gives it back.
func quoteWord(w string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(w) + `"`
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{`a b`, `a"b c"d`, `'x' "y"`, `\x41\n\s`, `"unbalanced`, `trailing\`, `""`, "\t a \r\n b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitWords(s)
		if err != nil {
			return
		}
		var q []string
		for _, w := range words {
			q = append(q, quoteWord(w))
		}
		again, err := SplitWords(strings.Join(q, " "))
		if err != nil || len(again) != len(words) {
			t.Fatalf("SplitWords round trip of %q: %q → %q, %v", s, words, again, err)
		}
		for i := range words {
			if again[i] != words[i] {
				t.Fatalf("SplitWords round trip of %q: %q → %q", s, words, again)
			}
		}
	})
}

func FuzzParseEnvironmentFile(f *testing.F) {
	for _, s := range []string{
		"a=a\nb=b\\\nc\nd=d\\\ne\\\nf\ng=g\\ \nh=h\ni=i\\",
		"#c \\\nA=1\nB='x y'\nC=\"q \\\" \\$ \\n\"\n",
		"export X=1\n A = b \r\n", "=\n==\n'\n\"", "A=\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env, err := ParseEnvironmentFile(strings.NewReader(s))
		if err != nil {
			return
		}
		var b strings.Builder
		seen := map[string]bool{}
		esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`)
		for _, kv := range env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !envNameValid(k) || seen[k] || !utf8.ValidString(v) {
				t.Fatalf("ParseEnvironmentFile(%q): bad entry %q", s, kv)
			}
			seen[k] = true
			b.WriteString(k + "=\"" + esc.Replace(v) + "\"\n")
		}
		again, err := ParseEnvironmentFile(strings.NewReader(b.String()))
		if err != nil || strings.Join(again, "\x00") != strings.Join(env, "\x00") {
			t.Fatalf("round trip of %q: %q → %q (%q), %v", s, env, b.String(), again, err)
		}
	})
}

func FuzzExpandSpecifiers(f *testing.F) {
	for _, s := range []string{"%n %N %p %P %i %I %j %J %f", "%t/%S/%C/%L/%E/%T/%V/%d", "100%%", "%", "%%%", "%Z", "/run/%i.sock", "%%i"} {
		f.Add(s, "echo@a-b\\x2dc.service")
	}
	f.Fuzz(func(t *testing.T, s, unit string) {
		c := testSpecifierContext(unit)
		out, err := ExpandSpecifiers(s, c)
		if err != nil {
			return
		}
		if !strings.Contains(s, "%") && out != s {
			t.Fatalf("ExpandSpecifiers(%q) = %q without any %%", s, out)
		}
		if !UsesInstanceSpecifiers(s) {
			// The value must not depend on the instance.
			other := c.WithUnit(unitPrefix(unit) + "@other" + strings.TrimPrefix(unit, unitNameStem(unit)))
			other.FragmentPath = c.FragmentPath
			if out2, err := ExpandSpecifiers(s, other); err != nil || out2 != out {
				t.Fatalf("ExpandSpecifiers(%q) depends on the instance: %q (%s) vs %q (%s), %v", s, out, unit, out2, other.UnitName, err)
			}
		}
	})
}
