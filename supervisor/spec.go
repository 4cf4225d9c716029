package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sockd/sockd/spawner"
	"github.com/sockd/sockd/units"
)

// fdsFor collects the fds an Accept=no service gets: the listeners of every
// bound socket unit that triggers it, then those named in its Sockets=, in
// load order, each named by its socket's FileDescriptorName=. keep are
// those of Accept=yes sockets (named in Sockets=), which sockd goes on
// accepting from: NonBlocking= must leave them non-blocking.
func (s *Supervisor) fdsFor(sv *serviceUnit) (fds []int, names []string, keep []int) {
	add := func(su *socketUnit) {
		if su == nil || su.bound == nil {
			return
		}
		for _, bl := range su.bound.Listeners {
			if contains(fds, bl.FD) {
				continue
			}
			fds = append(fds, bl.FD)
			names = append(names, bl.Name)
			if su.u.Accept {
				keep = append(keep, bl.FD)
			}
		}
	}
	for _, su := range s.sockets {
		if su.svc == sv {
			add(su)
		}
	}
	for _, name := range sv.u.Sockets {
		add(s.byName[name])
	}
	return fds, names, keep
}

// spec builds what the spawner needs to run cmd for sv. Only the main
// process (ExecStart=) gets the sockets as LISTEN_FDS; control processes
// (ExecStartPre= and the others) get $MAINPID and, in ExecStopPost=,
// $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS.
func (s *Supervisor) spec(sv *serviceUnit, cmd *units.Command, role procRole) (*spawner.Spec, error) {
	u := sv.u
	x := &u.Exec
	sp := &spawner.Spec{
		Unit:        u.Name,
		Path:        cmd.Path,
		Dir:         x.WorkingDirectory,
		DirOptional: x.WorkingDirectoryOptional,
		Umask:       &x.UMask,
		Rlimits:     rlimits(x.Limits),
		Nice:        x.Nice,
		NoNewPrivs:  x.NoNewPrivileges,
		NonBlocking: u.NonBlocking,
		// An Accept=yes instance's main process: sockd goes on accepting
		// while it execs, and a failed exec arrives as its exit, as with
		// systemd's Type=simple. Type=exec waits for the execve, as there.
		NoWait: sv.instanceOf != nil && role == roleMain && u.Type != units.TypeExec,
	}
	// An instance's later commands (ExecStop=, ExecReload=,
	// ExecStopPost=), once sockd has handed the connection to its
	// processes and closed its copy, get /dev/null for their socket stdio
	// (systemd keeps its copy until the instance is dead).
	stdin, stdout, stderr := x.StandardInput, x.StandardOutput, x.StandardError
	handedOver := sv.conn != nil && sv.conn.FD < 0
	if handedOver && role != roleControl {
		// A main process again (a restart request): sockd no longer has
		// the connection to give it.
		return nil, errors.New("the instance's connection was handed over to its first run; an Accept=yes instance cannot be started again")
	}
	if handedOver {
		for _, st := range []*units.Stdio{&stdin, &stdout, &stderr} {
			if st.Kind == units.StdioSocket {
				*st = units.Stdio{Kind: units.StdioNull}
			}
		}
	}
	var sockFD = -1
	switch {
	case handedOver:
	case sv.conn != nil:
		sockFD = sv.conn.FD
		sp.Files = []int{sockFD}
		sp.Names = []string{sv.instanceOf.u.FileDescriptorName}
	default:
		sp.Files, sp.Names, sp.KeepFlags = s.fdsFor(sv)
	}
	// StandardInput=socket: inetd style. The socket is stdin (and what
	// StandardOutput=inherit copies); no LISTEN_* variables are set.
	if stdin.Kind == units.StdioSocket {
		if len(sp.Files) != 1 {
			return nil, fmt.Errorf("StandardInput=socket: expected exactly one socket, got %d", len(sp.Files))
		}
		sockFD = sp.Files[0]
		sp.Files, sp.Names = nil, nil
	} else {
		sp.ListenEnv = len(sp.Files) > 0
	}
	if role == roleControl {
		sp.Files, sp.Names, sp.ListenEnv = nil, nil, false
	} else if len(sv.fdStore) > 0 && x.StandardInput.Kind != units.StdioSocket {
		// The fd store comes back after the sockets, named by FDNAME=.
		for _, e := range sv.fdStore {
			sp.Files = append(sp.Files, e.fd)
			sp.Names = append(sp.Names, e.name)
		}
		sp.ListenEnv = true
	}
	var err error
	if sp.Stdin, err = stdinFor(stdin, sockFD); err != nil {
		return nil, err
	}
	if sp.Stdout, err = stdoutFor(stdout, sp.Stdin, sockFD); err != nil {
		return nil, fmt.Errorf("StandardOutput=: %w", err)
	}
	if stderr.Kind == units.StdioInherit || stderr.Kind == units.StdioDefault {
		sp.Stderr = sp.Stdout
	} else if sp.Stderr, err = stdoutFor(stderr, sp.Stdin, sockFD); err != nil {
		return nil, fmt.Errorf("StandardError=: %w", err)
	}

	if x.User != "" || x.Group != "" || len(x.SupplementaryGroups) > 0 {
		if cmd.Flags&(units.CmdFullPrivileges|units.CmdNoSetuid) == 0 {
			cred, err := s.credential(x.User, x.Group, x.SupplementaryGroups)
			if err != nil {
				return nil, err
			}
			sp.Cred = cred
		}
	}

	env, err := s.environment(sv, sp.Cred, role)
	if err != nil {
		return nil, err
	}
	sp.Env = env
	sp.Argv = cmd.Args
	if cmd.Flags&units.CmdNoEnvExpand == 0 && hasVar(cmd.Args) {
		sp.Argv = units.ExpandEnv(cmd.Args, envMap(env))
	}
	return sp, nil
}

