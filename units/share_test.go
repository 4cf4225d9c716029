package units

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Units whose files differ only in their Listen*= lines share one copy of
// their settings; anything else that differs, or a specifier that could
// make the same text mean different things, keeps them apart.
func TestSettingsShared(t *testing.T) {
	dir := t.TempDir()
	sock := func(listen, extra string) string {
		return "[Socket]\n" + listen + "\nAccept=yes\nMaxConnections=1024\n" + extra
	}
	svc := "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n"
	writeUnits(t, dir, map[string]string{
		"a.socket":       sock("ListenStream=127.0.0.1:7001", ""),
		"a@.service":     svc,
		"b.socket":       sock("ListenStream=127.0.0.1:7002", ""),
		"b@.service":     svc,
		"c.socket":       sock("ListenStream=127.0.0.1:7003", "Backlog=5\n"),
		"c@.service":     svc + "Environment=X=1\n",
		"d.socket":       sock("ListenStream=127.0.0.1:7004", "FileDescriptorName=d\n"),
		"d@.service":     svc,
		"e.socket":       sock("ListenStream=/run/e.sock", "Symlinks=/run/%N.link\nAccept=no\n"),
		"e.service":      "[Service]\nExecStart=/bin/cat\n",
		"e2.socket":      sock("ListenStream=/run/e2.sock", "Symlinks=/run/%N.link\nAccept=no\n"),
		"e2.service":     "[Service]\nExecStart=/bin/cat\n",
		"f.socket":       sock("ListenStream=127.0.0.1:7006", ""),
		"f@.service":     svc + "Environment=N=%N\n",
		"g.socket":       sock("ListenStream=127.0.0.1:7007", ""),
		"g@.service":     svc + "Environment=N=%N\n",
		"moved.socket":   "\n" + sock("ListenStream=127.0.0.1:7008", ""),
		"moved@.service": svc,
	})
	set, diags := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath})
	for _, d := range diags {
		if d.Severity == Error {
			t.Fatal(d)
		}
	}
	sk := map[string]*Socket{}
	for _, s := range set.Sockets {
		sk[s.Name] = s
	}
	tm := set.Templates
	same := func(what string, x, y any, want bool) {
		t.Helper()
		if (x == y) != want {
			t.Errorf("%s shared = %v, want %v", what, x == y, want)
		}
	}
	same("a/b socket settings", sk["a.socket"].SocketSettings, sk["b.socket"].SocketSettings, true)
	same("a/b template settings", tm["a@.service"].ServiceSettings, tm["b@.service"].ServiceSettings, true)
	same("a/c socket settings (Backlog=)", sk["a.socket"].SocketSettings, sk["c.socket"].SocketSettings, false)
	same("a/c template settings (Environment=)", tm["a@.service"].ServiceSettings, tm["c@.service"].ServiceSettings, false)
	same("a/d socket settings (FileDescriptorName= is per unit, but written)", sk["a.socket"].SocketSettings, sk["d.socket"].SocketSettings, false)
	same("e/e2 socket settings (specifier)", sk["e.socket"].SocketSettings, sk["e2.socket"].SocketSettings, false)
	same("e/e2 service settings", set.Services["e.service"].ServiceSettings, set.Services["e2.service"].ServiceSettings, true)
	same("f/g template settings (specifier)", tm["f@.service"].ServiceSettings, tm["g@.service"].ServiceSettings, false)
	same("a/moved socket settings (lines moved)", sk["a.socket"].SocketSettings, sk["moved.socket"].SocketSettings, false)

	// What is per unit stays per unit.
	a, b := sk["a.socket"], sk["b.socket"]
	if a.Listeners[0].Addr.Port != 7001 || b.Listeners[0].Addr.Port != 7002 {
		t.Errorf("listeners: %v, %v", a.Listeners, b.Listeners)
	}
	if a.Service != "a@.service" || b.Service != "b@.service" || a.FragmentPath == b.FragmentPath {
		t.Errorf("per-unit fields: %q %q %q %q", a.Service, b.Service, a.FragmentPath, b.FragmentPath)
	}
	if d := sk["d.socket"]; d.FileDescriptorName != "d" || a.FileDescriptorName != "connection" {
		t.Errorf("FileDescriptorName: %q, %q", d.FileDescriptorName, a.FileDescriptorName)
	}
	if e, e2 := sk["e.socket"].Symlinks, sk["e2.socket"].Symlinks; len(e) != 1 || e[0] != "/run/e.link" || len(e2) != 1 || e2[0] != "/run/e2.link" {
		t.Errorf("Symlinks= = %q, %q", e, e2)
	}
	fi, err := set.Instance("f@.service", "1")
	if err != nil {
		t.Fatal(err)
	}
	gi, err := set.Instance("g@.service", "1")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Exec.Environment[0] != "N=f@1" || gi.Exec.Environment[0] != "N=g@1" {
		t.Errorf("instances: %v, %v", fi.Exec.Environment, gi.Exec.Environment)
	}
	ai, _ := set.Instance("a@.service", "1")
	bi, _ := set.Instance("b@.service", "2")
	if ai.Name != "a@1.service" || bi.Name != "b@2.service" || ai.Template != "a@.service" || bi.Template != "b@.service" {
		t.Errorf("instance names: %s (%s), %s (%s)", ai.Name, ai.Template, bi.Name, bi.Template)
	}
}

