package units

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadDirUnsorted compares readDirUnsorted with os.ReadDir on a
// directory of more entries than one getdents64 call returns, with a
// symbolic link and a subdirectory among them.
func TestReadDirUnsorted(t *testing.T) {
	dir := t.TempDir()
	for i := range 9000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("unit-number-%05d.socket", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/dev/null", filepath.Join(dir, "masked.socket")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "web.socket.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := readDirUnsorted(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	slices.SortFunc(got, func(a, b dirEntry) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	for i, w := range want {
		g := got[i]
		if g.name != w.Name() || (g.typ == unix.DT_LNK) != (w.Type()&os.ModeSymlink != 0) || (g.typ == unix.DT_DIR) != w.IsDir() {
			t.Errorf("entry %d: %q type %d, want %q %v", i, g.name, g.typ, w.Name(), w.Type())
		}
	}
	if _, err := readDirUnsorted(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing directory: %v", err)
	}
}

// appendDirent appends one linux_dirent64 record, padded to 8 bytes as the
// kernel does.
func appendDirent(buf []byte, name string, typ uint8) []byte {
	reclen := (19 + len(name) + 1 + 7) &^ 7
	rec := make([]byte, reclen)
	binary.NativeEndian.PutUint64(rec, 1)
	binary.NativeEndian.PutUint16(rec[16:], uint16(reclen))
	rec[18] = typ
	copy(rec[19:], name)
	return append(buf, rec...)
}

// FuzzParseDirents: any buffer parses without a panic, and records built
// from names parse back to those names.
func FuzzParseDirents(f *testing.F) {
	f.Add([]byte{}, "a.socket\x00b@.service\x00.\x00..")
	f.Add(appendDirent(nil, "x", unix.DT_REG)[:10], "")
	f.Add(appendDirent(appendDirent(nil, "web.socket", unix.DT_LNK), "web.socket.d", unix.DT_DIR), "z")
	f.Fuzz(func(t *testing.T, raw []byte, names string) {
		parseDirents(raw, nil)
		var buf []byte
		var want []string
		for i, n := range splitNUL(names) {
			if n == "" {
				continue
			}
			buf = appendDirent(buf, n, uint8(i%16))
			if n != "." && n != ".." {
				want = append(want, n)
			}
		}
		got := parseDirents(buf, nil)
		if len(got) != len(want) {
			t.Fatalf("%d entries, want %d (%q)", len(got), len(want), want)
		}
		for i := range got {
			if got[i].name != want[i] {
				t.Fatalf("entry %d: %q, want %q", i, got[i].name, want[i])
			}
		}
	})
}

func splitNUL(s string) []string {
	var out []string
	for {
		i := 0
		for i < len(s) && s[i] != 0 {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			return out
		}
		s = s[i+1:]
	}
}
