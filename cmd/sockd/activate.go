package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/control"
	"github.com/sockd/sockd/supervisor"
)

// activateSpec is what the exec helper needs to give the command exactly
// the environment systemd-socket-activate gives it. The supervisor starts
// the helper with the sockets; the helper replaces itself with the
// command, so LISTEN_PID stays right.
type activateSpec struct {
	Argv []string `json:"argv"`
	// Env is the base environment: TERM, COLORTERM, NO_COLOR, PATH, USER
	// and HOME from the caller, which systemd-socket-activate passes on.
	Env []string `json:"env"`
	// SetEnv are the -E assignments, applied last.
	SetEnv []string `json:"setenv"`
	// Listen sets LISTEN_FDS and LISTEN_PID (not with --inetd).
	Listen bool `json:"listen"`
	// FDNames, when --fdname was given, is LISTEN_FDNAMES's value.
	FDNames *string `json:"fdnames,omitempty"`
}

// Activate is `sockd activate`: systemd-socket-activate(1) on top of the
// supervisor. It writes the equivalent .socket and .service units into a
// private directory and runs them: without --accept the command is
// started once, on the first connection, with every listener, and sockd
// exits with the command's status; with --accept each connection gets its
// own instance.
func Activate(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "--exec-spec" {
		return activateExec(args[1], stderr)
	}
	fs := flag.NewFlagSet("sockd activate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var listen, fdnames, setenv stringList
	var accept, datagram, seqpacket, inetd bool
	fs.Var(&listen, "l", "listen on ADDR (repeatable): PORT, IP:PORT, [IPv6]:PORT, /path, @abstract, vsock:CID:PORT")
	fs.Var(&listen, "listen", "same as -l")
	fs.BoolVar(&accept, "a", false, "spawn a separate instance for each connection")
	fs.BoolVar(&accept, "accept", false, "same as -a")
	fs.BoolVar(&datagram, "d", false, "listen on datagram sockets instead of stream sockets")
	fs.BoolVar(&datagram, "datagram", false, "same as -d")
	fs.BoolVar(&seqpacket, "seqpacket", false, "listen on SOCK_SEQPACKET sockets instead of stream sockets")
	fs.Var(&setenv, "E", "pass VAR=VAL (or VAR from this environment) to the command (repeatable)")
	fs.Var(&setenv, "setenv", "same as -E")
	fs.Var(&setenv, "environment", "same as -E")
	fs.Var(&fdnames, "fdname", "names for the fds, NAME[:NAME...] (LISTEN_FDNAMES)")
	fs.BoolVar(&inetd, "inetd", false, "connect the socket to stdin and stdout instead of LISTEN_FDS")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sockd activate -l ADDR... [-a] [-d|--seqpacket] [--fdname NAME[:NAME...]] [-E VAR[=VAL]]... [--inetd] [--] CMD [ARGS...]\n\n"+
			"Listen on sockets and start CMD on connection, as systemd-socket-activate does.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "sockd activate: "+format+"\n", a...)
		return 1
	}
	// The checks and messages of systemd-socket-activate's parse_argv.
	switch {
	case fs.NArg() == 0:
		return fail("command to execute is missing.")
	case datagram && seqpacket:
		return fail("--datagram may not be combined with --seqpacket.")
	case datagram && accept:
		return fail("Datagram sockets do not accept connections. The --datagram and --accept options may not be combined.")
	case len(listen) > 1 && !accept && inetd:
		return fail("--inetd only supported with a single file descriptor, or with --accept.")
	case len(listen) == 0:
		return fail("No sockets to listen on specified.")
	}
	var names []string
	for _, f := range fdnames {
		if f == "" {
			names = append(names, "")
			continue
		}
		names = append(names, strings.Split(f, ":")...)
	}
	if len(names) > 0 && len(names) != len(listen) {
		fmt.Fprintf(stderr, "sockd activate: The number of fd names is different than number of fds: %d vs %d\n", len(names), len(listen))
	}
	if len(fdnames) > 0 && inetd {
		fmt.Fprintf(stderr, "sockd activate: --fdname has no effect with --inetd present.\n")
	}

	spec := activateSpec{Argv: fs.Args(), Listen: !inetd}
	for _, k := range []string{"TERM", "COLORTERM", "NO_COLOR", "PATH", "USER", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			spec.Env = append(spec.Env, k+"="+v)
		}
	}
	for _, kv := range setenv {
		if !strings.Contains(kv, "=") {
			// -E VAR passes VAR through (empty when unset, as
			// systemd 252 does).
			kv += "=" + os.Getenv(kv)
		}
		spec.SetEnv = append(spec.SetEnv, kv)
	}
	if len(names) > 0 && !inetd {
		n := 1
		if !accept {
			n = len(listen)
		}
		// One name stands for every fd, as in systemd-socket-activate.
		if len(names) == 1 {
			for len(names) < n {
				names = append(names, names[0])
			}
		}
		joined := strings.Join(names, ":")
		spec.FDNames = &joined
	}

	dir, err := os.MkdirTemp("", "sockd-activate-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	service, err := writeActivateUnits(dir, listen, accept, socketKind(datagram, seqpacket), inetd, spec)
	if err != nil {
		return fail("%v", err)
	}

	log, err := newLogger(config.Log{Level: "info", Format: "console"}, stderr)
	if err != nil {
		return fail("%v", err)
	}
	defer log.Sync()
	// The service's events, to see it start and end without polling.
	ring := control.NewRing(16)
	log = ring.Tee(log, zapcore.InfoLevel)
	cfg := config.Default(false)
	cfg.ControlSocket = ""
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	sup, err := supervisor.New(supervisor.Options{Config: cfg, UnitDirs: []string{filepath.Join(dir, "units")}, Logger: log})
	if err != nil {
		return fail("%v", err)
	}
	status := make(chan int, 1)
	if !accept {
		_, events, stop := ring.Follow(service, 0)
		defer stop()
		go watchOnce(ctx, events, status, cancel)
	}
	if err := sup.Run(ctx); err != nil {
		log.Error("activate", zap.Error(err))
		return 1
	}
	select {
	case code := <-status:
		return code
	default:
		return 0
	}
}

