package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/config"
)

// makeTarget runs a Makefile target of the repository with vars.
func makeTarget(t *testing.T, vars ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "-C", filepath.Join("..", "..")}, vars...)...)
	// Not the outer make's jobserver or flags (make test runs go test).
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %v: %v\n%s", vars, err, out)
	}
	return string(out)
}

func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	if testing.Short() {
		t.Skip("builds sockd")
	}
	dest := t.TempDir()
	makeTarget(t, "install", "DESTDIR="+dest)

	files := []struct {
		path string
		mode os.FileMode
	}{
		{"usr/local/bin/sockd", 0o755},
		{"lib/systemd/system/sockd.service", 0o644},
		{"etc/sockd/sockd.toml", 0o644},
		{"etc/sockd/units", os.ModeDir | 0o755},
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dest, f.path))
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if fi.Mode()&(os.ModeDir|os.ModePerm) != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, fi.Mode(), f.mode)
		}
	}
	bin := filepath.Join(dest, "usr/local/bin/sockd")
	if out, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(out), "sockd ") {
		t.Errorf("installed sockd version: %v %s", err, out)
	}
	// The shipped sockd.toml is the defaults, and valid.
	cfg, err := config.Load(filepath.Join(dest, "etc/sockd/sockd.toml"), false, false)
	if err != nil {
		t.Fatalf("installed sockd.toml: %v", err)
	}
	if cfg.ControlSocket != "/run/sockd/control.sock" {
		t.Errorf("control_socket = %q", cfg.ControlSocket)
	}

	unit, err := os.ReadFile(filepath.Join(dest, "lib/systemd/system/sockd.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/sockd run --config /etc/sockd/sockd.toml\n")) ||
		!bytes.Contains(unit, []byte("Type=notify\n")) {
		t.Errorf("installed unit:\n%s", unit)
	}
	// systemd-analyze verify, pointed at the installed binary.
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		vdir := t.TempDir()
		v := bytes.ReplaceAll(unit, []byte("/usr/local/bin/sockd"), []byte(bin))
		os.WriteFile(filepath.Join(vdir, "sockd.service"), v, 0o644)
		out, err := exec.Command(sa, "verify", filepath.Join(vdir, "sockd.service")).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	// The installed binary runs with the installed configuration and
	// answers its control socket.
	units := filepath.Join(dest, "etc/sockd/units")
	os.WriteFile(filepath.Join(units, "t.socket"), []byte("[Socket]\nListenStream="+filepath.Join(dest, "t.sock")+"\nAccept=yes\n"), 0o644)
	os.WriteFile(filepath.Join(units, "t@.service"), []byte("[Service]\nExecStart=/bin/cat\nStandardInput=socket\n"), 0o644)
	sock := filepath.Join(dest, "control.sock")
	run := exec.Command(bin, "run", "--config", filepath.Join(dest, "etc/sockd/sockd.toml"), "--units", units, "--control", sock)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { run.Process.Kill(); run.Wait() }()
	var out []byte
	eventually(t, "installed sockd lists t.socket", func() bool {
		out, _ = exec.Command(bin, "list", "--control", sock).Output()
		return strings.Contains(string(out), "t.socket")
	})

	// A second install keeps an edited sockd.toml.
	toml := filepath.Join(dest, "etc/sockd/sockd.toml")
	os.WriteFile(toml, []byte("# mine\n"), 0o644)
	makeTarget(t, "install", "DESTDIR="+dest)
	if b, _ := os.ReadFile(toml); string(b) != "# mine\n" {
		t.Errorf("install overwrote sockd.toml: %q", b)
	}

	makeTarget(t, "uninstall", "DESTDIR="+dest)
	for _, f := range []string{"usr/local/bin/sockd", "lib/systemd/system/sockd.service"} {
		if _, err := os.Stat(filepath.Join(dest, f)); !os.IsNotExist(err) {
			t.Errorf("uninstall left %s", f)
		}
	}
	if _, err := os.Stat(toml); err != nil {
		t.Errorf("uninstall removed the configuration: %v", err)
	}

	// PREFIX moves the binary, and the unit follows it.
	dest2 := t.TempDir()
	makeTarget(t, "install", "DESTDIR="+dest2, "PREFIX=/usr")
	unit, _ = os.ReadFile(filepath.Join(dest2, "lib/systemd/system/sockd.service"))
	if _, err := os.Stat(filepath.Join(dest2, "usr/bin/sockd")); err != nil || !bytes.Contains(unit, []byte("ExecStart=/usr/bin/sockd ")) {
		t.Errorf("PREFIX=/usr: %v\n%s", err, unit)
	}
}
