package units

import (
	"fmt"
	"math/rand"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Value pools for TestValidationMatchesSystemdAnalyze: good and bad values
// of the settings sockd parses (directives newer than systemd 252 are left
// out, since 252 does not know them).
var (
	diffSocketLines = []string{
		"ListenStream=0", "ListenStream=65536", "ListenStream=127.0.0.1:80", "ListenStream=127.1:80", "ListenStream=[::1]:80",
		"ListenStream=[::1]", "ListenStream=::1", "ListenStream=/run/a.sock", "ListenStream=run/a", "ListenStream=@abs",
		"ListenStream=vsock:2:80", "ListenStream=010", "ListenStream=0x50", "ListenStream=1.2.3.4", "ListenStream=[fe80::1]:80%%lo",
		"ListenStream=/" + strings.Repeat("x", 107), "ListenStream=/" + strings.Repeat("x", 106), "ListenStream=%Z", "ListenStream=%t/x.sock", "ListenStream=",
		"ListenDatagram=53", "ListenDatagram=[::]:53", "ListenDatagram=/run/d.sock", "ListenDatagram=@d",
		"ListenSequentialPacket=127.0.0.1:5", "ListenSequentialPacket=/run/s", "ListenFIFO=/run/f", "ListenFIFO=f", "ListenSpecial=/dev/kmsg",
		"ListenNetlink=route", "ListenNetlink=bogus", "ListenNetlink=kobject-uevent 1", "ListenMessageQueue=/q", "ListenMessageQueue=q",
		"Accept=yes", "Accept=no", "Accept=maybe", "Accept=On", "Backlog=5", "Backlog=1K", "Backlog=-1", "Backlog=4294967295", "Backlog=4294967296",
		"SocketMode=0600", "SocketMode=888", "SocketMode=10000", "SocketMode=7777", "DirectoryMode=0755", "DirectoryMode=x",
		"MaxConnections=0", "MaxConnections=5", "MaxConnections=-3", "MaxConnectionsPerSource=2", "MaxConnectionsPerSource=x",
		"Symlinks=/run/l", "Symlinks=rel", "Symlinks=", "FileDescriptorName=ok", "FileDescriptorName=a:b", "FileDescriptorName=",
		"FileDescriptorName=" + strings.Repeat("a", 256), "Service=x.service", "Service=x.target", "Service=", "Service=foo@.service", "Service=nosuffix",
		"BindIPv6Only=both", "BindIPv6Only=yes", "BindIPv6Only=bad", "KeepAlive=yes", "KeepAliveTimeSec=10", "KeepAliveTimeSec=x",
		"KeepAliveProbes=3", "KeepAliveProbes=x", "NoDelay=yes", "Priority=3", "Priority=x", "DeferAcceptSec=5", "DeferAcceptSec=x",
		"ReceiveBuffer=1M", "ReceiveBuffer=x", "ReceiveBuffer=0", "SendBuffer=8K", "IPTOS=low-delay", "IPTOS=300", "IPTOS=16", "IPTTL=64",
		"IPTTL=x", "Mark=1", "Mark=x", "PipeSize=64K", "PipeSize=0", "FreeBind=yes", "Transparent=yes", "Broadcast=1", "PassCredentials=yes",
		"PassSecurity=no", "PassPacketInfo=yes", "Timestamping=us", "Timestamping=bad", "TCPCongestion=cubic", "ReusePort=yes",
		"MessageQueueMaxMessages=10", "MessageQueueMaxMessages=x", "RemoveOnStop=yes", "TriggerLimitIntervalSec=5s", "TriggerLimitIntervalSec=x",
		"TriggerLimitBurst=3", "TriggerLimitBurst=-1", "SocketUser=root", "SocketUser=a:b", "SocketGroup=0", "SocketProtocol=sctp",
		"SocketProtocol=tcp", "TimeoutSec=0", "TimeoutSec=x", "Writable=yes", "FlushPending=yes", "ExecStartPre=/bin/true",
		"ExecStartPre=/bin/x \"unb", "ExecStartPost=-/bin/true %Z", "BindToDevice=eth0", "BindToDevice=a/b", "User=nobody", "User=a:b",
		"UMask=0077", "UMask=9", "KillMode=mixed", "KillMode=bad", "KillSignal=SIGINT", "KillSignal=BAD", "SendSIGKILL=no",
		"Environment=A=1", "Environment=1A=x", "WorkingDirectory=/srv", "WorkingDirectory=srv",
	}
	diffServiceLines = []string{
		"Type=simple", "Type=oneshot", "Type=forking", "Type=bad", "Type=dbus", "Type=notify", "Type=exec", "Type=idle", "ExecStart=/bin/true",
		"ExecStart=", "ExecStart=/bin/a ; /bin/b", "ExecStart=-/bin/x \"unb", "ExecStart=/bin/x \"unb", "ExecStart=--/bin/x", "ExecStart=bin/x",
		"ExecStart=true", "ExecStop=/bin/true", "RemainAfterExit=yes", "RemainAfterExit=bad", "Restart=always", "Restart=on-failure", "Restart=bad",
		"RestartSec=1", "RestartSec=x", "TimeoutStartSec=0", "TimeoutStopSec=x", "TimeoutSec=5", "PIDFile=/run/p.pid", "PIDFile=p.pid",
		"PIDFile=%Z", "NotifyAccess=all", "NotifyAccess=bad", "WatchdogSec=5", "WatchdogSec=x", "FileDescriptorStoreMax=3",
		"FileDescriptorStoreMax=x", "NonBlocking=yes", "NonBlocking=x", "Sockets=a.socket", "Sockets=a.service", "Sockets=",
		"SuccessExitStatus=3 SIGHUP", "SuccessExitStatus=BAD", "RestartPreventExitStatus=1", "RestartForceExitStatus=x",
		"StandardInput=socket", "StandardInput=bad", "StandardOutput=journal", "StandardOutput=file:rel", "StandardOutput=append:/tmp/x",
		"StandardError=fd:x", "StandardError=bad", "StandardInputText=hi", "User=nobody", "User=.", "Group=a/b",
		"SupplementaryGroups=adm wheel", "SupplementaryGroups=a:b", "LimitNOFILE=10:20", "LimitNOFILE=20:10", "LimitNOFILE=x",
		"LimitCORE=infinity", "LimitNICE=-5", "LimitNICE=x", "Nice=5", "Nice=20", "Nice=x", "NoNewPrivileges=yes", "NoNewPrivileges=x",
		"EnvironmentFile=/etc/x", "EnvironmentFile=-x", "EnvironmentFile=x", "Environment=\"A=1 2\" B=3", "Environment=\"A=1",
		"SyslogIdentifier=x", "KillMode=process", "KillSignal=9", "FinalKillSignal=x", "RestartKillSignal=SIGHUP", "SendSIGHUP=yes",
		"WorkingDirectory=~", "WorkingDirectory=-/nope", "WorkingDirectory=%Z", "UMask=0022", "BusName=org.x", "DynamicUser=yes",
		"DynamicUser=x", "RootDirectory=/r", "RootDirectory=r", "PrivateTmp=yes",
	}
	diffUnitLines = []string{
		"Description=x %n", "Description=%Z", "After=a.service", "After=bad/name", "Requires=%Z.service", "Documentation=man:x",
		"DefaultDependencies=no", "DefaultDependencies=x", "StartLimitIntervalSec=5", "StartLimitIntervalSec=x", "StartLimitBurst=2",
		"StartLimitBurst=x", "CollectMode=inactive-or-failed", "CollectMode=x", "ConditionPathExists=/x", "Foo=1",
	}
)

func pick(rng *rand.Rand, pool []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = pool[rng.Intn(len(pool))]
	}
	return out
}

