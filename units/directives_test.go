package units

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// directiveCase is a valid and an invalid value for one directive; bad ""
// means every value is accepted.
type directiveCase struct{ good, bad string }

// valuesByType gives cases from the value type systemd documents for a key.
var valuesByType = map[string]directiveCase{
	"BOOLEAN":    {"yes", "maybe"},
	"SECONDS":    {"1min 5s", "5 parsecs"},
	"UNSIGNED":   {"7", "-1"},
	"MODE":       {"0640", "0999"},
	"SIZE":       {"64K", "lots"},
	"INTEGER":    {"-3", "3.5"},
	"LONG":       {"10", "ten"},
	"SIGNAL":     {"SIGINT", "SIGNOPE"},
	"UNIT [...]": {"b.service c.target", "not/a/unit"},
}

// directiveCases covers the directives whose type systemd documents as
// OTHER/STRING/PATH, or that systemd 252 does not know.
var directiveCases = map[string]directiveCase{
	"Unit.Description":                    {"Web %n", "bad %Z"},
	"Unit.Documentation":                  {"man:foo(8) https://x", ""},
	"Unit.CollectMode":                    {"inactive-or-failed", "never"},
	"Socket.ListenStream":                 {"[::1]:8080", "[::1]%%lo:1234"},
	"Socket.ListenDatagram":               {"127.0.0.1:53", "127.1:53"},
	"Socket.ListenSequentialPacket":       {"@seq", "127.0.0.1:5"},
	"Socket.ListenFIFO":                   {"/run/a.fifo", "a.fifo"},
	"Socket.ListenSpecial":                {"/dev/kmsg", "kmsg"},
	"Socket.ListenNetlink":                {"kobject-uevent 1", "no-such-family"},
	"Socket.ListenMessageQueue":           {"/queue", "queue"},
	"Socket.ListenUSBFunction":            {"/run/ffs", "ffs"},
	"Socket.SocketProtocol":               {"sctp", "tcp"},
	"Socket.BindIPv6Only":                 {"ipv6-only", "sometimes"},
	"Socket.BindToDevice":                 {"eth0", "a/b"},
	"Socket.SocketUser":                   {"www-data", "a:b"},
	"Socket.SocketGroup":                  {"%g", "a/b"},
	"Socket.IPTOS":                        {"low-delay", "300"},
	"Socket.Timestamping":                 {"ns", "ps"},
	"Socket.TCPCongestion":                {"cubic", ""},
	"Socket.Symlinks":                     {"/run/l1 /run/l2", "/run/%Z"},
	"Socket.FileDescriptorName":           {"web", "a:b"},
	"Socket.Service":                      {"other.service", "other.target"},
	"Socket.TimeoutSec":                   {"0", "soon"},
	"Socket.ExecStartPre":                 {"-/bin/true a b", "-/bin/x \"unbalanced"},
	"Socket.ExecStartPost":                {"/bin/true", "/bin/%Z"},
	"Socket.ExecStopPre":                  {"/bin/true", "/bin/%Z"},
	"Socket.ExecStopPost":                 {"/bin/true", "/bin/%Z"},
	"Socket.PollLimitIntervalSec":         {"10s", "10 parsecs"},
	"Socket.PollLimitBurst":               {"3", "-3"},
	"Socket.PassFileDescriptorsToExec":    {"yes", "maybe"},
	"Socket.AcceptFileDescriptors":        {"no", "maybe"},
	"Socket.PassPIDFD":                    {"yes", ""},
	"Socket.DeferTrigger":                 {"patient", "eventually"},
	"Socket.DeferTriggerMaxSec":           {"20s", "20 parsecs"},
	"Service.Type":                        {"notify", "daemon"},
	"Service.PIDFile":                     {"web.pid", "/run/%Z"},
	"Service.BusName":                     {"org.example.Web", ""},
	"Service.ExecCondition":               {"/bin/true", "/bin/%Z"},
	"Service.ExecStartPre":                {"/bin/true", "/bin/%Z"},
	"Service.ExecStart":                   {"@/bin/true true", "/bin/%Z"},
	"Service.ExecStartPost":               {"/bin/true", "/bin/%Z"},
	"Service.ExecReload":                  {"/bin/kill -HUP $MAINPID", "/bin/%Z"},
	"Service.ExecStop":                    {"/bin/true", "/bin/%Z"},
	"Service.ExecStopPost":                {"/bin/true", "/bin/%Z"},
	"Service.Restart":                     {"on-failure", "sometimes"},
	"Service.RestartSteps":                {"3", "-1"},
	"Service.RestartMaxDelaySec":          {"1min", "1 parsec"},
	"Service.SuccessExitStatus":           {"0 2 SIGTERM", "SIGNOPE"},
	"Service.RestartPreventExitStatus":    {"3", "SIGNOPE"},
	"Service.RestartForceExitStatus":      {"SIGHUP", "SIGNOPE"},
	"Service.TimeoutStartSec":             {"infinity", "soon"},
	"Service.TimeoutStopSec":              {"5s", "soon"},
	"Service.TimeoutSec":                  {"5s", "soon"},
	"Service.NotifyAccess":                {"all", "some"},
	"Service.FileDescriptorStorePreserve": {"yes", "maybe"},
	"Service.Sockets":                     {"a.socket b.socket", ""},
	"Service.RestartKillSignal":           {"SIGHUP", "SIGNOPE"},
	"Service.RestartSec":                  {"1s", "soon"},
	"Service.WatchdogSec":                 {"1s", "soon"},
	"Service.FileDescriptorStoreMax":      {"7", "-1"},
	"Service.NonBlocking":                 {"yes", "maybe"},
	"Service.RemainAfterExit":             {"yes", "maybe"},
}

