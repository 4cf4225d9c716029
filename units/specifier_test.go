package units

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func testSpecifierContext(unit string) *SpecifierContext {
	return &SpecifierContext{
		UnitName:   unit,
		RuntimeDir: "/run", StateDir: "/var/lib", CacheDir: "/var/cache", LogsDir: "/var/log", ConfigDir: "/etc",
		TmpDir: "/tmp", VarTmpDir: "/var/tmp",
		UserName: "root", UID: 0, GID: 0, GroupName: "root", Home: "/root", Shell: "/bin/sh",
		Hostname: "host.example.org", ShortHostname: "host", PrettyHostname: "Host's box",
		MachineID:     "3d1219c7c4c5404aaa1f6d2a48adfda4",
		BootID:        "c14182e46de44e6d9de80b8fdff66feb",
		KernelRelease: "6.1.0-test", Architecture: "x86-64",
		OSRelease:    map[string]string{"ID": "debian", "VERSION_ID": "12"},
		FragmentPath: "/etc/systemd/system/blah@.service",
	}
}

// Unit-name cases mirror test_unit_printf of systemd's test-unit-name.c
// and install_printf of test-load-fragment.c.
func TestExpandSpecifiers(t *testing.T) {
	tests := []struct {
		unit, in, want string
		err            bool
	}{
		{"blah.service", "%n", "blah.service", false},
		{"blah.service", "%N", "blah", false},
		{"blah.service", "%p", "blah", false},
		{"blah.service", "%P", "blah", false},
		{"blah.service", "%i", "", false},
		{"blah.service", "%I", "", false},
		{"blah.service", "%j", "blah", false},
		{"blah.service", "%J", "blah", false},
		{"blah.service", "%f", "/blah", false},
		{"blah@foo-foo.service", "%n", "blah@foo-foo.service", false},
		{"blah@foo-foo.service", "%N", "blah@foo-foo", false},
		{"blah@foo-foo.service", "%p", "blah", false},
		{"blah@foo-foo.service", "%P", "blah", false},
		{"blah@foo-foo.service", "%i", "foo-foo", false},
		{"blah@foo-foo.service", "%I", "foo/foo", false},
		{"blah@foo-foo.service", "%j", "blah", false},
		{"blah@foo-foo.service", "%J", "blah", false},
		{"blah@foo-foo.service", "%f", "/foo/foo", false},
		{"blah-blah\\x2d.service", "%j", "blah\\x2d", false},
		{"blah-blah\\x2d.service", "%J", "blah-", false},
		{"blah-blah\\x2d.service", "%P", "blah/blah-", false},
		{"dev-disk-by\\x2duuid-1.swap", "%f", "/dev/disk/by-uuid/1", false},
		{"a-b-c@x.socket", "%j %J", "c c", false},
		{"echo@3-127.0.0.1:80-127.0.0.1:4711.service", "%i", "3-127.0.0.1:80-127.0.0.1:4711", false},
		{"echo@3-127.0.0.1:80-127.0.0.1:4711.service", "%I", "3/127.0.0.1:80/127.0.0.1:4711", false},
		{"getty@tty1.service", "/dev/%I", "/dev/tty1", false},
		{"x@\\xc3\\xa9.service", "%I", "é", false},
		{"x@a\\q.service", "%I", "", true},
		{"x@-.service", "%f", "/", false},
		{"x@a--b.service", "%f", "", true},
		{"x@-a.service", "%f", "", true},
		{"x@.service", "%i|%f", "|/x", false},
		// Directories, user and host.
		{"a.service", "%t/%S/%C/%L/%E/%T/%V", "/run//var/lib//var/cache//var/log//etc//tmp//var/tmp", false},
		{"a.service", "%d", "/run/credentials/a.service", false},
		{"a.service", "%h %u %U %g %G %s", "/root root 0 root 0 /bin/sh", false},
		{"a.service", "%H %l %m %b %v %a", "host.example.org host 3d1219c7c4c5404aaa1f6d2a48adfda4 c14182e46de44e6d9de80b8fdff66feb 6.1.0-test x86-64", false},
		{"a.service", "%o %w [%B]", "debian 12 []", false},
		{"a.service", "%y %Y", "/etc/systemd/system/blah@.service /etc/systemd/system", false},
		// Syntax.
		{"a.service", "", "", false},
		{"a.service", "no specifiers", "no specifiers", false},
		{"a.service", "100%%", "100%", false},
		{"a.service", "%%n", "%n", false},
		{"a.service", "%%%n", "%a.service", false},
		{"a.service", "trailing %", "trailing %", false},
		{"a.service", "%", "%", false},
		{"a.service", "%%%", "%%", false},
		{"a.service", "[::1]:80%%lo", "[::1]:80%lo", false},
		{"a.service", "%q", "Host's box", false},
		{"a.service", "%Z", "", true},
		{"a.service", "%c", "", true}, // deprecated cgroup specifiers
		{"a.service", "%k%n", "", true},
		{"a.service", "x%\xc3\xa9", "", true},
		{"a.service", "% n", "", true},
	}
	for _, tt := range tests {
		got, err := ExpandSpecifiers(tt.in, testSpecifierContext(tt.unit))
		if tt.err {
			if err == nil {
				t.Errorf("ExpandSpecifiers(%q) for %s = %q; want error", tt.in, tt.unit, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ExpandSpecifiers(%q) for %s = %q, %v; want %q", tt.in, tt.unit, got, err, tt.want)
		}
	}
}

func TestExpandSpecifiersErrors(t *testing.T) {
	c := testSpecifierContext("a.service")
	_, err := ExpandSpecifiers("x%Zy", c)
	if !errors.Is(err, ErrUnknownSpecifier) || !strings.Contains(err.Error(), "%Z") {
		t.Errorf("unknown specifier error = %v; want ErrUnknownSpecifier naming %%Z", err)
	}
	c.RuntimeDir = ""
	if _, err := ExpandSpecifiers("%t/x", c); err == nil || errors.Is(err, ErrUnknownSpecifier) {
		t.Errorf("%%t without a runtime dir: %v", err)
	}
	c.MachineID = ""
	if _, err := ExpandSpecifiers("%m", c); err == nil {
		t.Error("%m without a machine id: no error")
	}
}

func TestNewSpecifierContext(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/4242")
	t.Setenv("XDG_CONFIG_HOME", "relative/is/ignored")
	t.Setenv("XDG_STATE_HOME", "/state")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/someone")
	sys := NewSpecifierContext("web.socket", false)
	if sys.RuntimeDir != "/run" || sys.StateDir != "/var/lib" || sys.ConfigDir != "/etc" || sys.LogsDir != "/var/log" || sys.CacheDir != "/var/cache" {
		t.Errorf("system dirs: %+v", sys)
	}
	if h, _ := os.Hostname(); sys.Hostname != h {
		t.Errorf("Hostname = %q; want %q", sys.Hostname, h)
	}
	if sys.UID != os.Getuid() || sys.UserName == "" || sys.GroupName == "" {
		t.Errorf("user facts: %+v", sys)
	}
	if _, err := os.Stat("/etc/machine-id"); err == nil && len(sys.MachineID) != 32 {
		t.Errorf("MachineID = %q", sys.MachineID)
	}
	if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err == nil && len(sys.BootID) != 32 {
		t.Errorf("BootID = %q", sys.BootID)
	}
	usr := NewSpecifierContext("web.socket", true)
	want := map[string]string{
		"RuntimeDir": "/run/user/4242", "ConfigDir": usr.Home + "/.config", "StateDir": "/state",
		"LogsDir": "/state/log", "CacheDir": usr.Home + "/.cache",
	}
	got := map[string]string{
		"RuntimeDir": usr.RuntimeDir, "ConfigDir": usr.ConfigDir, "StateDir": usr.StateDir,
		"LogsDir": usr.LogsDir, "CacheDir": usr.CacheDir,
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("user mode %s = %q; want %q", k, got[k], want[k])
		}
	}
	if usr.Home != "/home/someone" {
		t.Errorf("user mode Home = %q; want $HOME", usr.Home)
	}
	inst := usr.WithUnit("echo@1.service")
	if inst.UnitName != "echo@1.service" || usr.UnitName != "web.socket" || inst.RuntimeDir != usr.RuntimeDir {
		t.Errorf("WithUnit: %q (original %q)", inst.UnitName, usr.UnitName)
	}
}

func TestUsesInstanceSpecifiers(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"/run/foo.sock", false},
		{"%i", true},
		{"/run/%I/x", true},
		{"%n", true},
		{"%N", true},
		{"%f", true},
		{"%d", true},
		{"%p-%j-%t-%H", false},
		{"%%i", false},
		{"%%%i", true},
		{"%", false},
		{"x%", false},
		{`/bin/esc \x25i`, true},
		{`\045n`, true},
		{`\u0025I`, true},
		{`\U00000025f`, true},
		{`\x41`, false},
	}
	for _, tt := range tests {
		if got := UsesInstanceSpecifiers(tt.in); got != tt.want {
			t.Errorf("UsesInstanceSpecifiers(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

// TestSpecifiersAgainstSystemd checks which "%X" systemd 252 knows. sockd
// refuses the deprecated cgroup specifiers %c %r %R on purpose.
func TestSpecifiersAgainstSystemd(t *testing.T) {
	var lines [][2]string
	var letters []byte
	for c := byte('A'); c <= 'z'; c++ {
		if (c > 'Z' && c < 'a') || c == 'c' || c == 'r' || c == 'R' {
			continue
		}
		letters = append(letters, c)
		lines = append(lines, [2]string{"Environment", "X=%" + string(c)})
	}
	bad := systemdRejectsRaw(t, "sp@inst.service", "Service", lines)
	c := testSpecifierContext("sp@inst.service")
	for i, l := range letters {
		_, err := ExpandSpecifiers("%"+string(l), c)
		if (err != nil) != bad[i] {
			t.Errorf("%%%c: sockd error = %v, systemd refused = %v", l, err, bad[i])
		}
	}
}
