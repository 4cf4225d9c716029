package units

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeLookPath treats absolute paths and a few bare names as existing, so
// tests do not depend on the machine; "/nonexistent/..." does not exist.
func fakeLookPath(p string) (string, bool) {
	if strings.HasPrefix(p, "/nonexistent") {
		return p, false
	}
	if strings.HasPrefix(p, "/") {
		return p, true
	}
	switch p {
	case "cat", "true", "sleep":
		return "/usr/bin/" + p, true
	}
	return p, false
}

// writeUnits creates files (relative path → content) under a new temp dir.
func writeUnits(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func loadUnits(t testing.TB, files map[string]string) (*Set, Diagnostics, string) {
	t.Helper()
	dir := t.TempDir()
	writeUnits(t, dir, files)
	set, diags := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath})
	return set, diags, dir
}

// render prints diagnostics with file names relative to dir, one per line,
// prefixed with E/W/N.
func render(d Diagnostics, dir string) []string {
	var out []string
	for _, x := range d {
		x.Pos.File = strings.TrimPrefix(strings.TrimPrefix(x.Pos.File, dir), "/")
		out = append(out, strings.ToUpper(x.Severity.String()[:1])+" "+x.String())
	}
	return out
}

// hasDiag reports whether some rendered line contains every part of want.
func hasDiag(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

const svcTrue = "[Service]\nExecStart=/bin/true\n"

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// want: substrings of rendered diagnostics, "E "/"W " prefixed.
		want []string
		// sockets that must have loaded.
		loaded []string
	}{
		// Symlinks=
		{"symlinks without fs node", map[string]string{"a.socket": "[Socket]\nListenStream=80\nSymlinks=/run/x\n", "a.service": svcTrue},
			[]string{"E a.socket:3: Symlinks=: unit has symlinks set but no node"}, nil},
		{"symlinks with two fs nodes", map[string]string{"a.socket": "[Socket]\nListenStream=/run/a\nListenFIFO=/run/b\nSymlinks=/run/x\n", "a.service": svcTrue},
			[]string{"E a.socket:4: Symlinks=: unit has symlinks set but more than one node"}, nil},
		{"symlinks with abstract socket only", map[string]string{"a.socket": "[Socket]\nListenStream=@abs\nSymlinks=/run/x\n", "a.service": svcTrue},
			[]string{"E a.socket:3: Symlinks="}, nil},
		{"symlinks with one fs node and an IP port", map[string]string{"a.socket": "[Socket]\nListenStream=/run/a.sock\nListenStream=80\nSymlinks=/run/x\n", "a.service": svcTrue},
			nil, []string{"a.socket"}},
		{"symlinks reset", map[string]string{"a.socket": "[Socket]\nListenStream=80\nSymlinks=/run/x\nSymlinks=\n", "a.service": svcTrue},
			nil, []string{"a.socket"}},
		// Accept=yes on non-accepting listeners.
		{"accept datagram", map[string]string{"a.socket": "[Socket]\nListenDatagram=1234\nAccept=yes\n", "a@.service": svcTrue},
			[]string{"E a.socket:2: Accept=: unit configured for accepting sockets, but sockets are non-accepting"}, nil},
		{"accept FIFO", map[string]string{"a.socket": "[Socket]\nListenFIFO=/run/f\nAccept=yes\n", "a@.service": svcTrue},
			[]string{"E a.socket:2: Accept=: unit configured for accepting"}, nil},
		{"accept special", map[string]string{"a.socket": "[Socket]\nListenSpecial=/dev/kmsg\nAccept=yes\n", "a@.service": svcTrue},
			[]string{"E a.socket:2: Accept=: unit configured for accepting"}, nil},
		{"accept netlink", map[string]string{"a.socket": "[Socket]\nListenNetlink=kobject-uevent 1\nAccept=yes\n", "a@.service": svcTrue},
			[]string{"E a.socket:2: Accept=: unit configured for accepting"}, nil},
		{"accept mqueue", map[string]string{"a.socket": "[Socket]\nListenMessageQueue=/q\nAccept=yes\n", "a@.service": svcTrue},
			[]string{"E a.socket:2: Accept=: unit configured for accepting"}, nil},
		{"accept seqpacket is fine", map[string]string{"a.socket": "[Socket]\nListenSequentialPacket=/run/a\nAccept=yes\n", "a@.service": svcTrue},
			nil, []string{"a.socket"}},
		// Accept and services.
		{"accept with Service=", map[string]string{"a.socket": "[Socket]\nListenStream=1\nAccept=yes\nService=b.service\n", "a@.service": svcTrue, "b.service": svcTrue},
			[]string{"E a.socket:4: Service=: explicit service configuration for accepting socket units not supported"}, nil},
		{"accept with non-template service", map[string]string{"a.socket": "[Socket]\nListenStream=1\nAccept=yes\n", "a.service": svcTrue},
			[]string{"E a.socket: service a@internal.service not loaded", "Accept=yes needs the template a@.service"}, nil},
		{"accept=no with only a template", map[string]string{"a.socket": "[Socket]\nListenStream=1\n", "a@.service": svcTrue},
			[]string{"E a.socket: service a.service not loaded", "a@.service is a template"}, nil},
		{"accept=no naming an instance", map[string]string{"a.socket": "[Socket]\nListenStream=1\nService=b@x.service\n", "b@.service": svcTrue},
			nil, []string{"a.socket"}},
		{"named instance gets its own drop-ins", map[string]string{"a.socket": "[Socket]\nListenStream=1\nService=b@x.service\n", "b@.service": svcTrue,
			"b@x.service.d/a.conf": "[Service]\nExecStart=\n"},
			[]string{"E b@.service:1: ExecStart=: service has no ExecStart=", "E a.socket: service b@x.service not loaded"}, nil},
		{"Service= naming a template", map[string]string{"a.socket": "[Socket]\nListenStream=1\nService=b@.service\n", "a.service": svcTrue},
			[]string{"W a.socket:3: Service=: failed to load unit b@.service, ignoring"}, []string{"a.socket"}},
		{"Service= naming a non-service", map[string]string{"a.socket": "[Socket]\nListenStream=1\nService=b.target\n", "a.service": svcTrue},
			[]string{"W a.socket:3: Service=: unit must be of type service, ignoring: b.target"}, []string{"a.socket"}},
		{"missing service", map[string]string{"a.socket": "[Socket]\nListenStream=1\n"},
			[]string{"E a.socket: service a.service not loaded, socket cannot be started"}, nil},
		{"refused service refuses its socket", map[string]string{"a.socket": "[Socket]\nListenStream=1\n", "a.service": "[Service]\nType=simple\n"},
			[]string{"E a.service:1: ExecStart=: service has no ExecStart=", "E a.socket: service a.service not loaded"}, nil},
		// Listeners.
		{"bad address dropped", map[string]string{"a.socket": "[Socket]\nListenStream=junk\nListenStream=80\n", "a.service": svcTrue},
			[]string{"W a.socket:2: ListenStream=: failed to parse address value"}, []string{"a.socket"}},
		{"port out of range", map[string]string{"a.socket": "[Socket]\nListenStream=65536\n", "a.service": svcTrue},
			[]string{"W a.socket:2: ListenStream=: failed to parse address value", "E a.socket:1: unit has no Listen setting"}, nil},
		{"path too long", map[string]string{"a.socket": "[Socket]\nListenStream=/" + strings.Repeat("x", 107) + "\n", "a.service": svcTrue},
			[]string{"W a.socket:2: ListenStream=: failed to parse address value", "E a.socket:1: unit has no Listen"}, nil},
		{"path of 107 bytes is fine", map[string]string{"a.socket": "[Socket]\nListenStream=/" + strings.Repeat("x", 106) + "\n", "a.service": svcTrue},
			nil, []string{"a.socket"}},
		{"relative path", map[string]string{"a.socket": "[Socket]\nListenStream=run/x\nListenFIFO=f\n", "a.service": svcTrue},
			[]string{"W a.socket:2: ListenStream=", "W a.socket:3: ListenFIFO=: ListenFIFO= path is not absolute, ignoring: f", "E a.socket:1: unit has no Listen"}, nil},
		{"seqpacket over IP", map[string]string{"a.socket": "[Socket]\nListenSequentialPacket=127.0.0.1:5\nListenStream=1\n", "a.service": svcTrue},
			[]string{"W a.socket:2: ListenSequentialPacket="}, []string{"a.socket"}},
		{"no Listen", map[string]string{"a.socket": "[Unit]\nDescription=x\n[Socket]\nAccept=no\n", "a.service": svcTrue},
			[]string{"E a.socket:3: unit has no Listen setting"}, nil},
		{"empty Listen clears every kind", map[string]string{"a.socket": "[Socket]\nListenStream=80\nListenFIFO=/run/f\nListenDatagram=\n", "a.service": svcTrue},
			[]string{"E a.socket:1: unit has no Listen"}, nil},
		{"no inline comments", map[string]string{"a.socket": "[Socket]\nListenStream=8080 # web\n", "a.service": svcTrue},
			[]string{"W a.socket:2: ListenStream=: failed to parse address value", "E a.socket:1: unit has no Listen"}, nil},
		// Values out of range only warn (systemd ignores the setting).
		{"Backlog with suffix", map[string]string{"a.socket": "[Socket]\nListenStream=1\nBacklog=1K\n", "a.service": svcTrue},
			[]string{"W a.socket:3: Backlog=: failed to parse unsigned value"}, []string{"a.socket"}},
		{"Backlog too big", map[string]string{"a.socket": "[Socket]\nListenStream=1\nBacklog=4294967296\n", "a.service": svcTrue},
			[]string{"W a.socket:3: Backlog="}, []string{"a.socket"}},
		{"mode too big", map[string]string{"a.socket": "[Socket]\nListenStream=1\nSocketMode=10000\nDirectoryMode=888\n", "a.service": svcTrue},
			[]string{"W a.socket:3: SocketMode=: failed to parse mode value", "W a.socket:4: DirectoryMode="}, []string{"a.socket"}},
		{"MaxConnections=0 with Accept=yes", map[string]string{"a.socket": "[Socket]\nListenStream=1\nAccept=yes\nMaxConnections=0\n", "a@.service": svcTrue},
			[]string{"E a.socket:4: MaxConnections=: MaxConnections= setting too small"}, nil},
		{"MaxConnections=0 with Accept=no", map[string]string{"a.socket": "[Socket]\nListenStream=1\nMaxConnections=0\n", "a.service": svcTrue},
			[]string{"W a.socket:3: MaxConnections="}, []string{"a.socket"}},
		{"DeferAcceptSec on UDP", map[string]string{"a.socket": "[Socket]\nListenDatagram=1\nDeferAcceptSec=5\n", "a.service": svcTrue},
			[]string{"W a.socket:3: DeferAcceptSec=: only applies to TCP"}, []string{"a.socket"}},
		{"DeferTrigger with Accept", map[string]string{"a.socket": "[Socket]\nListenStream=1\nAccept=yes\nDeferTrigger=yes\n", "a@.service": svcTrue},
			[]string{"E a.socket:4: DeferTrigger=: DeferTrigger= cannot be used with Accept=yes"}, nil},
		{"unknown users are not checked at load", map[string]string{"a.socket": "[Socket]\nListenStream=/run/a\nSocketUser=no-such-user-xyz\nSocketGroup=no-such-group\n", "a.service": "[Service]\nExecStart=/bin/true\nUser=nobody-xyz\n"},
			nil, []string{"a.socket"}},
		{"bad fd name", map[string]string{"a.socket": "[Socket]\nListenStream=1\nFileDescriptorName=a:b\n", "a.service": svcTrue},
			[]string{"W a.socket:3: FileDescriptorName=: invalid file descriptor name, ignoring: a:b"}, []string{"a.socket"}},
		// Services.
		{"no ExecStart", map[string]string{"a.service": "[Service]\nExecStartPre=/bin/true\n"},
			[]string{"E a.service:1: ExecStart=: service has no ExecStart=, ExecStop="}, nil},
		{"simple without ExecStart", map[string]string{"a.service": "[Service]\nType=simple\nExecStop=/bin/true\n"},
			[]string{"E a.service:1: ExecStart=: service has no ExecStart= setting, which is only allowed for Type=oneshot"}, nil},
		{"oneshot with ExecStop only needs RemainAfterExit", map[string]string{"a.service": "[Service]\nType=oneshot\nExecStop=/bin/true\n"},
			[]string{"E a.service:1: ExecStart=: service has no ExecStart= and does not have RemainAfterExit=yes"}, nil},
		{"oneshot ExecStop RemainAfterExit", map[string]string{"a.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStop=/bin/true\n"},
			nil, nil},
		{"two ExecStart for simple", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\nExecStart=/bin/false\n"},
			[]string{"E a.service:3: ExecStart=: service has more than one ExecStart="}, nil},
		{"two ExecStart for oneshot", map[string]string{"a.service": "[Service]\nType=oneshot\nExecStart=/bin/true\nExecStart=/bin/false\n"},
			nil, nil},
		{"oneshot Restart=always", map[string]string{"a.service": "[Service]\nType=oneshot\nExecStart=/bin/true\nRestart=always\n"},
			[]string{"E a.service:1: Restart=: Restart= set to either always or on-success"}, nil},
		{"dbus without BusName", map[string]string{"a.service": "[Service]\nType=dbus\nExecStart=/bin/true\n"},
			[]string{"E a.service:1: Type=: service is of type D-Bus"}, nil},
		{"missing program only warns", map[string]string{"a.service": "[Service]\nExecStart=/nonexistent/x\nExecStartPre=-/nonexistent/y\n"},
			[]string{"W a.service:2: ExecStart=: command /nonexistent/x is not executable"}, nil},
		{"relative WorkingDirectory is fatal", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\nWorkingDirectory=srv\n"},
			[]string{"E a.service:3: WorkingDirectory=: WorkingDirectory= path is not absolute: srv"}, nil},
		// Syntax.
		{"unknown key", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\nFooBar=1\nX-Foo=1\n"},
			[]string{"W a.service:3: FooBar=: unknown key 'FooBar' in section [Service], ignoring"}, nil},
		{"unknown section", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\n[Foo]\nA=1\n[X-Bar]\nB=2\n[Socket]\nListenStream=1\n"},
			[]string{"W a.service:3: unknown section 'Foo', ignoring", "W a.service:7: unknown section 'Socket', ignoring"}, nil},
		{"unsupported key", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\nProtectSystem=strict\n"},
			[]string{"W a.service:3: ProtectSystem=: not supported by sockd, ignoring"}, nil},
		{"bad section header fails the unit", map[string]string{"a.service": "[Service\nExecStart=/bin/true\n"},
			[]string{"E a.service:1: invalid section header"}, nil},
		{"invalid UTF-8 fails the unit", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\nDescription=\xff\n"},
			[]string{"E a.service:3: line is not valid UTF-8"}, nil},
		{"unknown specifier", map[string]string{"a.socket": "[Socket]\nListenStream=/run/%Z\nListenStream=1\n", "a.service": svcTrue},
			[]string{"W a.socket:2: ListenStream=: failed to resolve specifiers"}, []string{"a.socket"}},
		{"lines of ignored sections are not looked at", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\n[X-A]\nnoeq\n=v\n"},
			nil, nil},
		{"unknown section warns once", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\n[Foo]\nbad\nX=1\n"},
			[]string{"W a.service:3: unknown section 'Foo', ignoring"}, nil},
		{"warnings before a fatal syntax error", map[string]string{"a.service": "[Service]\nExecStart=/bin/true\nFoo=1\n[Bad\nBar=2\n"},
			[]string{"W a.service:3: Foo=: unknown key", "E a.service:4: invalid section header"}, nil},
		{"malformed unit does not stop others", map[string]string{"a.socket": "[Socket\n", "b.socket": "[Socket]\nListenStream=1\n", "b.service": svcTrue},
			[]string{"E a.socket:1: invalid section header"}, []string{"b.socket"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, diags, dir := loadUnits(t, tt.files)
			lines := render(diags, dir)
			for _, w := range tt.want {
				if !hasDiag(lines, w) {
					t.Errorf("missing diagnostic %q in:\n%s", w, strings.Join(lines, "\n"))
				}
			}
			if len(tt.want) == 0 {
				for _, l := range lines {
					if strings.HasPrefix(l, "E ") || strings.HasPrefix(l, "W ") {
						t.Errorf("unexpected diagnostic: %s", l)
					}
				}
			}
			var got []string
			for _, s := range set.Sockets {
				got = append(got, s.Name)
			}
			if strings.Join(got, ",") != strings.Join(tt.loaded, ",") {
				t.Errorf("loaded sockets %v, want %v\n%s", got, tt.loaded, strings.Join(lines, "\n"))
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	set, diags, _ := loadUnits(t, map[string]string{
		"a.socket":   "[Socket]\nListenStream=1\n",
		"a.service":  "[Service]\nExecStart=/bin/true\n",
		"b.socket":   "[Socket]\nListenStream=2\nAccept=yes\n",
		"b@.service": "[Service]\nExecStart=cat\nStandardInput=socket\n",
		"c.service":  "[Service]\nExecStart=/bin/true\nExecStart=/bin/true\nType=oneshot\n",
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	a, b := set.Sockets[0], set.Sockets[1]
	if a.Options.Backlog != 1<<31-1 || a.Options.SocketMode != 0o666 || a.Options.DirectoryMode != 0o755 ||
		a.MaxConnections != 64 || a.TriggerLimitBurst != 20 || a.PollLimitBurst != 15 ||
		a.TriggerLimitInterval.String() != "2s" || a.PollLimitInterval.String() != "2s" ||
		a.FileDescriptorName != "a.socket" || a.Service != "a.service" || a.Timeout.String() != "1m30s" {
		t.Errorf("Accept=no defaults: %+v", a)
	}
	if b.TriggerLimitBurst != 200 || b.PollLimitBurst != 150 || b.FileDescriptorName != "connection" || b.Service != "b@.service" {
		t.Errorf("Accept=yes defaults: %+v", b)
	}
	s := set.Services["a.service"]
	if s.Type != TypeSimple || s.RestartSec.String() != "100ms" || s.StartLimitInterval.String() != "10s" || s.StartLimitBurst != 5 ||
		s.KillSignal != sigTERM || s.FinalKillSignal != sigKILL || !s.SendSIGKILL || s.Exec.UMask != 0o022 ||
		s.Exec.StandardInput.Kind != StdioNull || s.Exec.StandardOutput.Kind != StdioJournal || s.Exec.StandardError.Kind != StdioInherit ||
		s.TimeoutStart.String() != "1m30s" || s.TimeoutStop.String() != "1m30s" || !s.Unit.DefaultDependencies {
		t.Errorf("service defaults: %+v", s)
	}
	tpl := set.Templates["b@.service"]
	if tpl == nil || tpl.Exec.StandardOutput.Kind != StdioInherit || tpl.ExecStart[0].Path != "/usr/bin/cat" {
		t.Errorf("template: %+v", tpl)
	}
	if c := set.Services["c.service"]; c.Type != TypeOneshot || c.TimeoutStart != Infinity {
		t.Errorf("oneshot: %+v", c)
	}
	noExec, _, _ := loadUnits(t, map[string]string{"d.service": "[Service]\nRemainAfterExit=yes\nExecStop=/bin/true\nType=oneshot\n"})
	if d := noExec.Services["d.service"]; d == nil || d.Type != TypeOneshot {
		t.Errorf("oneshot without ExecStart: %+v", d)
	}
}

func TestDropIns(t *testing.T) {
	hi, lo := t.TempDir(), t.TempDir()
	writeUnits(t, lo, map[string]string{
		"a.socket":              "[Socket]\nListenStream=1\n",
		"a.service":             "[Service]\nExecStart=/bin/lo\n",
		"a.socket.d/10-x.conf":  "[Socket]\nListenStream=2\n",
		"a.socket.d/20-y.conf":  "[Socket]\nBacklog=20\n",
		"a.socket.d/9-z.conf":   "[Socket]\nBacklog=9\n",
		"socket.d/05-all.conf":  "[Socket]\nKeepAlive=yes\n",
		"b-c-d.socket":          "[Socket]\nListenStream=5\n",
		"b-.socket.d/x.conf":    "[Socket]\nListenStream=6\n",
		"b-c-.socket.d/y.conf":  "[Socket]\nListenStream=7\n",
		"b-c-.socket.d/z.conf":  "[Socket]\nListenStream=9\n",
		"b-.socket.d/z.conf":    "[Socket]\nListenStream=10\n",
		"b-c-d.service":         svcTrue,
		"e.socket":              "[Socket]\nListenStream=8\n",
		"e.service":             svcTrue,
		"e.socket.d/bad.conf":   "[Socket]\nBacklog=3\n[Broken\nBacklog=4\n",
		"e.socket.d/exec.conf":  "[Socket]\nNoDelay=yes\nExecStartPre=/bin/x \"unbalanced\nFreeBind=yes\n",
		"e.socket.d/early.conf": "Backlog=5\n[Socket]\nMark=1\n",
	})
	writeUnits(t, hi, map[string]string{
		"a.service":            "[Service]\nExecStart=/bin/hi\n",
		"a.socket.d/20-y.conf": "[Socket]\nBacklog=21\n",
	})
	set, diags := Load([]string{hi, lo}, LoadOptions{LookPath: fakeLookPath})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	lines := render(diags, "")
	byName := map[string]*Socket{}
	for _, s := range set.Sockets {
		byName[s.Name] = s
	}
	a := byName["a.socket"]
	// Order: 05-all, 10-x, 20-y (hi wins over lo), 9-z (byte order).
	if len(a.Listeners) != 2 || a.Options.Backlog != 9 || !a.Options.KeepAlive || len(a.DropIns) != 4 {
		t.Errorf("a.socket: listeners %v backlog %d keepalive %v dropins %v", a.Listeners, a.Options.Backlog, a.Options.KeepAlive, a.DropIns)
	}
	if !strings.HasPrefix(a.DropIns[2], hi) {
		t.Errorf("20-y.conf should come from the first directory: %v", a.DropIns)
	}
	if got := set.Services["a.service"].ExecStart[0].Path; got != "/bin/hi" {
		t.Errorf("a.service from %s, want the first directory's", got)
	}
	if n := len(byName["b-c-d.socket"].Listeners); n != 4 { // z.conf: the longer prefix wins
		t.Errorf("dash-prefix drop-ins: %d listeners, want 4", n)
	}
	e := byName["e.socket"]
	if e.Options.Backlog != 3 || !e.Options.NoDelay || e.Options.FreeBind || e.Options.Mark == nil || *e.Options.Mark != 1 {
		t.Errorf("e.socket: a broken drop-in must stop only itself: %+v", e.Options)
	}
	for _, w := range []string{"bad.conf:3: invalid section header", "ignoring the rest of this drop-in", "early.conf:1: assignment outside of section"} {
		if !hasDiag(lines, w) {
			t.Errorf("missing %q in\n%s", w, strings.Join(lines, "\n"))
		}
	}
}

func TestTemplates(t *testing.T) {
	set, diags, _ := loadUnits(t, map[string]string{
		"echo.socket":           "[Socket]\nListenStream=7\nAccept=yes\n",
		"echo@.service":         "[Unit]\nDescription=Echo\n[Service]\nExecStart=cat\nStandardInput=socket\n",
		"web.socket":            "[Socket]\nListenStream=8\nAccept=yes\n",
		"web@.service":          "[Service]\nExecStart=/bin/web --id=%i\nEnvironment=ID=%i\n",
		"web@.service.d/a.conf": "[Service]\nEnvironment=X=1\n",
		"esc.socket":            "[Socket]\nListenStream=9\nAccept=yes\n",
		"esc@.service":          "[Service]\nExecStart=/bin/esc \\x25i\n",
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e1, err := set.Instance("echo@.service", "0-127.0.0.1:7-127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	if e1.Name != "echo@0-127.0.0.1:7-127.0.0.1:5000.service" || e1.Description != "Echo" || e1.Template != "echo@.service" {
		t.Errorf("echo instance: %+v", e1)
	}
	w, err := set.Instance("web@.service", "web@3-x.service")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.ExecStart[0].Args, " "); got != "/bin/web --id=3-x" {
		t.Errorf("web instance args %q", got)
	}
	if got := strings.Join(w.Exec.Environment, " "); got != "ID=3-x X=1" {
		t.Errorf("web instance env %q", got)
	}
	if e, err := set.Instance("esc@.service", "7"); err != nil || strings.Join(e.ExecStart[0].Args, " ") != "/bin/esc 7" {
		t.Errorf("escaped specifier: %v %v", e.ExecStart[0].Args, err)
	}
	if _, err := set.Instance("nope@.service", "x"); err == nil {
		t.Error("Instance of a missing template succeeded")
	}
	if _, err := set.Instance("echo@.service", "a/b"); err == nil {
		t.Error("Instance with an invalid instance name succeeded")
	}
	if s := set.Service("web@9.service"); s == nil || s.Name != "web@9.service" {
		t.Errorf("Service(instance) = %v", s)
	}
	// Instance runs once per accepted connection, from many goroutines.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				inst := fmt.Sprintf("%d-%d", g, i)
				for _, tpl := range []string{"web@.service", "echo@.service"} {
					s, err := set.Instance(tpl, inst)
					if err != nil || !strings.Contains(s.Name, inst) {
						t.Errorf("Instance(%s, %s) = %v, %v", tpl, inst, s, err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
}

func BenchmarkInstance(b *testing.B) {
	set, diags, _ := loadUnits(b, map[string]string{
		"echo.socket":   "[Socket]\nListenStream=7\nAccept=yes\n",
		"echo@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
		"web.socket":    "[Socket]\nListenStream=8\nAccept=yes\n",
		"web@.service":  "[Service]\nExecStart=/bin/web %i\n",
	})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	b.Run("static", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := set.Instance("echo@.service", "1-127.0.0.1:7-127.0.0.1:5000"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("specifiers", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := set.Instance("web@.service", "1-127.0.0.1:7-127.0.0.1:5000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// OnScanned counts the socket unit files of every directory, once each
// (the first directory wins), before any file is read.
func TestOnScanned(t *testing.T) {
	etc, lib := t.TempDir(), t.TempDir()
	sock := "[Socket]\nListenStream=127.0.0.1:0\n"
	writeUnits(t, etc, map[string]string{
		"a.socket": sock, "a.service": svcTrue, "b@.socket": sock, "b@.service": svcTrue,
		"a.socket.d/x.conf": "[Socket]\nBacklog=5\n", "notes.txt": "x",
	})
	writeUnits(t, lib, map[string]string{"a.socket": sock, "c.socket": sock, "c.service": svcTrue, "bad name.socket": sock})
	calls, got, read := 0, -1, false
	_, _ = Load([]string{etc, lib}, LoadOptions{LookPath: fakeLookPath,
		OnScanned: func(n int) { calls++; got = n },
		OnSocket:  func(*Socket) { read = read || calls == 0 },
	})
	if calls != 1 || got != 3 {
		t.Errorf("OnScanned called %d times with %d, want once with 3 (a, b@, c)", calls, got)
	}
	if read {
		t.Error("a socket unit was loaded before OnScanned was called")
	}
}

// The unit directory as given is the prefix of every unit's path, as
// filepath.Join makes it: also for ".", "dir/" and "/".
func TestScanPaths(t *testing.T) {
	dir := t.TempDir()
	writeUnits(t, dir, map[string]string{"a.socket": "[Socket]\nListenStream=127.0.0.1:1234\n", "a.service": svcTrue})
	t.Chdir(dir)
	for _, d := range []string{".", "./", dir, dir + "/", dir + "/../" + filepath.Base(dir)} {
		set, diags := Load([]string{d}, LoadOptions{LookPath: fakeLookPath})
		if err := diags.Err(); err != nil || len(set.Sockets) != 1 {
			t.Fatalf("%q: %d sockets, %v", d, len(set.Sockets), err)
		}
		if got, want := set.Sockets[0].FragmentPath, filepath.Join(d, "a.socket"); got != want {
			t.Errorf("%q: FragmentPath %q, want %q", d, got, want)
		}
	}
}