func socketKind(datagram, seqpacket bool) string {
	switch {
	case datagram:
		return "ListenDatagram"
	case seqpacket:
		return "ListenSequentialPacket"
	}
	return "ListenStream"
}

// unitQuote quotes a word for a unit file: no specifier or variable
// expansion, backslashes and quotes escaped.
func unitQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// writeActivateUnits writes one socket unit per listener (so each keeps
// its own fd number, in order) and the service (or one template per
// socket with --accept, since Accept=yes sockets name their own template).
// It returns the service's name.
func writeActivateUnits(dir string, listen []string, accept bool, kind string, inetd bool, spec activateSpec) (string, error) {
	units := filepath.Join(dir, "units")
	if err := os.Mkdir(units, 0o755); err != nil {
		return "", err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	specPath := filepath.Join(dir, "exec.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return "", err
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("own executable: %w", err)
	}
	var svc strings.Builder
	fmt.Fprintf(&svc, "[Service]\nExecStart=%s activate --exec-spec %s\n", unitQuote(exe), unitQuote(specPath))
	if wd, err := os.Getwd(); err == nil && !strings.ContainsAny(wd, "\n\r") {
		fmt.Fprintf(&svc, "WorkingDirectory=%s\n", strings.ReplaceAll(wd, "%", "%%"))
	}
	if os.Getenv("SOCKD_TEST_MAIN") != "" {
		// The test binary re-enters main only with this set.
		svc.WriteString("Environment=SOCKD_TEST_MAIN=1\n")
	}
	if inetd {
		svc.WriteString("StandardInput=socket\nStandardOutput=socket\n")
	} else {
		// The command's output goes where ours goes, as when
		// systemd-socket-activate execs it.
		fmt.Fprintf(&svc, "StandardOutput=append:/proc/%d/fd/1\n", os.Getpid())
	}
	fmt.Fprintf(&svc, "StandardError=append:/proc/%d/fd/2\n", os.Getpid())

	service := "activate.service"
	for i, addr := range listen {
		if strings.ContainsAny(addr, "\n\r") {
			return "", fmt.Errorf("invalid address %q", addr)
		}
		name := fmt.Sprintf("activate-%03d", i)
		sock := fmt.Sprintf("[Socket]\n%s=%s\n", kind, strings.ReplaceAll(addr, "%", "%%"))
		if accept {
			// systemd-socket-activate accepts without limits.
			sock += "Accept=yes\nTriggerLimitIntervalSec=0\nMaxConnections=65536\n"
			if err := os.WriteFile(filepath.Join(units, name+"@.service"), []byte(svc.String()), 0o644); err != nil {
				return "", err
			}
		} else {
			// Started once: a second wakeup (the service exited and
			// left a connection queued) fails the socket instead of
			// starting the command again.
			sock += "Service=" + service + "\nTriggerLimitBurst=1\nTriggerLimitIntervalSec=infinity\n"
		}
		if err := os.WriteFile(filepath.Join(units, name+".socket"), []byte(sock), 0o644); err != nil {
			return "", err
		}
	}
	if !accept {
		if err := os.WriteFile(filepath.Join(units, service), []byte(svc.String()), 0o644); err != nil {
			return "", err
		}
	}
	return service, nil
}

// watchOnce ends the run once the service has run and exited, and sends
// its exit status: without --accept, systemd-socket-activate becomes the
// command, so the command's end is its end.
func watchOnce(ctx context.Context, events <-chan control.Entry, status chan<- int, cancel func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			code := -1
			switch e.Message {
			case "exited":
				s, _ := e.Fields["status"].(string)
				code = exitStatus(s)
			case "failed to start service":
				code = 1
			}
			if code >= 0 {
				status <- code
				cancel()
				return
			}
		}
	}
}