// TestValidationMatchesSystemdAnalyze generates random socket/service
// pairs from good and bad values and checks that sockd refuses exactly the
// units systemd-analyze verify (v252) refuses, and warns on every line
// systemd warns about (except settings sockd does not validate).
func TestValidationMatchesSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	if testing.Short() {
		t.Skip("runs systemd-analyze")
	}
	rng := rand.New(rand.NewSource(5))
	refusedRE := regexp.MustCompile(`^Unit (x\.s\w+) has a bad unit file setting|^(x\.socket): service .* not loaded`)
	lineRE := regexp.MustCompile(`^/\S+/(x\.s\w+):(\d+): (.*)`)
	for n := 0; n < 150; n++ {
		dir := t.TempDir()
		sock := append(append(append([]string{"[Unit]"}, pick(rng, diffUnitLines, 2)...), "[Socket]", fmt.Sprintf("ListenStream=%d", 2000+n)), pick(rng, diffSocketLines, 2+rng.Intn(5))...)
		svc := append([]string{"[Service]", "ExecStart=/bin/true"}, pick(rng, diffServiceLines, 2+rng.Intn(5))...)
		writeUnits(t, dir, map[string]string{
			"x.socket":   strings.Join(sock, "\n") + "\n",
			"x.service":  strings.Join(svc, "\n") + "\n",
			"x@.service": "[Service]\nExecStart=/bin/true\n",
		})
		out, _ := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, "x.socket"), filepath.Join(dir, "x.service")).CombinedOutput()
		want := map[string]bool{}
		warned := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if m := refusedRE.FindStringSubmatch(l); m != nil {
				want[m[1]+m[2]] = true
			}
			if m := lineRE.FindStringSubmatch(l); m != nil && !strings.Contains(m[3], "is not executable") {
				warned[m[1]+":"+m[2]] = m[3]
			}
		}
		_, diags := Load([]string{dir}, LoadOptions{LookPath: fakeLookPath})
		got := map[string]bool{}
		have := map[string]bool{}
		for _, d := range diags {
			if d.Severity == Error {
				got[d.Unit] = true
			}
			have[filepath.Base(d.Pos.File)+":"+fmt.Sprint(d.Pos.Line)] = true
		}
		delete(got, "x@.service")
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("case %d: systemd refuses %v, sockd refuses %v\nsystemd-analyze:\n%s\nsockd:\n%v\nsocket:\n%s\nservice:\n%s",
				n, want, got, out, diags, strings.Join(sock, "\n"), strings.Join(svc, "\n"))
			continue
		}
		for at, msg := range warned {
			if !have[at] && !strings.Contains(msg, "protect system") {
				t.Errorf("case %d: systemd warns at %s (%s), sockd does not", n, at, msg)
			}
		}
	}
}