// execCases are the systemd.exec/kill directives valid in both sections.
var execCases = map[string]directiveCase{
	"User":                {"www-data", "a:b"},
	"Group":               {"0", "a/b"},
	"SupplementaryGroups": {"adm %g", "a/b"},
	"WorkingDirectory":    {"-~", "srv"},
	"Environment":         {"A=1 \"B=2 3\" C=%n", "1A=x"},
	"EnvironmentFile":     {"-/etc/default/x", "etc/x"},
	"UMask":               {"0077", "0999"},
	"Nice":                {"-5", "20"},
	"StandardInput":       {"socket", "keyboard"},
	"StandardOutput":      {"append:/var/log/x", "printer"},
	"StandardError":       {"fd:err", "file:rel"},
	"StandardInputText":   {"hello\\tworld", "%Z"},
	"SyslogIdentifier":    {"web-%i", "%Z"},
	"KillMode":            {"mixed", "all"},
	"KillSignal":          {"SIGINT", "SIGNOPE"},
	"FinalKillSignal":     {"9", "SIGNOPE"},
	"SendSIGHUP":          {"yes", "maybe"},
	"SendSIGKILL":         {"no", "maybe"},
	"NoNewPrivileges":     {"yes", "maybe"},
	"RootDirectory":       {"/srv/root", "srv"},
	"RootImage":           {"/srv/img.raw", "%Z"},
	"RootVerity":          {"/srv/v", "v"},
	"DynamicUser":         {"yes", "maybe"},
}

func caseFor(d *directive) (directiveCase, bool) {
	key := d.Section + "." + d.Name
	if c, ok := directiveCases[key]; ok {
		return c, true
	}
	if (d.Section == "Socket" || d.Section == "Service") && execCases[d.Name] != (directiveCase{}) {
		return execCases[d.Name], true
	}
	if strings.HasPrefix(d.Name, "Limit") {
		return directiveCase{"10:20", "20:10"}, true
	}
	if strings.HasPrefix(d.Name, "Condition") || strings.HasPrefix(d.Name, "Assert") {
		return directiveCase{"|!/etc/x", ""}, true
	}
	if d.Section == "Install" {
		return directiveCase{"multi-user.target", ""}, true
	}
	typ := systemdKeys[key]
	if strings.HasSuffix(d.Name, "Signal") {
		typ = "SIGNAL"
	}
	c, ok := valuesByType[typ]
	return c, ok
}

