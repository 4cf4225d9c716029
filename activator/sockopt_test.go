//go:build linux

package activator

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

func ptr[T any](v T) *T { return &v }

func readSysctl(t testing.TB, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		t.Skipf("sysctl %s: %v", name, err)
	}
	n, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTCPOptions(t *testing.T) {
	o := units.SocketOptions{
		KeepAlive:         true,
		KeepAliveTime:     90 * time.Second,
		KeepAliveInterval: 1500 * time.Millisecond, // rounded up to 2
		KeepAliveProbes:   4,
		NoDelay:           true,
		Priority:          ptr(3),
		DeferAccept:       2500 * time.Millisecond, // rounded up to 3
		ReceiveBuffer:     64 << 10,
		SendBuffer:        32 << 10,
		IPTOS:             ptr(0x10),
		IPTTL:             ptr(42),
		TCPCongestion:     "reno",
		ReusePort:         true,
		FreeBind:          true,
		Timestamping:      units.TimestampingNsec,
	}
	b := mustBind(t, unit("o.socket", o, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{})
	fd := b.Listeners[0].FD
	checks := []struct {
		name     string
		lvl, opt int
		want     int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 90},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 2},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 4},
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		{"SO_PRIORITY", unix.SOL_SOCKET, unix.SO_PRIORITY, 3},
		{"TCP_DEFER_ACCEPT", unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 3},
		{"SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF, 128 << 10},
		{"SO_SNDBUF", unix.SOL_SOCKET, unix.SO_SNDBUF, 64 << 10},
		{"IP_TOS", unix.IPPROTO_IP, unix.IP_TOS, 0x10},
		{"IP_TTL", unix.IPPROTO_IP, unix.IP_TTL, 42},
		{"SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
		{"IP_FREEBIND", unix.IPPROTO_IP, unix.IP_FREEBIND, 1},
		{"SO_TIMESTAMPNS", unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
	}
	for _, c := range checks {
		if got := getInt(t, fd, c.lvl, c.opt); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
	if cc, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION); err != nil || cc != "reno" {
		t.Errorf("TCP_CONGESTION = %q (%v), want reno", cc, err)
	}
}

func TestDatagramOptions(t *testing.T) {
	o := units.SocketOptions{Broadcast: true, PassPacketInfo: true, Timestamping: units.TimestampingUsec, IPTTL: ptr(7), IPTOS: ptr(0x04)}
	b := mustBind(t, unit("d.socket", o, inet4(units.ListenDatagram, "127.0.0.1", 0)), BindOptions{})
	fd := b.Listeners[0].FD
	for name, c := range map[string][3]int{
		"SO_BROADCAST": {unix.SOL_SOCKET, unix.SO_BROADCAST, 1},
		"IP_PKTINFO":   {unix.IPPROTO_IP, unix.IP_PKTINFO, 1},
		"SO_TIMESTAMP": {unix.SOL_SOCKET, unix.SO_TIMESTAMP, 1},
		"IP_TTL":       {unix.IPPROTO_IP, unix.IP_TTL, 7},
	} {
		if got := getInt(t, fd, c[0], c[1]); got != c[2] {
			t.Errorf("%s = %d, want %d", name, got, c[2])
		}
	}
	if !hasIPv6Loopback() {
		return
	}
	b = mustBind(t, unit("d6.socket", o, inet6(units.ListenDatagram, "::1", "", 0)), BindOptions{})
	fd = b.Listeners[0].FD
	if got := getInt(t, fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO); got != 1 {
		t.Errorf("IPV6_RECVPKTINFO = %d", got)
	}
	if got := getInt(t, fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS); got != 7 {
		t.Errorf("IPV6_UNICAST_HOPS = %d", got)
	}
	if got := getInt(t, fd, unix.IPPROTO_IP, unix.IP_TOS); got != 0x04 {
		t.Errorf("IP_TOS on IPv6 = %d", got)
	}
}

func TestUnixOptions(t *testing.T) {
	d := shortDir(t)
	o := units.SocketOptions{PassCredentials: true, PassSecurity: true, AcceptFileDescriptors: ptr(false)}
	b := mustBind(t, unit("u.socket", o, unixL(units.ListenDatagram, d+"/u.sock")), BindOptions{})
	fd := b.Listeners[0].FD
	if got := getInt(t, fd, unix.SOL_SOCKET, unix.SO_PASSCRED); got != 1 {
		t.Errorf("SO_PASSCRED = %d", got)
	}
	if got := getInt(t, fd, unix.SOL_SOCKET, unix.SO_PASSSEC); got != 1 {
		t.Errorf("SO_PASSSEC = %d", got)
	}
	if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSRIGHTS); err == nil && got != 0 {
		t.Errorf("SO_PASSRIGHTS = %d, want 0 (AcceptFileDescriptors=no)", got)
	}
}