// exitStatus maps the supervisor's "status=N" / "signal=SIGX" to a shell
// exit code.
func exitStatus(last string) int {
	if v, ok := strings.CutPrefix(last, "status="); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	if v, ok := strings.CutPrefix(last, "signal="); ok {
		v, _, _ = strings.Cut(v, " ")
		return 128 + int(unix.SignalNum(v))
	}
	if last == "" {
		return 0
	}
	return 1
}

// activateExec runs in the service: it builds systemd-socket-activate's
// environment for the command and execs it, keeping the fds and pid.
func activateExec(path string, stderr io.Writer) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "sockd activate: %v\n", err)
		return 1
	}
	var spec activateSpec
	if err := json.Unmarshal(b, &spec); err != nil || len(spec.Argv) == 0 {
		fmt.Fprintf(stderr, "sockd activate: %s: bad spec: %v\n", path, err)
		return 1
	}
	env := append([]string{}, spec.Env...)
	if spec.Listen {
		env = append(env, "LISTEN_FDS="+os.Getenv("LISTEN_FDS"), "LISTEN_PID="+strconv.Itoa(os.Getpid()))
		if spec.FDNames != nil {
			env = append(env, "LISTEN_FDNAMES="+*spec.FDNames)
		}
	}
	for _, kv := range spec.SetEnv {
		env = envReplace(env, kv)
	}
	exe, err := lookPath(spec.Argv[0], env)
	if err == nil {
		err = syscall.Exec(exe, spec.Argv, env)
	}
	fmt.Fprintf(stderr, "sockd activate: Failed to execute '%s': %v\n", strings.Join(spec.Argv, " "), err)
	return 1
}

func envReplace(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// lookPath searches the command's PATH, as execvpe does (glibc's default
// path when there is none).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/bin:/usr/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("no such file or directory")
}
