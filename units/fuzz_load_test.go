package units

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// FuzzLoad loads one fuzzed file as a socket unit (with a valid service) and
// as a service unit: it must not panic, every diagnostic must have a place,
// and a loaded socket must satisfy the load-time invariants.
func FuzzLoad(f *testing.F) {
	for _, s := range lexSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("[Socket]\nListenStream=/run/a\nSymlinks=/run/b\nAccept=yes\n"), false)
	f.Add([]byte("[Service]\nExecStart=/bin/echo %n %i $X ${Y}\nType=oneshot\n"), true)
	f.Add([]byte("[Socket]\nListenDatagram=[::1]:53\nListenFIFO=/run/f\nListenStream=\nListenNetlink=route 1\n"), false)
	base := f.TempDir()
	spec := NewSpecifierContext("", false)
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, service bool) {
		n++
		dir := filepath.Join(base, "d"+strconv.Itoa(n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		name := "a.socket"
		if service {
			name = "a.service"
		} else if err := os.WriteFile(filepath.Join(dir, "a.service"), []byte(svcTrue), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		set, diags := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath, Specifiers: spec})
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Load took %v", d)
		}
		for _, d := range diags {
			if d.Pos.File == "" || d.Msg == "" {
				t.Fatalf("diagnostic without place or message: %#v", d)
			}
		}
		for _, s := range set.Sockets {
			if len(s.Listeners) == 0 || s.FileDescriptorName == "" || s.Service == "" {
				t.Fatalf("invalid socket loaded: %+v", s)
			}
			if s.Accept && s.MaxConnections == 0 {
				t.Fatalf("Accept=yes with MaxConnections=0 loaded")
			}
		}
		for _, s := range set.Services {
			if len(s.ExecStart) == 0 && len(s.ExecStop) == 0 {
				t.Fatalf("service without commands loaded: %+v", s)
			}
		}
	})
}