// backlogOf reads a listener's backlog from ss (Send-Q of a LISTEN socket).
func backlogOf(t *testing.T, port int) int {
	t.Helper()
	out, err := exec.Command("ss", "-Hltn", "sport = :"+strconv.Itoa(port)).Output()
	if err != nil {
		t.Skipf("ss: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("ss output %q", out)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBacklog(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss not installed")
	}
	somax := readSysctl(t, "net.core.somaxconn")
	for _, c := range []struct{ set, want int }{{0, somax}, {7, 7}, {1 << 30, somax}} {
		b := mustBind(t, unit("b.socket", units.SocketOptions{Backlog: c.set}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{})
		if got := backlogOf(t, sockPort(t, b.Listeners[0].FD)); got != c.want {
			t.Errorf("Backlog=%d: ss shows %d, want %d", c.set, got, c.want)
		}
	}
}

func TestFailedOptionOnlyWarns(t *testing.T) {
	// An unknown congestion algorithm fails after bind: logged, unit up.
	core, logs := observer.New(zap.WarnLevel)
	b := mustBind(t, unit("w.socket", units.SocketOptions{TCPCongestion: "no-such-cc"}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{Logger: zap.New(core)})
	if len(b.Listeners) != 1 {
		t.Fatal("listener missing")
	}
	if logs.FilterField(zap.String("op", "setsockopt TCP_CONGESTION no-such-cc")).Len() != 1 {
		t.Errorf("no warning logged: %v", logs.All())
	}
}

func TestBufferForce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_RCVBUFFORCE needs CAP_NET_ADMIN: run as root")
	}
	max := readSysctl(t, "net.core.rmem_max")
	want := max + 1<<20 // above the cap: only FORCE can give it
	b := mustBind(t, unit("f.socket", units.SocketOptions{ReceiveBuffer: uint64(want), SendBuffer: uint64(readSysctl(t, "net.core.wmem_max") + 1<<20)}, inet4(units.ListenDatagram, "127.0.0.1", 0)), BindOptions{})
	if got := getInt(t, b.Listeners[0].FD, unix.SOL_SOCKET, unix.SO_RCVBUF); got != 2*want {
		t.Errorf("SO_RCVBUF = %d, want %d (FORCE past rmem_max %d)", got, 2*want, max)
	}
	if got := getInt(t, b.Listeners[0].FD, unix.SOL_SOCKET, unix.SO_SNDBUF); got <= 2*readSysctl(t, "net.core.wmem_max") {
		t.Errorf("SO_SNDBUF = %d, not forced past wmem_max", got)
	}
}

func TestMark(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_MARK needs CAP_NET_ADMIN: run as root")
	}
	b := mustBind(t, unit("m.socket", units.SocketOptions{Mark: ptr(0x2a)}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{})
	if got := getInt(t, b.Listeners[0].FD, unix.SOL_SOCKET, unix.SO_MARK); got != 0x2a {
		t.Errorf("SO_MARK = %#x", got)
	}
}

