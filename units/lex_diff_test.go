package units

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
)

// corpusDirs returns the unit corpora to test: the committed subset under
// testdata/corpus, plus the full Debian corpus from $SOCKD_CORPUS, or
// fetched by fetch-units.sh into the user cache directory (skipped with a
// message when that is impossible).
func corpusDirs(t *testing.T) []string {
	t.Helper()
	dirs := []string{filepath.Join("testdata", "corpus")}
	if d := os.Getenv("SOCKD_CORPUS"); d != "" {
		return append(dirs, d)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Logf("full corpus skipped: no cache dir: %v", err)
		return dirs
	}
	full := filepath.Join(cache, "sockd", "corpus-units")
	if _, err := os.Stat(filepath.Join(full, "MANIFEST.tsv")); err == nil {
		return append(dirs, full)
	}
	if testing.Short() {
		t.Logf("full corpus skipped in -short mode (set SOCKD_CORPUS or run without -short to fetch it into %s)", full)
		return dirs
	}
	script := os.Getenv("SOCKD_FETCH_UNITS")
	for _, c := range []string{script, "../contrib/corpus/fetch-units.sh", "/work/shared/corpus/fetch-units.sh"} {
		if c != "" {
			if _, err := os.Stat(c); err == nil {
				script = c
				break
			}
		}
	}
	if script == "" {
		t.Logf("full corpus skipped: fetch-units.sh not found (set SOCKD_FETCH_UNITS or SOCKD_CORPUS)")
		return dirs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "bash", script, full).CombinedOutput(); err != nil {
		t.Logf("full corpus skipped: %s %s failed: %v\n%s", script, full, err, lastLines(string(out), 5))
		return dirs
	}
	return append(dirs, full)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// unitFiles lists the *.socket/*.service files below dirs.
func unitFiles(t *testing.T, dirs []string) []string {
	t.Helper()
	var files []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && (strings.HasSuffix(p, ".socket") || strings.HasSuffix(p, ".service") || strings.HasSuffix(p, ".conf")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// goSystemdTriples lexes with go-systemd's unit.DeserializeOptions and
// normalises continuations the way systemd joins them: go-systemd keeps
// "\\\n" in the value, systemd turns the backslash into a space and drops
// the newline.
func goSystemdTriples(data []byte) ([]string, error) {
	opts, err := unit.DeserializeOptions(strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range opts {
		v := strings.TrimSpace(strings.ReplaceAll(o.Value, "\\\n", " "))
		out = append(out, fmt.Sprintf("[%s] %s=%s", o.Section, o.Name, v))
	}
	return out, nil
}

func sockdTriples(data []byte) []string {
	var out []string
	for _, e := range LexBytes(data, "f").Entries {
		out = append(out, fmt.Sprintf("[%s] %s=%s", e.Section, e.Key, e.Value))
	}
	return out
}

// TestLexMatchesGoSystemd: on every real unit file, the lexer yields the
// same section/key/value triples as go-systemd's DeserializeOptions.
func TestLexMatchesGoSystemd(t *testing.T) {
	files := unitFiles(t, corpusDirs(t))
	if len(files) < 30 {
		t.Fatalf("only %d corpus files", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := goSystemdTriples(data)
		if err != nil {
			t.Errorf("%s: go-systemd: %v", f, err)
			continue
		}
		got := sockdTriples(data)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\nsockd:\n%s\ngo-systemd:\n%s", f, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	t.Logf("%d files compared", len(files))
}

// TestGoSystemdDeviations pins the inputs where go-systemd's lexer is wrong
// about systemd's syntax (checked with systemd-analyze verify, v252), so a
// change on either side is noticed.
func TestGoSystemdDeviations(t *testing.T) {
	tests := []struct {
		name, in string
		sockd    string // systemd's reading
		gosd     string // go-systemd's reading, or "error"
	}{
		{"comment inside a continuation is skipped",
			"[S]\nA=1\\\n# c\n2\n", "[S] A=1 2", "error"},
		{"an even number of trailing backslashes does not continue",
			"[S]\nA=x\\\\\nB=y\n", "[S] A=x\\\\\n[S] B=y", "[S] A=x\\ B=y"},
		{"a comment ending in a backslash does not continue",
			"[S]\n#x\\\nA=1\n", "[S] A=1", ""},
		{"a line without '=' is ignored with a warning",
			"[S]\nfoo\nA=1\n", "[S] A=1", "error"},
		{"lines are limited to 1 MiB, not LINE_MAX (2048)",
			"[S]\nA=" + strings.Repeat("x", 3000) + "\n", "[S] A=" + strings.Repeat("x", 3000), "error"},
		{"a lone CR ends a line",
			"[S]\rA=1\rB=2\r", "[S] A=1\n[S] B=2", "error"},
		{"an assignment before any section is ignored",
			"A=1\n[S]\nB=2\n", "[S] B=2", "[S] B=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(sockdTriples([]byte(tt.in)), "\n")
			if got != tt.sockd {
				t.Errorf("sockd: %q, want %q", got, tt.sockd)
			}
			g, err := goSystemdTriples([]byte(tt.in))
			gs := strings.Join(g, "\n")
			if err != nil {
				gs = "error"
			}
			if gs != tt.gosd {
				t.Errorf("go-systemd now gives %q (pinned %q): update this table", gs, tt.gosd)
			}
		})
	}
}

// TestCorpusVerify: every corpus unit systemd-analyze verify (v252) accepts
// loads in sockd without an error. All corpus units are accepted by
// systemd apart from "Command ... is not executable" (the programs are not
// installed here), which sockd reports as a warning; that was checked by
// hand with both tools (see TestCorpusMatchesSystemdAnalyze for the live
// comparison when systemd-analyze is installed).
func TestCorpusVerify(t *testing.T) {
	for _, root := range corpusDirs(t) {
		for _, scope := range []string{"system", "user", "example"} {
			dirs, _ := filepath.Glob(filepath.Join(root, "*", scope))
			if scope == "example" {
				// Example sockets pair with the package's system services.
				sys, _ := filepath.Glob(filepath.Join(root, "*", "system"))
				dirs = append(dirs, sys...)
			}
			if len(dirs) == 0 {
				continue
			}
			set, diags := Load(dirs, LoadOptions{UserMode: scope == "user", Specifiers: testSpecifiers(scope == "user")})
			for _, d := range diags {
				if d.Severity != Error {
					continue
				}
				if strings.Contains(d.Msg, "syslog.service not loaded") {
					continue // its service ships in no downloaded package (rsyslog)
				}
				if scope == "example" && !strings.Contains(d.Pos.File, "/example/") {
					continue
				}
				t.Errorf("%s", d)
			}
			if len(set.Sockets) == 0 {
				t.Errorf("%s/%s: no socket loaded", root, scope)
			}
		}
	}
}

// TestCorpusMatchesSystemdAnalyze runs systemd-analyze verify on each
// committed corpus socket and checks that sockd refuses a unit exactly when
// systemd does (ignoring missing executables and missing services).
func TestCorpusMatchesSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	if testing.Short() {
		t.Skip("slow: runs systemd-analyze per unit")
	}
	root := filepath.Join("testdata", "corpus")
	socks, _ := filepath.Glob(filepath.Join(root, "*", "*", "*.socket"))
	for _, s := range socks {
		dir := filepath.Dir(s)
		args := []string{"verify", "--man=no", s}
		svcs, _ := filepath.Glob(filepath.Join(dir, "*.service"))
		args = append(args, svcs...)
		out, _ := exec.Command(sa, args...).CombinedOutput()
		systemdRefuses := false
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "bad unit file setting") || strings.Contains(l, "Refusing") || strings.Contains(l, "fatal error") {
				systemdRefuses = true
			}
		}
		_, diags := Load([]string{dir}, LoadOptions{})
		sockdRefuses := false
		name := filepath.Base(s)
		for _, d := range diags {
			if d.Severity == Error && d.Unit == name && !strings.Contains(d.Msg, "not loaded") {
				sockdRefuses = true
			}
		}
		if systemdRefuses != sockdRefuses {
			t.Errorf("%s: systemd refuses: %v, sockd refuses: %v\nsystemd-analyze:\n%s\nsockd:\n%v", s, systemdRefuses, sockdRefuses, out, diags)
		}
	}
}

// testSpecifiers is a specifier context that works without a user session:
// %t needs $XDG_RUNTIME_DIR in user mode.
func testSpecifiers(user bool) *SpecifierContext {
	c := NewSpecifierContext("", user)
	if user && c.RuntimeDir == "" {
		c.RuntimeDir = "/run/user/1000"
	}
	return c
}

// TestLexMatchesSystemdAnalyze generates unit files full of syntax corner
// cases (continuations, comments, CR/LF/NUL line ends, BOMs, bad headers,
// X- and unknown sections) and checks that sockd reports the same
// unknown-key/syntax warnings at the same lines, and refuses the same
// files, as systemd-analyze verify.
func TestLexMatchesSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	if testing.Short() {
		t.Skip("runs systemd-analyze")
	}
	pieces := []string{"K%d=v", "\tK%d\t=\tv\t\\", "K%d=a\\\\", "#c\\", ";c\\", "\t# x", "", "\t", "\\", "\\\\",
		"K%d=x\\\\\\", "[Service]", "[Unit]", "[Install]", "[X-A]", "[Bad", "[Ba\"d]", "[Foo]", "K%d=é", "=v",
		"noeq", "\ufeffK%d=bom", "K%d=\"q\\", "[Service] ", "Description=d\\"}
	eols := []string{"\n", "\r\n", "\r", "\n\r", "\n\n", "\x00"}
	rng := rand.New(rand.NewSource(11))
	dir := t.TempDir()
	var files []string
	for n := 0; n < 300; n++ {
		lines := []string{"[Service]", "ExecStart=/bin/true"}
		if rng.Intn(5) == 0 {
			lines = append([]string{"\ufeff#bom"}, lines...)
		}
		for i := rng.Intn(10) + 1; i > 0; i-- {
			p := pieces[rng.Intn(len(pieces))]
			if strings.Contains(p, "%d") {
				p = fmt.Sprintf(p, n*100+i)
			}
			lines = append(lines, p)
		}
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(l + eols[rng.Intn(len(eols))])
		}
		text := b.String()
		if rng.Intn(3) == 0 {
			text = strings.TrimRight(text, "\n\r\x00")
		}
		f := filepath.Join(dir, fmt.Sprintf("r%03d.service", n))
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out, _ := exec.Command(sa, append([]string{"verify", "--man=no"}, files...)...).CombinedOutput()
	want := map[string][]string{}
	lineRE := regexp.MustCompile(`^(/\S+\.service):(\d+): (.*)$`)
	refusedRE := regexp.MustCompile(`^Unit (r\d+\.service) (has a bad unit file setting|failed to load properly)`)
	for _, l := range strings.Split(string(out), "\n") {
		if m := refusedRE.FindStringSubmatch(l); m != nil {
			want[m[1]] = append(want[m[1]], "refused")
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var what string
		switch msg := m[3]; {
		case strings.HasPrefix(msg, "Unknown key '"):
			what = "key " + strings.SplitN(msg, "'", 3)[1]
		case strings.HasPrefix(msg, "Missing '='"):
			what = "noeq"
		case strings.HasPrefix(msg, "Missing key name"):
			what = "nokey"
		case strings.HasPrefix(msg, "Invalid section header"), strings.HasPrefix(msg, "Bad characters in section"):
			what = "badsec"
		case strings.HasPrefix(msg, "Unknown section '"):
			what = "usec " + strings.SplitN(msg, "'", 3)[1]
		case strings.HasPrefix(msg, "Assignment outside"):
			what = "outside"
		default:
			continue
		}
		u := filepath.Base(m[1])
		want[u] = append(want[u], m[2]+" "+what)
	}
	_, diags := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath})
	got := map[string][]string{}
	for _, d := range diags {
		u := filepath.Base(d.Pos.File)
		var what string
		switch msg := d.Msg; {
		case strings.HasPrefix(msg, "unknown key '"):
			what = "key " + strings.SplitN(msg, "'", 3)[1]
		case strings.HasPrefix(msg, "missing '='"):
			what = "noeq"
		case strings.HasPrefix(msg, "missing key name"):
			what = "nokey"
		case strings.HasPrefix(msg, "invalid section header"), strings.HasPrefix(msg, "bad characters in section"):
			what = "badsec"
		case strings.HasPrefix(msg, "unknown section '"):
			what = "usec " + strings.SplitN(msg, "'", 3)[1]
		case strings.HasPrefix(msg, "assignment outside"):
			what = "outside"
		}
		if what != "" {
			got[u] = append(got[u], strconv.Itoa(d.Pos.Line)+" "+what)
		}
		if d.Severity == Error {
			got[u] = append(got[u], "refused")
		}
	}
	n := 0
	for _, w := range want {
		n += len(w)
	}
	if n < 300 {
		t.Fatalf("only %d systemd findings parsed; output format changed?\n%.2000s", n, out)
	}
	t.Logf("%d findings of systemd-analyze compared", n)
	for _, f := range files {
		u := filepath.Base(f)
		w, g := want[u], got[u]
		sort.Strings(w)
		sort.Strings(g)
		if strings.Join(w, "|") != strings.Join(g, "|") {
			data, _ := os.ReadFile(f)
			t.Errorf("%s %q:\nsystemd: %q\nsockd:   %q", u, data, w, g)
		}
	}
}
