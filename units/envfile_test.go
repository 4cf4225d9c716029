package units

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// env_file_1..5 are the inputs of systemd's test-env-file.c (v252 era);
// the rest exercise the other states of parse_env_file_internal.
func TestParseEnvironmentFile(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      bool
	}{
		{"env_file_1", "a=a\nb=b\\\nc\nd=d\\\ne\\\nf\ng=g\\ \nh=h\ni=i\\",
			[]string{"a=a", "b=bc", "d=def", "g=g ", "h=h", "i=i"}, false},
		{"env_file_2", "a=a\\\n", []string{"a=a"}, false},
		{"env_file_3", "#SPAMD_ARGS=\"-d --socketpath=/var/lib/bulwark/spamd \\\n" +
			"#--nouser-config                                     \\\n" +
			"normal=line", nil, false},
		{"env_file_4", "# Generated\n\nHWMON_MODULES=\"coretemp f71882fg\"\n\n# For compatibility reasons\n\nMODULE_0=coretemp\nMODULE_1=f71882fg",
			[]string{"HWMON_MODULES=coretemp f71882fg", "MODULE_0=coretemp", "MODULE_1=f71882fg"}, false},
		{"env_file_5", "a=\nb=", []string{"a=", "b="}, false},
		{"empty", "", nil, false},
		{"comments", "#a=1\n;b=2\n  # c=3\nd=4 # not a comment\n", []string{"d=4 # not a comment"}, false},
		{"blanks", "  A  =   x y   \n", []string{"A=x y"}, false},
		{"single quotes literal", `A='$x \n \' b'`, []string{`A=$x \n \b'`}, false}, // the \ does not escape '
		{"single quotes", `A='a b'`, []string{"A=a b"}, false},
		{"double quote escapes", `A="\" \\ \` + "`" + ` \$ \n \x"`, []string{"A=\" \\ ` $ \\n \\x"}, false},
		{"double quote continuation", "A=\"a\\\nb\"", []string{"A=ab"}, false},
		{"double quote newline kept", "A=\"a\nb\"", []string{"A=a\nb"}, false},
		{"joined parts", `A="a"'b'c`, []string{"A=abc"}, false},
		{"quoted then blank", `A="a" 'b'`, []string{"A=ab"}, false},
		{"trailing blank kept in quotes", `A="a "`, []string{"A=a "}, false},
		{"unterminated quote", `A="abc`, []string{"A=abc"}, false},
		{"unquoted escape", `A=a\"b\\c\$`, []string{`A=a"b\c$`}, false},
		{"no equals", "JUSTAKEY\nB=1\n", []string{"B=1"}, false},
		{"invalid names", "export A=1\n1A=2\nA-B=3\n=4\n_ok=5\n", []string{"_ok=5"}, false},
		{"last wins, first position", "A=1\nB=2\nA=3\n", []string{"A=3", "B=2"}, false},
		{"crlf", "A=1\r\nB=2\r\n", []string{"A=1", "B=2"}, false},
		{"nul stops", "A=1\nB=2\x00\nC=3", []string{"A=1", "B=2"}, false},
		{"comment continuation (v252)", "# x \\\nA=1\nB=2", []string{"B=2"}, false},
		{"value with equals", "A=b=c", []string{"A=b=c"}, false},
		{"bad utf8 value", "A=\xff", nil, true},
		{"bad utf8 key", "\xff=1", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseEnvironmentFile(strings.NewReader(tt.in))
		if tt.err {
			if err == nil {
				t.Errorf("%s: got %q; want error", tt.name, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ParseEnvironmentFile(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestParseEnvironmentFileFixture(t *testing.T) {
	f, err := os.Open("testdata/envfile/basic.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseEnvironmentFile(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PLAIN=second",
		"SPACED=quoted  value",
		`SINGLE=$HOME \n literal`,
		`DOUBLE=a "b" $c \n`,
		"CONT=onetwo",
		"EMPTY=",
		"CRLF=yes",
		"LAST=end",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