// TestEveryDirective runs a valid and an invalid value through every
// directive sockd parses: the valid one must not produce a diagnostic on its
// line (beyond "not supported by sockd" for unsupported directives), the
// invalid one must.
func TestEveryDirective(t *testing.T) {
	table := newDirectiveTable()
	dir := t.TempDir()
	n := 0
	for key, d := range table {
		if d.parse == nil {
			continue
		}
		c, ok := caseFor(d)
		if !ok {
			t.Errorf("%s: no test case", key)
			continue
		}
		n++
		for _, bad := range []bool{false, true} {
			v := c.good
			if bad {
				if c.bad == "" {
					continue
				}
				v = c.bad
			}
			var name, text string
			line := 4
			switch d.Section {
			case "Service":
				name, text = "a.service", "[Service]\nType=oneshot\nExecStart=/bin/true\n"
			case "Socket":
				name, text = "a.socket", "[Socket]\nListenStream=/run/a.sock\nListenStream=80\n"
			default:
				name, text = "a.socket", "[Socket]\nListenStream=/run/a.sock\n["+d.Section+"]\n"
			}
			text += d.Name + "=" + v + "\n"
			sub := filepath.Join(dir, fmt.Sprintf("%d-%v", n, bad))
			writeUnits(t, sub, map[string]string{name: text})
			_, diags := Load([]string{sub}, LoadOptions{LookPath: fakeLookPath})
			var at []string
			for _, x := range diags {
				if x.Pos.Line == line && !strings.Contains(x.Msg, "not supported by sockd") && !strings.Contains(x.Msg, "is not executable") {
					at = append(at, x.String())
				}
			}
			if !bad && len(at) > 0 {
				t.Errorf("%s=%s: unexpected %v", key, v, at)
			}
			if bad && len(at) == 0 {
				t.Errorf("%s=%s: no diagnostic", key, v)
			}
		}
	}
	if n < 150 {
		t.Errorf("only %d directives tested", n)
	}
	_ = os.RemoveAll(dir)
}

func TestDirectivesList(t *testing.T) {
	ds := Directives()
	seen := map[string]bool{}
	for _, d := range ds {
		k := d.Section + "." + d.Name
		if seen[k] {
			t.Errorf("duplicate %s", k)
		}
		seen[k] = true
		if d.Summary == "" {
			t.Errorf("%s has no summary", k)
		}
	}
	for k := range systemdKeys {
		if !seen[k] {
			t.Errorf("systemd key %s missing from Directives()", k)
		}
	}
	for _, k := range []string{"Socket.ListenStream", "Socket.PollLimitBurst", "Service.ExecStart", "Unit.Description"} {
		if !seen[k] {
			t.Errorf("%s missing", k)
		}
	}
}

// directivesMarkdown renders docs/directives.md from Directives().
func directivesMarkdown() []byte {
	var b strings.Builder
	b.WriteString(`# Unit file directives

<!-- Generated by TestDirectivesDoc from units.Directives(); do not edit.
     Regenerate with: go test ./units -run TestDirectivesDoc -update -->

Every directive sockd recognises in ` + "`.socket`" + ` and ` + "`.service`" + ` files, with
systemd's meaning in one line and sockd's status:

- **supported**: parsed, validated and honoured by the daemon;
- **parsed**: parsed and validated into the unit model (` + "`units.Socket`" + `,
  ` + "`units.Service`" + `); whether the daemon honours it is tracked per feature;
- **ignored**: accepted silently because it has no meaning for a socket
  activation daemon (documentation, ` + "`[Install]`" + `, ordering);
- **not supported**: known to systemd, accepted, but sockd cannot honour it;
  loading warns ` + "`not supported by sockd, ignoring`" + `.

Any other key gives the warning ` + "`unknown key`" + ` (keys starting with ` + "`X-`" + `
are ignored silently), as in systemd. ` + "`sockd verify --list-directives`" + ` prints
the same table.
`)
	section := ""
	for _, d := range Directives() {
		if d.Section != section {
			section = d.Section
			fmt.Fprintf(&b, "\n## [%s]\n\n| Directive | systemd semantics | sockd status |\n|---|---|---|\n", section)
		}
		fmt.Fprintf(&b, "| `%s=` | %s | %s |\n", d.Name, strings.ReplaceAll(d.Summary, "|", "\\|"), d.Status)
	}
	return []byte(b.String())
}

// TestDirectivesDoc keeps docs/directives.md in sync with the directive
// table (-update rewrites it).
func TestDirectivesDoc(t *testing.T) {
	path := filepath.Join("..", "docs", "directives.md")
	got := directivesMarkdown()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./units -run TestDirectivesDoc -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is out of date: run go test ./units -run TestDirectivesDoc -update", path)
	}
}
