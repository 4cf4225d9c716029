package units

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

// TestLoadParallelMatchesSequential loads a set large enough for the
// prefetching workers, with problems, drop-ins, masked and symlinked units,
// once on one CPU (sequential reading) and once on several, and checks that
// the results and the diagnostics (order included) are the same.
func TestLoadParallelMatchesSequential(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 300; i++ {
		sock := fmt.Sprintf("[Unit]\nDescription=socket %d %%n\n[Socket]\nListenStream=127.0.0.1:%d\n", i, 20000+i)
		svc := fmt.Sprintf("[Unit]\nDescription=service %d\n[Service]\nExecStart=/bin/echo %%i %d\n", i, i)
		switch i % 7 {
		case 1:
			sock += "Accept=yes\nBogus=1\n"
			write(filepath.Join(dir, fmt.Sprintf("u%03d@.service", i)), svc+"StandardInput=socket\n")
		case 2:
			svc += "Restart=sometimes\nUnknownKey=x\n"
		case 3:
			write(filepath.Join(dir, fmt.Sprintf("u%03d.service.d", i), "10-x.conf"), "[Service]\nEnvironment=A=1\nNope=2\n")
			write(filepath.Join(dir, fmt.Sprintf("u%03d.service.d", i), "20-bad.conf"), "[Service\n")
			link("/dev/null", filepath.Join(dir, fmt.Sprintf("u%03d.service.d", i), "30-masked.conf"))
		case 4:
			link("/dev/null", filepath.Join(dir, fmt.Sprintf("u%03d.service", i)))
			svc = ""
		case 5:
			p := filepath.Join(other, fmt.Sprintf("u%03d.service", i))
			write(p, svc)
			link(p, filepath.Join(dir, fmt.Sprintf("u%03d.service", i)))
			svc = ""
		case 6:
			sock += "[Socket\n"
		}
		write(filepath.Join(dir, fmt.Sprintf("u%03d.socket", i)), sock)
		if svc != "" {
			write(filepath.Join(dir, fmt.Sprintf("u%03d.service", i)), svc)
		}
	}
	write(filepath.Join(dir, "service.d", "50-all.conf"), "[Unit]\nDocumentation=man:x(1)\n")
	opts := LoadOptions{LookPath: fakeLookPath, Specifiers: NewSpecifierContext("", false)}

	prev := runtime.GOMAXPROCS(1)
	seqSet, seqDiags := Load([]string{dir}, opts)
	runtime.GOMAXPROCS(4)
	parSet, parDiags := Load([]string{dir}, opts)
	runtime.GOMAXPROCS(prev)

	if len(seqSet.Sockets) < 100 || len(seqDiags) < 100 {
		t.Fatalf("test set too small: %d sockets, %d diagnostics", len(seqSet.Sockets), len(seqDiags))
	}
	if !reflect.DeepEqual(seqDiags, parDiags) {
		t.Errorf("diagnostics differ:\nsequential: %v\nparallel:   %v", seqDiags, parDiags)
	}
	if !reflect.DeepEqual(seqSet.Sockets, parSet.Sockets) || !reflect.DeepEqual(seqSet.Services, parSet.Services) || !reflect.DeepEqual(seqSet.Templates, parSet.Templates) {
		t.Errorf("loaded units differ")
	}
	if _, err := parSet.Instance("u001@.service", "x"); err != nil {
		t.Errorf("Instance: %v", err)
	}
}