// OnSocket sees every socket of the Set, in its order, and nothing else.
func TestLoadOnSocket(t *testing.T) {
	dir := t.TempDir()
	writeUnits(t, dir, map[string]string{
		"b.socket":        "[Socket]\nListenStream=127.0.0.1:7002\n",
		"b.service":       "[Service]\nExecStart=/bin/cat\n",
		"a.socket":        "[Socket]\nListenStream=127.0.0.1:7001\nAccept=yes\n",
		"a@.service":      "[Service]\nExecStart=/bin/cat\n",
		"orphan.socket":   "[Socket]\nListenStream=127.0.0.1:7003\n", // no service
		"broken.socket":   "[Socket]\nAccept=yes\n",                  // no listener
		"broken@.service": "[Service]\nExecStart=/bin/cat\n",
	})
	var seen []*Socket
	set, _ := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath, OnSocket: func(s *Socket) { seen = append(seen, s) }})
	if len(seen) != len(set.Sockets) {
		t.Fatalf("OnSocket saw %d sockets, the set has %d", len(seen), len(set.Sockets))
	}
	for i := range seen {
		if seen[i] != set.Sockets[i] {
			t.Errorf("OnSocket #%d = %s, Set.Sockets[%d] = %s", i, seen[i].Name, i, set.Sockets[i].Name)
		}
	}
	if len(seen) != 2 || seen[0].Name != "a.socket" || seen[1].Name != "b.socket" {
		t.Errorf("sockets: %v", seen)
	}
}

func names(socks []*Socket) string {
	var n []string
	for _, s := range socks {
		n = append(n, s.Name)
	}
	return strings.Join(n, " ")
}

