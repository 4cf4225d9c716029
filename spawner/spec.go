//go:build linux

package spawner

import (
	"os"
	"strconv"
)

// StdioKind says where a standard stream of a service goes.
type StdioKind int

// Standard stream kinds. The zero value is StdioNull.
const (
	StdioNull     StdioKind = iota // /dev/null
	StdioInherit                   // sockd's own fd 0, 1 or 2
	StdioFD                        // Stdio.FD, e.g. the connection (StandardInput=socket)
	StdioLog                       // a pipe read by sockd and logged line by line (journal, syslog, kmsg)
	StdioFile                      // Stdio.Path, opened without truncation (file:)
	StdioAppend                    // Stdio.Path, O_APPEND (append:)
	StdioTruncate                  // Stdio.Path, O_TRUNC (truncate:)
)

// Stdio is one standard stream of a service. The zero value is /dev/null.
type Stdio struct {
	Kind StdioKind
	// FD is the descriptor for StdioFD. sockd keeps ownership: the spawner
	// never closes it. NonBlocking= applies to it as to Spec.Files.
	FD int
	// Path is the file for StdioFile, StdioAppend and StdioTruncate. Output
	// files are created with mode 0644 if missing, by sockd (before the
	// credentials change, like systemd).
	Path string
}

// Null, Inherit and Log are shorthands for Stdio values; see also FD.
var (
	Null    = Stdio{Kind: StdioNull}
	Inherit = Stdio{Kind: StdioInherit}
	Log     = Stdio{Kind: StdioLog}
)

// FD returns a Stdio that passes fd (for example an accepted connection).
func FD(fd int) Stdio { return Stdio{Kind: StdioFD, FD: fd} }

// Credential is a resolved User=/Group=/SupplementaryGroups= setting; see
// LookupCredential.
type Credential struct {
	Uid, Gid uint32
	// Groups are the supplementary groups set with setgroups(2); empty
	// means none.
	Groups []uint32
	// User, Home and Shell feed USER/LOGNAME/HOME/SHELL in BaseEnv and
	// WorkingDirectory=~. They may be empty.
	User, Home, Shell string
}

// Spec describes one process to start. Zero values are documented per field;
// a zero Spec apart from Path and Argv starts the program with an empty
// environment, stdio on /dev/null, no extra fds, in "/", as sockd's user.
type Spec struct {
	// Unit names the service in errors and logs.
	Unit string
	// Path is the absolute path of the program; Argv its argument vector
	// including argv[0] (nil means {Path}).
	Path string
	Argv []string
	// Env is the final environment (see BaseEnv). The spawner adds the
	// LISTEN_* variables when ListenEnv is set, replacing any in Env, and
	// strips them otherwise.
	Env []string

	// Files are the fds passed at 3, 4, … in order. sockd keeps ownership;
	// the spawner never closes them.
	Files []int
	// Names are the LISTEN_FDNAMES entries, one per file; nil means
	// "unknown" for each.
	Names []string
	// ListenEnv sets LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the pid of
	// the service itself). It must be false in inetd mode
	// (StandardInput=socket), where systemd sets none of them.
	ListenEnv bool
	// NonBlocking is NonBlocking=: O_NONBLOCK is set on every passed fd
	// (Files and StdioFD streams) when true and cleared when false. The
	// flag belongs to the open file description, so sockd's own copy of
	// the socket changes too.
	NonBlocking bool
	// KeepFlags lists passed fds (parent numbers, from Files) whose
	// O_NONBLOCK NonBlocking= must not change: listeners sockd itself
	// goes on accepting from while the process runs (its accept loop
	// needs them non-blocking, and the flag is shared).
	KeepFlags []int

	Stdin, Stdout, Stderr Stdio

	// Cred, if not nil, is the user to run as. Only root may switch to
	// another user; a non-root sockd may only name itself.
	Cred *Credential
	// Dir is WorkingDirectory=: "" means "/", "~" the user's home (Cred.Home,
	// or sockd's $HOME without Cred). DirOptional is the "-" prefix: a
	// missing directory is then not an error.
	Dir         string
	DirOptional bool
	// Umask is UMask=; nil means systemd's default 0022.
	Umask *os.FileMode
	// Rlimits maps a resource (unix.RLIMIT_*) to its limit (Limit*=).
	Rlimits map[int]Rlimit
	// Nice is Nice=; nil leaves sockd's.
	Nice *int
	// NoNewPrivs is NoNewPrivileges=.
	NoNewPrivs bool
	// SameSession starts the process in a new process group of sockd's
	// session (setpgid) instead of a new session (setsid, systemd's
	// behaviour). With the scheduler's autogroup feature on, setsid also
	// creates a scheduling group, which is a large part of the cost of a
	// start (see the package documentation); Accept=yes services may
	// prefer to skip it. Process.Pgid is the pid either way.
	SameSession bool
	// NoWait lets Start return as soon as the child exists, without
	// waiting for its execve, as a fork(2)-based server does: a failure
	// in the child (a missing program, a failed chdir or setuid) is then
	// reported with its exit, in Exit.StartErr, instead of by Start. It
	// applies where the Spawner forks directly, on amd64 with Linux 5.16
	// or later and clone3 (see NoWaitStarts); elsewhere Start waits as
	// usual.
	NoWait bool
}

// Rlimit is one Limit*= value (the units package has the same shape; the
// spawner takes plain values so that it does not depend on the unit model).
// RlimInfinity is RLIM_INFINITY.
type Rlimit struct {
	Soft, Hard uint64
}

// RlimInfinity is RLIM_INFINITY.
const RlimInfinity = ^uint64(0)

// StartError is returned by Start. Op names the step that failed (for
// example "execve" or "setuid"); Err is usually a syscall.Errno.
type StartError struct {
	Unit string
	Path string
	Op   string
	Err  error
}

func (e *StartError) Error() string {
	s := "spawner: start"
	if e.Unit != "" {
		s += " " + e.Unit
	}
	return s + " (" + strconv.Quote(e.Path) + "): " + e.Op + ": " + e.Err.Error()
}

func (e *StartError) Unwrap() error { return e.Err }