func hasVar(args []string) bool {
	for _, a := range args {
		if strings.IndexByte(a, '$') >= 0 {
			return true
		}
	}
	return false
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			m[kv[:i]] = kv[i+1:]
		}
	}
	return m
}

// environment builds a service's environment as systemd does (spawner's
// BaseEnv: PATH, LANG, USER/LOGNAME/HOME/SHELL for User=, INVOCATION_ID),
// then Environment=, then EnvironmentFile= (read at every start; files
// win), then REMOTE_ADDR/REMOTE_PORT for a connection. LISTEN_* are set by
// the spawner.
func (s *Supervisor) environment(sv *serviceUnit, cred *spawner.Credential, role procRole) ([]string, error) {
	x := &sv.u.Exec
	lists := make([][]string, 0, 2+len(x.EnvironmentFiles))
	lists = append(lists, x.Environment)
	for _, ef := range x.EnvironmentFiles {
		vars, err := readEnvironmentFile(ef.Path)
		if err != nil {
			if ef.Optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("EnvironmentFile=%s: %w", ef.Path, err)
		}
		lists = append(lists, vars)
	}
	if sv.conn != nil {
		lists = append(lists, sv.conn.RemoteEnv())
	}
	if role == roleControl {
		lists = append(lists, controlEnv(sv))
	}
	lists = append(lists, s.notifyEnv(sv, role))
	return spawner.BaseEnv(cred, lists...), nil
}

// controlEnv is what systemd tells control processes about the service.
func controlEnv(sv *serviceUnit) []string {
	var env []string
	if sv.mainPID != 0 {
		env = append(env, "MAINPID="+strconv.Itoa(sv.mainPID))
	}
	if sv.phase == phStopPost {
		result := sv.result
		if result == "" {
			result = ResultSuccess
		}
		env = append(env, "SERVICE_RESULT="+result)
		if sv.hasMainExit {
			if sv.mainExit.Signal != 0 {
				code := "killed"
				if sv.mainExit.CoreDumped {
					code = "dumped"
				}
				env = append(env, "EXIT_CODE="+code, "EXIT_STATUS="+strings.TrimPrefix(signalName(sv.mainExit.Signal), "SIG"))
			} else {
				env = append(env, "EXIT_CODE=exited", "EXIT_STATUS="+strconv.Itoa(sv.mainExit.Code))
			}
		}
	}
	return env
}

func readEnvironmentFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return units.ParseEnvironmentFile(f)
}

// stdinFor maps StandardInput= (null by default).
func stdinFor(in units.Stdio, sockFD int) (spawner.Stdio, error) {
	switch in.Kind {
	case units.StdioDefault, units.StdioNull:
		return spawner.Stdio{Kind: spawner.StdioNull}, nil
	case units.StdioSocket:
		return spawner.Stdio{Kind: spawner.StdioFD, FD: sockFD}, nil
	case units.StdioFile:
		return spawner.Stdio{Kind: spawner.StdioFile, Path: in.Path}, nil
	}
	return spawner.Stdio{}, fmt.Errorf("StandardInput=: kind %d is not supported by sockd", in.Kind)
}

// stdoutFor maps StandardOutput=/StandardError=. inherit copies stdin
// (the socket in inetd style); journal, syslog and kmsg go to sockd's log.
func stdoutFor(o units.Stdio, stdin spawner.Stdio, sockFD int) (spawner.Stdio, error) {
	switch o.Kind {
	case units.StdioJournal:
		return spawner.Stdio{Kind: spawner.StdioLog}, nil
	case units.StdioDefault:
		// Unset: systemd's default is inherit when stdin is a socket (or
		// tty or fd), journal otherwise.
		if stdin.Kind == spawner.StdioFD {
			return stdin, nil
		}
		return spawner.Stdio{Kind: spawner.StdioLog}, nil
	case units.StdioInherit:
		if stdin.Kind == spawner.StdioFD {
			return stdin, nil
		}
		if stdin.Kind == spawner.StdioNull {
			return spawner.Stdio{Kind: spawner.StdioNull}, nil
		}
		return spawner.Stdio{Kind: spawner.StdioLog}, nil
	case units.StdioNull:
		return spawner.Stdio{Kind: spawner.StdioNull}, nil
	case units.StdioSocket:
		if sockFD < 0 {
			return spawner.Stdio{}, errors.New("socket: the service has no socket")
		}
		return spawner.Stdio{Kind: spawner.StdioFD, FD: sockFD}, nil
	case units.StdioFile:
		return spawner.Stdio{Kind: spawner.StdioFile, Path: o.Path}, nil
	case units.StdioAppend:
		return spawner.Stdio{Kind: spawner.StdioAppend, Path: o.Path}, nil
	case units.StdioTruncate:
		return spawner.Stdio{Kind: spawner.StdioTruncate, Path: o.Path}, nil
	}
	return spawner.Stdio{}, fmt.Errorf("kind %d is not supported by sockd", o.Kind)
}

func rlimits(m map[int]units.Rlimit) map[int]spawner.Rlimit {
	if len(m) == 0 {
		return nil
	}
	out := make(map[int]spawner.Rlimit, len(m))
	for r, v := range m {
		out[r] = spawner.Rlimit{Soft: v.Soft, Hard: v.Hard}
	}
	return out
}

// credTTL is how long a resolved User=/Group= is reused: an Accept=yes
// socket starts a process per connection, and a lookup reads /etc/passwd
// and /etc/group, or runs getent for users they lack (milliseconds). A
// change to the user database applies to starts after it expires.
const credTTL = 5 * time.Second

type credKey struct{ user, group, supplementary string }

type credEntry struct {
	cred *spawner.Credential
	err  error
	at   time.Time
}

// credential is spawner.LookupCredential, remembered for credTTL (also
// when it fails). The Credential is shared: the spawner only reads it.
func (s *Supervisor) credential(user, group string, supplementary []string) (*spawner.Credential, error) {
	k := credKey{user, group, strings.Join(supplementary, "\x00")}
	now := time.Now()
	if e, ok := s.creds[k]; ok && now.Sub(e.at) < credTTL {
		return e.cred, e.err
	}
	cred, err := spawner.LookupCredential(user, group, supplementary)
	if s.creds == nil || len(s.creds) > 1024 {
		s.creds = map[credKey]credEntry{} // bounded: start over
	}
	s.creds[k] = credEntry{cred, err, now}
	return cred, err
}