// With LazyTemplates a template is read at its first instance: Load reports
// nothing about it, Instance gives the same service an eager load builds,
// and a broken or masked template fails Instance with file:line and hands
// its diagnostics to OnLateDiagnostics, every time it is asked for.
func TestLazyTemplates(t *testing.T) {
	dir := t.TempDir()
	writeUnits(t, dir, map[string]string{
		"ok.socket":      "[Socket]\nListenStream=127.0.0.1:7001\nAccept=yes\n",
		"ok@.service":    "[Unit]\nDescription=ok %i\n[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
		"plain.socket":   "[Socket]\nListenStream=127.0.0.1:7002\nAccept=yes\n",
		"plain@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
		"bad.socket":     "[Socket]\nListenStream=127.0.0.1:7003\nAccept=yes\n",
		"bad@.service":   "[Service]\nExecStart=/bin/cat\nStandardInput=bogus\nType=simple\nExecStart=\n",
		"gone.socket":    "[Socket]\nListenStream=127.0.0.1:7004\nAccept=yes\n",
		"nofile.socket":  "[Socket]\nListenStream=127.0.0.1:7005\nAccept=yes\n",
		// A named instance of a masked template (Accept=no).
		"named.socket":              "[Socket]\nListenStream=127.0.0.1:7006\nService=gone@x.service\n",
		"plain@.service.d/env.conf": "[Service]\nEnvironment=FROM_DROPIN=1\n",
	})
	if err := os.Symlink("/dev/null", filepath.Join(dir, "gone@.service")); err != nil {
		t.Fatal(err)
	}
	var late []Diagnostics
	lazy, diags := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath, LazyTemplates: true,
		OnLateDiagnostics: func(d Diagnostics) { late = append(late, d) }})
	for _, d := range diags {
		if d.Unit == "bad@.service" || d.Unit == "gone@.service" {
			t.Errorf("lazy Load reported %s", d)
		}
	}
	if got := names(lazy.Sockets); got != "bad.socket gone.socket ok.socket plain.socket" {
		t.Errorf("lazy Set.Sockets = %s (nofile.socket has no template file)", got)
	}
	if len(lazy.Templates) != 0 {
		t.Errorf("templates read by Load: %d", len(lazy.Templates))
	}
	named := false
	for _, d := range diags {
		named = named || d.Unit == "named.socket" && strings.Contains(d.Msg, "service gone@x.service not loaded")
	}
	if !named {
		t.Errorf("no error for named.socket, whose template is masked: %v", diags)
	}
	eager, _ := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath})
	for _, tmpl := range []string{"ok@.service", "plain@.service"} {
		a, err := lazy.Instance(tmpl, "3-127.0.0.1:7001-127.0.0.1:4242")
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		b, err := eager.Instance(tmpl, "3-127.0.0.1:7001-127.0.0.1:4242")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: lazy instance differs:\n%+v\n%+v", tmpl, a, b)
		}
		if a.Description != b.Description || (tmpl == "ok@.service" && a.Description != "ok 3-127.0.0.1:7001-127.0.0.1:4242") {
			t.Errorf("%s: Description %q", tmpl, a.Description)
		}
		if tmpl == "plain@.service" && !slices.Contains(a.Exec.Environment, "FROM_DROPIN=1") {
			t.Errorf("%s: drop-in not applied: Environment %q", tmpl, a.Exec.Environment)
		}
	}
	if len(late) != 0 {
		t.Errorf("late diagnostics for good templates: %v", late)
	}
	for i := range 2 {
		late = nil
		_, err := lazy.Instance("bad@.service", "1")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bad@.service")+":") {
			t.Errorf("bad@.service, try %d: error %v, want file:line", i, err)
		}
		if len(late) != 1 || !late[0].HasErrors() {
			t.Errorf("bad@.service, try %d: late diagnostics %v", i, late)
		}
	}
	if _, err := lazy.Instance("gone@.service", "1"); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Errorf("masked template: %v", err)
	}
}

// Equal [Install] and dependency lists are stored once; the map a unit
// filled and did not keep is reused by the next unit without changing the
// earlier units' lists.
func TestInstallMapsShared(t *testing.T) {
	dir := t.TempDir()
	sock := func(port, extra string) string {
		return "[Unit]\n" + extra + "[Socket]\nListenStream=127.0.0.1:" + port + "\nBacklog=" + port + "\n"
	}
	writeUnits(t, dir, map[string]string{
		"a.socket":  sock("7001", "After=x.service\n[Install]\nWantedBy=sockets.target\n"),
		"b.socket":  sock("7002", "After=x.service\n[Install]\nWantedBy=sockets.target\n"),
		"c.socket":  sock("7003", "After=y.service z.service\n[Install]\nWantedBy=multi.target\nWantedBy=other.target\nAlso=d.socket\n"),
		"d.socket":  sock("7004", "After=x.service\n[Install]\nWantedBy=sockets.target\n"),
		"a.service": svcTrue, "b.service": svcTrue, "c.service": svcTrue, "d.service": svcTrue,
	})
	set, diags := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	got := map[string]*Socket{}
	for _, s := range set.Sockets {
		got[s.Name] = s
	}
	std := map[string][]string{"WantedBy": {"sockets.target"}}
	want := map[string]map[string][]string{
		"a.socket": std, "b.socket": std, "d.socket": std,
		"c.socket": {"WantedBy": {"multi.target", "other.target"}, "Also": {"d.socket"}},
	}
	for name, w := range want {
		s := got[name]
		if s == nil {
			t.Fatalf("%s not loaded", name)
		}
		if !reflect.DeepEqual(s.Unit.Install, w) {
			t.Errorf("%s: Install = %v, want %v", name, s.Unit.Install, w)
		}
		wantAfter := []string{"x.service"}
		if name == "c.socket" {
			wantAfter = []string{"y.service", "z.service"}
		}
		if after := s.Unit.Deps["After"]; !slices.Equal(after, wantAfter) {
			t.Errorf("%s: After = %v, want %v", name, after, wantAfter)
		}
	}
	if reflect.ValueOf(got["a.socket"].Unit.Install).UnsafePointer() != reflect.ValueOf(got["d.socket"].Unit.Install).UnsafePointer() {
		t.Error("a.socket and d.socket have equal [Install] lists stored twice")
	}
}
