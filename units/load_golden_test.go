package units

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current output")

// TestGolden loads each directory under testdata/golden (or, when it has
// subdirectories, those subdirectories in name order as the search path)
// and compares the diagnostics and a dump of the model with CASE.golden.
// Run `go test ./units -run TestGolden -update` to regenerate.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		if st, err := os.Stat(c); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(c), func(t *testing.T) {
			dirs := []string{c}
			if sub, _ := filepath.Glob(filepath.Join(c, "[0-9]-*")); len(sub) > 0 {
				sort.Strings(sub)
				dirs = sub
			}
			set, diags := Load(dirs, LoadOptions{LookPath: fakeLookPath, Specifiers: NewSpecifierContext("", false)})
			got := dumpSet(t, set, diags)
			golden := c + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs; run `go test ./units -run TestGolden -update` and review the diff:\n%s", golden, got)
			}
		})
	}
	if n < 5 {
		t.Fatalf("only %d golden cases", n)
	}
}

func dumpSet(t *testing.T, set *Set, diags Diagnostics) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("# diagnostics\n")
	for _, d := range diags {
		b.WriteString(d.Severity.String() + ": " + d.String() + "\n")
	}
	names := func(m map[string]*Service) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	dump := struct {
		Sockets   []*Socket
		Services  []*Service
		Templates []*Service
	}{Sockets: set.Sockets}
	for _, n := range names(set.Services) {
		dump.Services = append(dump.Services, set.Services[n])
	}
	for _, n := range names(set.Templates) {
		dump.Templates = append(dump.Templates, set.Templates[n])
	}
	j, err := json.MarshalIndent(dump, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("# model\n")
	b.Write(j)
	b.WriteByte('\n')
	return b.Bytes()
}
