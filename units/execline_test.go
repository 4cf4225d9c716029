package units

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Mirrors test_config_parse_exec of systemd's test-load-fragment.c, plus
// lines checked with systemd-analyze verify (v252). want is one command per
// element as "PATH|ARG0|ARG1...", flags are those of the last command;
// fatal is systemd's -ENOEXEC (as opposed to dropping the line).
func TestParseExecLine(t *testing.T) {
	tests := []struct {
		in    string
		want  []string
		flags CommandFlags
		err   bool
		fatal bool
	}{
		{in: "/RValue r1", want: []string{"/RValue|/RValue|r1"}},
		{in: "/RValue///slashes r1///", want: []string{"/RValue/slashes|/RValue///slashes|r1///"}},
		{in: "/RValue/ argv0 r1", err: true, fatal: true},
		{in: "@/RValue///slashes2 ///argv0 r1", want: []string{"/RValue/slashes2|///argv0|r1"}, flags: CmdArgv0},
		{in: "@/RValue", err: true, fatal: true},
		{in: "", want: nil},
		{in: "   ", want: nil},
		{in: "-@/RValue///slashes3 argv0a r1", want: []string{"/RValue/slashes3|argv0a|r1"}, flags: CmdIgnoreFailure | CmdArgv0},
		{in: "@-/RValue///slashes4 argv0b r1", want: []string{"/RValue/slashes4|argv0b|r1"}, flags: CmdIgnoreFailure | CmdArgv0},
		{in: "--/RValue argv0 r1", err: true},
		{in: "-@-/RValue argv0 r1", err: true},
		{in: "-@/RValue argv0 r1 ; /goo/goo boo", want: []string{"/RValue|argv0|r1", "/goo/goo|/goo/goo|boo"}},
		{in: "-@/RValue argv0 r1 ; ; /goo/goo boo", want: []string{"/RValue|argv0|r1", "/goo/goo|/goo/goo|boo"}},
		{in: "-@/RValue argv0 r1 ; ", want: []string{"/RValue|argv0|r1"}, flags: CmdIgnoreFailure | CmdArgv0},
		{in: "-@/RValue argv0 r1 ;", want: []string{"/RValue|argv0|r1"}, flags: CmdIgnoreFailure | CmdArgv0},
		{in: "-@/RValue argv0 r1 ';'", want: []string{"/RValue|argv0|r1|;"}, flags: CmdIgnoreFailure | CmdArgv0},
		{in: `/bin/find \;`, want: []string{"/bin/find|/bin/find|;"}},
		{in: `/sbin/find \; /x`, want: []string{"/sbin/find|/sbin/find|;|/x"}},
		{in: `/sbin/find \;x`, want: []string{`/sbin/find|/sbin/find|\;x`}},
		{in: `/bin/find \073`, want: []string{"/bin/find|/bin/find|;"}},
		{in: `/bin/find ";"`, want: []string{"/bin/find|/bin/find|;"}},
		{in: `/sbin/find ";" /x`, want: []string{"/sbin/find|/sbin/find|;|/x"}},
		{in: `"/PATH WITH SPACES/daemon" -1 -2`, want: []string{"/PATH WITH SPACES/daemon|/PATH WITH SPACES/daemon|-1|-2"}},
		{in: `"/PATH WITH SPACES/daemon -1 -2"`, want: []string{"/PATH WITH SPACES/daemon -1 -2|/PATH WITH SPACES/daemon -1 -2"}},
		{in: `"/PATH WITH SPACES/daemon" "-1" '-2'`, want: []string{"/PATH WITH SPACES/daemon|/PATH WITH SPACES/daemon|-1|-2"}},
		{in: `"/PATH\sWITH\sSPACES/daemon" '-1 -2'`, want: []string{"/PATH WITH SPACES/daemon|/PATH WITH SPACES/daemon|-1 -2"}},
		{in: `"/PATH\x20WITH\x20SPACES/daemon" "-1 -2"`, want: []string{"/PATH WITH SPACES/daemon|/PATH WITH SPACES/daemon|-1 -2"}},
		{in: `/path\a`, err: true, fatal: true},
		{in: `/path\b`, err: true, fatal: true},
		{in: `/path\f`, err: true, fatal: true},
		{in: `/path\n`, err: true, fatal: true},
		{in: `/path\r`, err: true, fatal: true},
		{in: `/path\t`, err: true, fatal: true},
		{in: `/path\v`, err: true, fatal: true},
		{in: `/path\\`, err: true, fatal: true},
		{in: `/path\'`, err: true, fatal: true},
		{in: `/path\"`, err: true, fatal: true},
		{in: `/path\x`, err: true, fatal: true},
		{in: `/path\s`, want: []string{"/path |/path "}},
		{in: `/bin/grep '\w+\K'`, want: []string{`/bin/grep|/bin/grep|\w+\K`}},
		{in: `/path\`, err: true, fatal: true},
		{in: `/path 'foo`, err: true, fatal: true},
		{in: `/path 'foo\`, err: true, fatal: true},
		{in: "- /path", err: true},
		{in: "-", err: true},
		{in: "@", err: true, fatal: true},
		// systemd-analyze verify (v252)
		{in: `/bin/echo \q a\;b \x4 "\q"`, want: []string{`/bin/echo|/bin/echo|\q|a\;b|\x4|\q`}},
		{in: `"/bin/ec\ho" x`, err: true, fatal: true},
		{in: "+!/bin/true", err: true, fatal: true},
		{in: "!!/bin/true", want: []string{"/bin/true|/bin/true"}, flags: CmdAmbientMagic},
		{in: "!/bin/true", want: []string{"/bin/true|/bin/true"}, flags: CmdNoSetuid},
		{in: "!!!/bin/true", err: true, fatal: true},
		{in: "+/bin/true", want: []string{"/bin/true|/bin/true"}, flags: CmdFullPrivileges},
		{in: ":-@/bin/true x", want: []string{"/bin/true|x"}, flags: CmdNoEnvExpand | CmdIgnoreFailure | CmdArgv0},
		{in: "echo hi", want: []string{"echo|echo|hi"}},
		{in: "bin/echo hi", err: true, fatal: true},
		{in: `/bin/echo \u00e9 \U0001F600 \xff`, want: []string{"/bin/echo|/bin/echo|é|😀|\xff"}},
		{in: `/bin/echo \u0000 \x00 \000 \UFFFFFFFF`, want: []string{`/bin/echo|/bin/echo|\u0000|\x00|\000|\UFFFFFFFF`}},
		{in: `/bin/echo \uD800`, want: []string{"/bin/echo|/bin/echo|\xed\xa0\x80"}},
		{in: `/bin/echo "`, err: true, fatal: true},
		{in: `-/bin/echo "`, err: true},
		{in: `/bin/echo x\`, want: []string{`/bin/echo|/bin/echo|x\`}},
		{in: `-/bin/ec"ho`, err: true},
		{in: `@/bin/true ""`, want: []string{"/bin/true|"}, flags: CmdArgv0},
		{in: `/bin/echo ""`, want: []string{"/bin/echo|/bin/echo|"}},
		{in: "/bin/echo ; /bin/x", want: []string{"/bin/echo|/bin/echo", "/bin/x|/bin/x"}},
		{in: "';' /bin/true", want: []string{"/bin/true|/bin/true"}},
		{in: "/bin/./echo", want: []string{"/bin/echo|/bin/./echo"}},
		{in: "/bin/../bin/true", want: []string{"/bin/../bin/true|/bin/../bin/true"}},
		{in: "|/bin/true", err: true, fatal: true},
		{in: "/", err: true, fatal: true},
		{in: "foo/", err: true, fatal: true},
		{in: `/bin/echo a"b c"d`, want: []string{"/bin/echo|/bin/echo|ab cd"}},
		{in: "/bin/sh -c 'echo $HOME; exit 1'", want: []string{"/bin/sh|/bin/sh|-c|echo $HOME; exit 1"}},
		{in: "/bin/echo c;", want: []string{"/bin/echo|/bin/echo|c;"}},
		{in: "/bin/a x;y ;z", want: []string{"/bin/a|/bin/a|x;y|;z"}},
		{in: "/bin/a\t;\t/bin/b", want: []string{"/bin/a|/bin/a", "/bin/b|/bin/b"}},
	}
	for _, tt := range tests {
		cmds, err := ParseExecLine(tt.in)
		if tt.err {
			var ee *ExecError
			if !errors.As(err, &ee) {
				t.Errorf("ParseExecLine(%q) = %v, %v; want *ExecError", tt.in, cmds, err)
				continue
			}
			if ee.Fatal != tt.fatal {
				t.Errorf("ParseExecLine(%q): Fatal = %v; want %v (%v)", tt.in, ee.Fatal, tt.fatal, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseExecLine(%q) error: %v", tt.in, err)
			continue
		}
		var got []string
		for _, c := range cmds {
			got = append(got, c.Path+"|"+strings.Join(c.Args, "|"))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseExecLine(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if len(cmds) > 0 && cmds[len(cmds)-1].Flags != tt.flags {
			t.Errorf("ParseExecLine(%q) flags = %b; want %b", tt.in, cmds[len(cmds)-1].Flags, tt.flags)
		}
	}
}

func TestParseExecLineKeepsEarlierCommands(t *testing.T) {
	cmds, err := ParseExecLine("/bin/a ; /bin/b 'x")
	if err == nil || len(cmds) != 1 || cmds[0].Path != "/bin/a" {
		t.Errorf("got %v, %v", cmds, err)
	}
	if !errors.Is(err, ErrUnbalancedQuote) {
		t.Errorf("error %v does not wrap ErrUnbalancedQuote", err)
	}
}

func TestParseExecLineExpand(t *testing.T) {
	expand := func(s string) (string, error) {
		if strings.Contains(s, "%z") {
			return "", errors.New("unknown specifier %z")
		}
		return strings.ReplaceAll(s, "%i", "a b"), nil
	}
	cmds, err := ParseExecLineExpand("/usr/bin/%i-x --inst=%i '%i'", expand)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/bin/a b-x", "--inst=a b", "a b"}
	if cmds[0].Path != "/usr/bin/a b-x" || !reflect.DeepEqual(cmds[0].Args, want) {
		t.Errorf("got %q %q", cmds[0].Path, cmds[0].Args)
	}
	var ee *ExecError
	if _, err := ParseExecLineExpand("/bin/x %z", expand); !errors.As(err, &ee) || !ee.Fatal || !strings.Contains(err.Error(), "%z") {
		t.Errorf("unknown specifier: %v", err)
	}
	if _, err := ParseExecLineExpand("-/bin/x %z", expand); !errors.As(err, &ee) || ee.Fatal {
		t.Errorf("unknown specifier with '-': %v", err)
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"  ", nil, nil},
		{"a b  c", []string{"a", "b", "c"}, nil},
		{"\ta\n\rb ", []string{"a", "b"}, nil},
		{`"a b" 'c d'`, []string{"a b", "c d"}, nil},
		{`a"b c"d`, []string{"ab cd"}, nil},
		{`FOO="bar baz" X='1 2'`, []string{"FOO=bar baz", "X=1 2"}, nil},
		{`""`, []string{""}, nil},
		{`"" ''`, []string{"", ""}, nil},
		{`"'" '"'`, []string{"'", `"`}, nil},
		{`\a\b\f\n\r\t\v\\\"\'\s`, []string{"\a\b\f\n\r\t\v\\\"' "}, nil},
		{`\x41\101\u00e9\U0001F600`, []string{"AAé😀"}, nil},
		{`"\x41 \n"`, []string{"A \n"}, nil},
		{`'\x41'`, []string{"A"}, nil}, // escapes work in single quotes too
		{`a\ b`, nil, ErrBadEscape},
		{`\q`, nil, ErrBadEscape},
		{`\x4`, nil, ErrBadEscape},
		{`\x00`, nil, ErrBadEscape},
		{`\000`, nil, ErrBadEscape},
		{`\400`, nil, ErrBadEscape},
		{`\u0000`, nil, ErrBadEscape},
		{`\UFFFFFFFF`, nil, ErrBadEscape},
		{`\UD800`, nil, ErrBadEscape},
		{`a\`, nil, ErrBadEscape},
		{`"a\`, nil, ErrBadEscape},
		{`"a`, nil, ErrUnbalancedQuote},
		{`a 'b`, nil, ErrUnbalancedQuote},
	}
	for _, tt := range tests {
		got, err := SplitWords(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("SplitWords(%q) = %q, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitWordsVariants(t *testing.T) {
	tests := []struct {
		split func(string) ([]string, error)
		in    string
		want  []string
		ok    bool
	}{
		{SplitWordsUnquote, `/a "/b c" '/d'`, []string{"/a", "/b c", "/d"}, true},
		{SplitWordsUnquote, `/a\x41 \q`, []string{"/ax41", "q"}, true},
		{SplitWordsUnquote, `"/a`, nil, false},
		{SplitWordsUnquote, `/a\`, nil, false},
		{SplitFields, `"a b"`, []string{`"a`, `b"`}, true},
		{SplitFields, `a\ b c`, []string{"a b", "c"}, true},
		{SplitFields, `a\`, nil, false},
	}
	for _, tt := range tests {
		got, err := tt.split(tt.in)
		if tt.ok != (err == nil) || (tt.ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("split(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// Mirrors test_replace_env_argv of systemd's test-env-util.c.
func TestExpandEnv(t *testing.T) {
	env := map[string]string{
		"FOO":      "BAR BAR",
		"BAR":      "waldo",
		"EMPTY":    "",
		"QUOTED":   `"a b" c`,
		"SPACES":   "  x   y  ",
		"A":        "1",
		"WITH$":    "d",
		"UNBAL":    `'x y`,
		"BACKSLSH": `a\ b`,
	}
	tests := []struct {
		in, want []string
	}{
		{[]string{"FOO=$FOO", "BAR=${BAR}"}, []string{"FOO=$FOO", "BAR=waldo"}},
		{[]string{"$FOO"}, []string{"BAR", "BAR"}},
		{[]string{"${FOO}"}, []string{"BAR BAR"}},
		{[]string{"a${FOO}b"}, []string{"aBAR BARb"}},
		{[]string{"$EMPTY", "x"}, []string{"x"}},
		{[]string{"${EMPTY}", "x"}, []string{"", "x"}},
		{[]string{"$NOPE", "${NOPE}"}, []string{""}},
		{[]string{"$$", "$$FOO", "a$$b"}, []string{"$", "$FOO", "a$b"}},
		{[]string{"$QUOTED"}, []string{"a b", "c"}},
		{[]string{"$SPACES"}, []string{"x", "y"}},
		{[]string{"${SPACES}"}, []string{"  x   y  "}},
		{[]string{"$UNBAL"}, []string{"x y"}},
		{[]string{"$BACKSLSH"}, []string{"a b"}},
		{[]string{"${FOO", "${A:-x}", "x${}y", "${A}${A}"}, []string{"${FOO", "${A:-x}", "xy", "11"}},
		{[]string{"$", "a$", "$A$"}, []string{"a$"}},
		{[]string{"${A}$"}, []string{"1$"}},
		{[]string{"$FOO-x"}, nil},
		{nil, []string{}},
	}
	for _, tt := range tests {
		got := ExpandEnv(tt.in, env)
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ExpandEnv(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolveProgram(t *testing.T) {
	exists := map[string]bool{"/usr/sbin/foo": true, "/usr/bin/foo": true, "/usr/bin/bar": true}
	ex := func(p string) bool { return exists[p] }
	tests := []struct{ in, want string }{
		{"/opt/x", "/opt/x"},
		{"foo", "/usr/sbin/foo"},
		{"bar", "/usr/bin/bar"},
		{"nope", "/usr/bin/nope"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := resolveProgram(tt.in, ex); got != tt.want {
			t.Errorf("resolveProgram(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if got := ResolveProgram("sh"); !strings.HasPrefix(got, "/usr/") || !strings.HasSuffix(got, "/sh") {
		t.Errorf("ResolveProgram(sh) = %q", got)
	}
}

// TestParseExecLineAgainstSystemd is a differential test against systemd
// 252: each line goes into its own service, and systemd-analyze verify
// tells whether it was accepted, dropped (the unit has no ExecStart= left)
// or fatal to the unit.
func TestParseExecLineAgainstSystemd(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs systemd-analyze")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	for i, line := range []string{
		"/bin/true", "true", "/bin/true a b", `"/bin/true" "a b"`, "-/bin/true", "@/bin/true x", "@/bin/true",
		"--/bin/true", "-@-/bin/true x", "+!/bin/true", "!!/bin/true", "!!!/bin/true", ":+/bin/true", "|/bin/true",
		"-", "@", "/", "/bin/", "bin/true", `/bin/true \q`, `/bin/tr\ue`, `/bin/true "a`, `-/bin/true "a`,
		`/bin/tr"ue`, `-/bin/tr"ue`, `/bin/true a\`, `/bin/true \;`, `/bin/true ";"`, "/bin/true ;", "; /bin/true",
		`/bin/true \x00`, `/bin/true \u00e9`, "/bin//true", "/bin/./true", `/bin/tr\x75e`, `/bin/true\s`,
	} {
		file := filepath.Join(dir, fmt.Sprintf("t%d.service", i))
		body := "[Service]\nType=oneshot\nExecStart=" + strings.ReplaceAll(line, "%", "%%") + "\n"
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(analyze, "verify", "--man=no", file).CombinedOutput()
		want := "ok"
		switch {
		case strings.Contains(string(out), "has no ExecStart"):
			want = "dropped"
		case strings.Contains(string(out), "fatal error"):
			want = "fatal"
		}
		cmds, err := ParseExecLine(line)
		got := "ok"
		var ee *ExecError
		switch {
		case errors.As(err, &ee) && ee.Fatal:
			got = "fatal"
		case err != nil || len(cmds) == 0:
			got = "dropped"
		}
		if got != want {
			t.Errorf("ExecStart=%s: sockd %s (%v), systemd %s:\n%s", line, got, err, want, out)
		}
	}
}