func TestApplyConnOptions(t *testing.T) {
	b := mustBind(t, unit("c.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{})
	ln := b.Listeners[0]
	conn, err := net.Dial("tcp", addrWithPort(ln))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var cfd int
	for {
		cfd, _, err = unix.Accept4(ln.FD, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err != unix.EAGAIN {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cfd)
	// Nothing set: nothing changed, no error, and nothing allocated (it is
	// on the accept path).
	if err := ApplyConnOptions(cfd, ln.Domain, &units.SocketOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := getInt(t, cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY); got != 0 {
		t.Errorf("TCP_NODELAY set without NoDelay=")
	}
	o := units.SocketOptions{KeepAlive: true, KeepAliveTime: time.Minute, NoDelay: true, Priority: ptr(2), IPTOS: ptr(0x08), IPTTL: ptr(9), SendBuffer: 16 << 10, TCPCongestion: "reno"}
	if err := ApplyConnOptions(cfd, ln.Domain, &o); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][3]int{
		"SO_KEEPALIVE": {unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		"TCP_KEEPIDLE": {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 60},
		"TCP_NODELAY":  {unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		"SO_PRIORITY":  {unix.SOL_SOCKET, unix.SO_PRIORITY, 2},
		"IP_TOS":       {unix.IPPROTO_IP, unix.IP_TOS, 0x08},
		"IP_TTL":       {unix.IPPROTO_IP, unix.IP_TTL, 9},
		"SO_SNDBUF":    {unix.SOL_SOCKET, unix.SO_SNDBUF, 32 << 10},
	} {
		if got := getInt(t, cfd, c[0], c[1]); got != c[2] {
			t.Errorf("%s = %d, want %d", name, got, c[2])
		}
	}
	if n := testing.AllocsPerRun(100, func() { ApplyConnOptions(cfd, ln.Domain, &units.SocketOptions{NoDelay: true}) }); n != 0 {
		t.Errorf("ApplyConnOptions allocates %v times per call", n)
	}
	// A failing option is reported as an *os.SyscallError.
	err = ApplyConnOptions(cfd, ln.Domain, &units.SocketOptions{TCPCongestion: "no-such-cc"})
	var se *os.SyscallError
	if !errors.As(err, &se) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("err = %v, want SyscallError ENOENT", err)
	}
}

// TestNetns runs the options that need privileges (SO_BINDTODEVICE,
// IP_TRANSPARENT, SO_MARK) in a fresh network namespace, so that nothing
// touches the host's interfaces: the test binary re-executes itself under
// `unshare -n` in the "netns" helper mode.
func TestNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (unshare -n, SO_BINDTODEVICE, IP_TRANSPARENT)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare(1) not installed")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "-n", self, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=netns")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if strings.Contains(out.String(), "unshare failed") {
			t.Skipf("cannot create a network namespace here: %s", out.String())
		}
		t.Fatalf("netns helper: %v\n%s", err, out.String())
	}
	t.Logf("netns helper:\n%s", out.String())
}

// netnsHelper runs inside `unshare -n`: it creates a dummy interface, binds
// with BindToDevice=, Transparent= and Mark=, and checks them.
func netnsHelper() int {
	fail := func(format string, args ...any) int {
		os.Stderr.WriteString("FAIL: " + strings.TrimSpace(fmt.Sprintf(format, args...)) + "\n")
		return 1
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fail("ip link set lo up: %v %s", err, out)
	}
	dev := "sockd0"
	if out, err := exec.Command("ip", "link", "add", dev, "type", "dummy").CombinedOutput(); err != nil {
		os.Stdout.WriteString("no dummy interfaces (" + strings.TrimSpace(string(out)) + "); using lo\n")
		dev = "lo"
	} else {
		exec.Command("ip", "link", "set", dev, "up").Run()
		exec.Command("ip", "addr", "add", "10.1.2.3/24", "dev", dev).Run()
	}
	o := units.SocketOptions{BindToDevice: dev, Transparent: true, Mark: ptr(7)}
	for _, l := range []units.Listener{inet4(units.ListenStream, "0.0.0.0", 0), anyPort(units.ListenDatagram, 0)} {
		b, err := Bind(unit("ns.socket", o, l), BindOptions{})
		if err != nil {
			return fail("Bind: %v", err)
		}
		fd := b.Listeners[0].FD
		if got, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil || got != dev {
			return fail("SO_BINDTODEVICE = %q (%v), want %s", got, err, dev)
		}
		lvl, opt := unix.IPPROTO_IP, unix.IP_TRANSPARENT
		if b.Listeners[0].Domain == unix.AF_INET6 {
			lvl, opt = unix.IPPROTO_IPV6, unix.IPV6_TRANSPARENT
		}
		if got, err := unix.GetsockoptInt(fd, lvl, opt); err != nil || got != 1 {
			return fail("TRANSPARENT = %d (%v)", got, err)
		}
		if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK); err != nil || got != 7 {
			return fail("SO_MARK = %d (%v)", got, err)
		}
		os.Stdout.WriteString("ok " + b.Listeners[0].Addr + " bound to " + dev + "\n")
		b.Close(true)
	}
	// An unknown device is fatal (before bind), as in systemd.
	_, err := Bind(unit("ns.socket", units.SocketOptions{BindToDevice: "nosuchdev0"}, inet4(units.ListenStream, "0.0.0.0", 0)), BindOptions{})
	var le *ListenError
	if !errors.As(err, &le) || !strings.HasPrefix(le.Op, "setsockopt SO_BINDTODEVICE") || !errors.Is(err, unix.ENODEV) {
		return fail("unknown device: %v", err)
	}
	return 0
}
