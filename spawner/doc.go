// Package spawner starts service processes the way systemd does for socket
// activation, and reaps them.
//
// A [Spawner] starts a process from a [Spec]: the program, its final
// environment (see [BaseEnv]), the descriptors to pass, the standard streams,
// credentials and process attributes. The child gets exactly stdio plus
// Spec.Files at 3, 4, … with FD_CLOEXEC cleared; everything else sockd has
// open is closed at execve. With Spec.ListenEnv it also gets LISTEN_FDS,
// LISTEN_FDNAMES and LISTEN_PID, where LISTEN_PID is the service's own pid.
// Each service runs in its own session (unless Spec.SameSession) and process
// group (pgid == pid), with every signal disposition at SIG_DFL and an empty
// signal mask. Exits are reported through Options.OnExit and [Process.Wait].
//
// It needs Linux 5.11 or later (CLONE_PIDFD, waitid(P_PIDFD) on a
// nonblocking pidfd, close_range(CLOSE_RANGE_CLOEXEC)) on amd64 (vfork) or
// another 64-bit architecture (plain fork); 32-bit, mips64 and s390x builds
// are refused.
//
// # Why a raw fork
//
// LISTEN_PID must name the process that will run the service, which only the
// child knows, and it has to be in the environment before execve. os/exec
// runs nothing between fork and exec, so the spawner has its own fork path,
// modelled on syscall.forkAndExecInChild1: it holds syscall.ForkLock, calls
// the runtime's fork hooks (reached through //go:linkname, which the runtime
// keeps allowed for this), clones with CLONE_VM|CLONE_VFORK|CLONE_PIDFD (a
// copy of Go's rawVforkSyscall on amd64; a plain fork elsewhere), and in the
// child only makes raw system calls on a plan built and allocated beforehand:
// reset signals, setsid, rlimits, nice, umask, move the descriptors into
// place (sources that a later dup3 could overwrite are moved out of the way
// first), O_NONBLOCK per NonBlocking=, close_range(CLOSE_RANGE_CLOEXEC) for
// the rest, setgroups/setresgid/setresuid (checked, so it never runs as root
// by mistake), chdir, PR_SET_NO_NEW_PRIVS, the pid into the pre-allocated
// "LISTEN_PID=" entry, execve. A failure at any step is reported as (step,
// errno), so Start returns a [*StartError] such as "execve: no such file or
// directory" instead of a process that exits. With CLONE_VFORK the child
// writes the report into the plan it shares with the parent before it
// exits, and clone returns only after the child's execve or exit, so no
// pipe is needed (glibc's posix_spawn does the same); without vfork the
// report goes over a close-on-exec pipe.
//
// The clone is clone3 with CLONE_CLEAR_SIGHAND (Linux 5.5) where the kernel
// allows it: the kernel then resets every signal the runtime handles to
// SIG_DFL, and the child resets only the ignored ones instead of making 62
// rt_sigaction calls: those the kernel reported ignored when the Spawner
// was made (the runtime does not record an inherited SIG_IGN of the
// job-control signals), SIGHUP and SIGINT, and those [signal.Ignored]
// reports. A vfork
// holds the calling thread, and so sockd's only P, until the child's
// execve, and those calls were most of the child's work: at one process per
// connection, 14 instead of 78 system calls per start and about 4 % less
// CPU per connection over the whole machine. Where clone3 is refused
// (ENOSYS, EINVAL, EPERM: an old kernel or a seccomp filter) the Spawner
// falls back to clone and the full reset, remembers it and logs it. With
// CLONE_PARENT (the fork server) clone3 takes no exit signal: the child
// inherits the fork server's, as with clone.
//
// The alternative, re-executing sockd as a trampoline that sets LISTEN_PID
// and execs the service, costs a second execve of a large Go binary for
// every start.
//
// # Starting without waiting for execve
//
// A vfork holds the caller until the child has exec'd, and at one process
// per connection that wait was sockd's serial point: the child's own work
// (setsid, which also creates a scheduling group, the descriptors, and
// execve up to the point where the kernel releases the parent) takes
// 40-80 µs on a CPU, and meanwhile sockd accepted nothing. A scheduler
// trace of a run at 8 concurrent connections showed the machine 12 % idle,
// and 60 % of that idle time fell while the other CPU ran a vfork child
// before its execve. With Spec.NoWait (Accept=yes instances) the child is
// cloned with CLONE_VM but without CLONE_VFORK, onto a 16 KiB stack of its
// own from a small pool (with a guard page), and runs the same childMain
// there while Start returns, as the parent of a fork(2)-based server such
// as tcpserver does. The kernel clears a word in the stack's slot when the
// child leaves our address space (CLONE_CHILD_CLEARTID, at execve or
// exit); the next start looks at it to reuse the stack, so nobody waits
// for it; the slot keeps the plan alive until then. A child that fails
// leaves its report in a small buffer of its own, which the Process keeps,
// and exits with systemd's status for the step (203 for execve, 200 for
// chdir, …); the reaper turns the report into Exit.StartErr: the failure
// arrives with the exit, as under systemd. This needs Linux 5.16 (before
// it, a core dump of a child that had not exec'd yet, say from a
// KillSignal=SIGQUIT sent right after the start, killed every process
// sharing its memory: sockd too) and clone3; elsewhere, or through the
// fork server, Start waits as before.
// childMain is entered through its register-ABI entry (a func value), not
// the ABI0 wrapper an assembly CALL goes through, because in race builds
// that wrapper calls the race detector, which must not run in the child.
// Side by side at 8 concurrent connections, 1,909 against 1,769
// connections/s; with the SIGCHLD change below, 1,969 against tcpserver's
// 1,803 (bench/README.md).
//
// # Why a fork server
//
// clone copies the descriptor table and execve then closes every
// close-on-exec descriptor, so forking from sockd gets slower the more
// sockets it holds. By default New therefore starts a fork server: the same
// binary re-executed once in a hidden mode (see [MaybeRunHelper]) with a tiny
// descriptor table. Start sends it the request and the child's descriptors
// over a SOCK_SEQPACKET socketpair with SCM_RIGHTS; it forks with
// CLONE_PARENT, so the service is still sockd's child (its parent pid, the
// reaper and the subreaper logic are unchanged), and sends back the pid and
// a pidfd. Requests it cannot carry (more than 253 distinct descriptors, more
// than 4 MiB) are forked directly; if the fork server dies, Start logs it and
// forks directly from then on. Options.DirectFork turns it off.
//
// Measured on the development machine (2 vCPUs shared with other builds,
// load average 6-11, so single runs vary a lot): one start-to-reaped cycle
// of /bin/true, medians of 20-spawn batches interleaved across all variants
// and both descriptor counts (SPAWNER_COST=40 go test -run TestSpawnCost -v):
//
//	                         fds=10            fds=5000          5000/10
//	os.StartProcess          1.12 ms  1.00x    1.27 ms  1.00x    1.13
//	fork server              1.22 ms  1.09x    1.16 ms  0.92x    0.96
//	fork server, 1 socket    1.20 ms  1.07x    1.12 ms  0.88x    0.93
//	direct (vfork)           1.13 ms  1.01x    1.46 ms  1.15x    1.29
//	direct, 1 socket         1.12 ms  1.00x    1.43 ms  1.13x    1.28
//	fork server, setpgid     1.12 ms  1.00x    1.10 ms  0.87x    0.98
//	direct, setpgid          1.04 ms  0.93x    1.31 ms  1.03x    1.25
//
// The fork server keeps the cost flat in the number of sockd's descriptors
// (the requirement is at most 1.1x from 10 to 5,000; forking directly costs
// 1.25-1.3x); its round trip costs about 5-10% at 10 descriptors. The start
// itself (clone to execve done) is as fast as os.StartProcess; of the rest,
// setsid(2) is the largest part: with the scheduler's autogroup feature it
// also creates a scheduling group for the new session. Spec.SameSession
// uses setpgid instead.
//
// BenchmarkSpawn measures the same cycles one variant at a time, which on
// this machine is much noisier (benchstat -col /fds over -count 6, fork
// server 5000 vs 10: +11% ± 50% without a passed socket, -7% with one;
// direct: +69% and +29%). Timing Start alone (clone to execve done), the
// fork server's round trip adds 70-150 µs to the ~550 µs of a direct start.
// Making that round trip with raw (scheduler-invisible) system calls was
// tried and dropped: the gain was lost in the noise, and a stopped fork
// server would then block the garbage collector of sockd.
//
// # Reaping
//
// Every started process is waited for through its pidfd: the pidfds are in
// one epoll set, itself registered with the runtime's netpoller, and one
// goroutine reaps whatever became readable with waitid(P_PIDFD, WNOHANG),
// several exits per wakeup under load (no goroutine, os.File or blocking
// thread per process). The calls on that path are raw system calls: a
// call through syscall.Syscall wakes the runtime's sysmon thread whenever
// the process had been idle, which at one process per connection is once
// per connection. There is no wait4(-1): other code in the
// process (os/exec) keeps its children's exit statuses. With
// Options.Subreaper the process becomes a child subreaper, and a goroutine
// peeks with waitid(P_ALL, WNOWAIT) and reaps only children that the
// Spawner did not start (orphans of forking services); that mode assumes
// nothing else in the process waits for children, which holds in sockd.
// It looks on SIGCHLD, and after every exit of a tracked process. Relaying
// SIGCHLD through os/signal wakes the runtime's signal thread and hands the
// P between threads: at one process per connection, 50 µs of sockd's CPU
// per connection and 5 % of its rate. So once a tracked process has
// exited, SIGCHLD is no longer relayed; the looks after each tracked exit,
// and a ticker every 100 ms, find orphans meanwhile, and after a tick
// without tracked exits SIGCHLD is relayed again and the ticker stops.
//
// # Output capture
//
// StdioLog streams get one pipe each; a goroutine per pipe reads into a
// pooled 64 KiB buffer through the netpoller and logs every line as one zap
// entry with the fields unit, pid and stream, so lines of different services
// never mix. Longer lines are split at 64 KiB.
//
// # Shared open file descriptions
//
// NonBlocking= is applied in the child right before execve, but O_NONBLOCK
// belongs to the open file description, which sockd's copy shares: after a
// start with NonBlocking=false (the default) sockd's own descriptor for that
// socket is blocking too. Callers that keep using the socket must not rely on
// its blocking mode (poll it, or set the flag again once the service is gone).
package spawner
