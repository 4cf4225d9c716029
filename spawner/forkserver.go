//go:build linux

package spawner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The fork server ("zygote") is this program re-executed once in a hidden
// mode, with a tiny descriptor table. It receives start requests and the
// child's descriptors over a SOCK_SEQPACKET socketpair (SCM_RIGHTS), forks
// with CLONE_PARENT so that sockd stays the parent and the only reaper, and
// sends back the pid and a pidfd. Forking there instead of in sockd keeps the
// cost of clone (which copies the descriptor table) and of execve (which
// closes the close-on-exec ones) independent of how many sockets sockd holds.

const (
	// helperEnvVar selects a hidden mode in MaybeRunHelper.
	helperEnvVar   = "SOCKD_SPAWNER_HELPER"
	forkServerMode = "fork-server"

	// maxRequest bounds one request; execve's own limit on argv+env is
	// smaller on default kernels (a quarter of an 8 MiB stack).
	maxRequest = 4 << 20
	// maxPassFDs is SCM_MAX_FD, the most descriptors one message carries.
	maxPassFDs = 253

	requestMagic = 0x736f636b // "sock"
)

// errTooBig means a request does not fit the fork server's protocol; the
// spawner then forks directly.
var errTooBig = errors.New("spawner: request too big for the fork server")

type forkServer struct {
	mu     sync.Mutex // one request at a time; guards buf
	fd     int        // our end of the socketpair
	proc   *Process
	broken atomic.Bool
	buf    []byte
	// noClone3 is set once the fork server reported (stepNoClone3) that
	// it fell back to clone.
	noClone3 atomic.Bool
	log      *zap.Logger
}

// stepNoClone3 is or'ed into a reply's step when the fork server's clone3
// has been refused (see plan.clone3), so that sockd can say so.
const stepNoClone3 = 1 << 31

// startForkServer starts the fork server as a child of s.
func (s *Spawner) startForkServer() (*forkServer, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	for _, fd := range pair {
		// Large enough for any request; SO_*BUFFORCE needs root, the
		// plain option is capped by net.core.[rw]mem_max.
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, maxRequest) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, maxRequest)
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, maxRequest) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, maxRequest)
		}
	}
	env := []string{helperEnvVar + "=" + forkServerMode, "GOMAXPROCS=1"}
	for _, k := range []string{"GODEBUG", "GOTRACEBACK", "GORACE", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	r := &request{
		path:     "/proc/self/exe",
		argv:     []string{"sockd-fork-server"},
		env:      env,
		dir:      "/",
		src:      []int{s.devnull, s.devnull, 2, pair[1]},
		nonblock: make([]int8, 4),
		umask:    -1,
		rlimits:  []rlimitEntry{s.nofile},
		// Its own process group, but sockd's session: services started
		// with SameSession inherit the session through CLONE_PARENT's
		// fork from here.
		sameSess: true,
	}
	pid, pidfd, step, errno, err := s.spawnDirect(r)
	unix.Close(pair[1])
	if err == nil && step != 0 {
		var info unix.Siginfo
		unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil)
		unix.Close(pidfd)
		err = os.NewSyscallError(stepNames[step], errno)
	}
	if err != nil {
		unix.Close(pair[0])
		return nil, err
	}
	fs := &forkServer{fd: pair[0], buf: make([]byte, 0, 4096), log: s.log}
	fs.proc = s.track("(fork server)", pid, pidfd, true, nil, "")

	// Handshake: a program that does not call MaybeRunHelper would run its
	// normal main instead; don't wait for it for long.
	pfd := []unix.PollFd{{Fd: int32(pair[0]), Events: unix.POLLIN}}
	var b [1]byte
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := unix.Poll(pfd, int(time.Until(deadline).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if n == 1 {
			if m, _ := unix.Read(pair[0], b[:]); m == 1 && b[0] == 'R' {
				return fs, nil
			}
		}
		break
	}
	fs.close()
	return nil, errors.New("spawner: fork server did not start (does main call spawner.MaybeRunHelper first?)")
}

// close ends the fork server: it exits on EOF, or is killed after a while.
func (fs *forkServer) close() {
	fs.mu.Lock()
	unix.Close(fs.fd)
	fs.fd = -1
	fs.mu.Unlock()
	select {
	case <-fs.proc.Done():
	case <-time.After(5 * time.Second):
		fs.proc.Signal(syscall.SIGKILL)
		<-fs.proc.Done()
	}
}

// spawn sends r to the fork server and waits for its answer.
func (fs *forkServer) spawn(r *request) (pid, pidfd int, step uint32, errno syscall.Errno, err error) {
	// Each distinct descriptor travels once.
	fds := make([]int, 0, len(r.src))
	idx := make([]uint32, len(r.src))
	for i, fd := range r.src {
		j := 0
		for j < len(fds) && fds[j] != fd {
			j++
		}
		if j == len(fds) {
			fds = append(fds, fd)
		}
		idx[i] = uint32(j)
	}
	if len(fds) > maxPassFDs {
		return 0, -1, 0, 0, errTooBig
	}

	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.fd < 0 {
		return 0, -1, 0, 0, errors.New("spawner: fork server closed")
	}
	fs.buf = encodeRequest(fs.buf[:0], r, idx)
	if len(fs.buf) > maxRequest {
		return 0, -1, 0, 0, errTooBig
	}
	err = rawSendmsg(fs.fd, fs.buf, unix.UnixRights(fds...), 0)
	if err == unix.EMSGSIZE || err == unix.ENOBUFS {
		return 0, -1, 0, 0, errTooBig
	}
	if err != nil {
		return 0, -1, 0, 0, os.NewSyscallError("sendmsg to fork server", err)
	}

	var reply [16]byte
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	// The reply comes once the child has exec'd, usually within
	// replyWait: waited for with raw calls, which keep this goroutine's P
	// (under GOMAXPROCS=1 all of sockd). A slower reply (a child stuck in
	// chdir on a hung file system, a stopped fork server) is waited for
	// with an ordinary call, which hands the P on.
	if rawPoll(fs.fd, replyWait) {
		n, oobn, _, err = rawRecvmsg(fs.fd, reply[:], oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
	} else {
		err = unix.EAGAIN
	}
	for err == unix.EAGAIN || err == unix.EINTR {
		n, oobn, _, _, err = unix.Recvmsg(fs.fd, reply[:], oob, unix.MSG_CMSG_CLOEXEC)
	}
	if err != nil {
		return 0, -1, 0, 0, os.NewSyscallError("recvmsg from fork server", err)
	}
	pidfd = -1
	if oobn > 0 {
		if got, e := parseRights(oob[:oobn]); e == nil && len(got) > 0 {
			pidfd = got[0]
			for _, fd := range got[1:] {
				unix.Close(fd)
			}
		}
	}
	if n != len(reply) {
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		return 0, -1, 0, 0, errors.New("spawner: fork server went away")
	}
	status := binary.LittleEndian.Uint32(reply[0:])
	pid = int(binary.LittleEndian.Uint32(reply[4:]))
	step = binary.LittleEndian.Uint32(reply[8:])
	if step&stepNoClone3 != 0 {
		step &^= stepNoClone3
		if fs.noClone3.CompareAndSwap(false, true) {
			fs.log.Warn("the fork server's clone3 was refused; it starts services with clone and resets every signal in the child")
		}
	}
	errno = syscall.Errno(binary.LittleEndian.Uint32(reply[12:]))
	switch {
	case status == replyTooBig:
		return 0, -1, 0, 0, errTooBig
	case status != replyStarted:
		return 0, -1, 0, 0, fmt.Errorf("spawner: fork server: %w", errno)
	case pidfd < 0:
		// The pidfd was lost (MSG_CTRUNC: we are out of descriptors). The
		// child is ours and not reaped, so its pid cannot have been reused:
		// pidfd_open is safe, and so is kill if that fails too.
		if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			var info unix.Siginfo
			for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED, nil) == unix.EINTR {
			}
			return 0, -1, 0, 0, os.NewSyscallError("pidfd_open", err)
		}
	case step >= uint32(len(stepNames)):
		step, errno = stepExec, syscall.EIO
	}
	return pid, pidfd, step, errno, nil
}

// Reply status values.
const (
	replyStarted = iota // pid and pidfd valid; step/errno report exec
	replyFailed         // nothing started; errno says why
	replyTooBig         // the request did not fit; fork directly
)

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// replyWait is how long sockd waits for the fork server's reply holding
// its P (forkServer.spawn).
const replyWait = 2 // ms

// hotWait is how long the fork server waits for the next request with a
// raw poll before it parks in the netpoller (runForkServer): well under
// the 10 ms after which the runtime's sysmon starts signalling a goroutine
// that does not yield.
const hotWait = 5 // ms

// runForkServer is the fork server's main loop on fd 3. It exits when sockd
// closes its end (or dies).
func runForkServer() {
	const conn = 3
	buf := make([]byte, maxRequest)
	oob := make([]byte, unix.CmsgSpace(4*maxPassFDs))
	var reply [16]byte
	fs := &forkState{startIgnored: ignoredSignals()}
	unix.CloseOnExec(conn)
	if _, err := unix.Write(conn, []byte{'R'}); err != nil {
		os.Exit(1)
	}
	// Waiting for a request: an ordinary blocking call woke the runtime's
	// sysmon thread at every request (≈ 100 µs a start here), and a
	// goroutine blocked in a raw call looks busy to the runtime, whose
	// sysmon then wakes and signals it every 10 ms while sockd is idle.
	// So the server waits with a raw poll for up to hotWait after each
	// request (the next one of a busy sockd is usually there by then), and
	// in Go's netpoller after that, where it costs nothing while idle. The
	// calls themselves are raw and do not block (MSG_DONTWAIT).
	if unix.SetNonblock(conn, true) != nil {
		os.Exit(1)
	}
	// Non-blocking before NewFile, which registers it with the netpoller.
	rc, err := os.NewFile(conn, "sockd-fork-server").SyscallConn()
	if err != nil {
		os.Exit(1)
	}
	for {
		var n, oobn, flags int
		var rerr error
		recv := func(uintptr) bool {
			n, oobn, flags, rerr = rawRecvmsg(conn, buf, oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
			return rerr != unix.EAGAIN
		}
		if rawPoll(conn, hotWait) && recv(0) {
			err = nil
		} else {
			err = rc.Read(recv)
		}
		if err != nil || rerr != nil || n == 0 {
			os.Exit(0)
		}
		var fds []int
		if oobn > 0 {
			fds, _ = parseRights(oob[:oobn])
		}
		status, pid, pidfd, step, errno := serveRequest(buf[:n], flags, fds, fs)
		for _, fd := range fds {
			unix.Close(fd)
		}
		binary.LittleEndian.PutUint32(reply[0:], status)
		binary.LittleEndian.PutUint32(reply[4:], uint32(pid))
		if fs.noClone3.Load() {
			step |= stepNoClone3
		}
		binary.LittleEndian.PutUint32(reply[8:], step)
		binary.LittleEndian.PutUint32(reply[12:], uint32(errno))
		var rights []byte
		if pidfd >= 0 {
			rights = unix.UnixRights(pidfd)
		}
		var serr error
		err = rc.Write(func(uintptr) bool {
			serr = rawSendmsg(conn, reply[:], rights, unix.MSG_DONTWAIT)
			return serr != unix.EAGAIN
		})
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		if err != nil || serr != nil {
			os.Exit(1)
		}
	}
}

func serveRequest(msg []byte, flags int, fds []int, fs *forkState) (status uint32, pid, pidfd int, step uint32, errno syscall.Errno) {
	pidfd = -1
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return replyTooBig, 0, -1, 0, 0
	}
	r, idx, err := decodeRequest(msg)
	if err != nil {
		return replyFailed, 0, -1, 0, syscall.EINVAL
	}
	src := make([]int, len(idx))
	for i, j := range idx {
		if int(j) >= len(fds) {
			return replyFailed, 0, -1, 0, syscall.EBADF
		}
		src[i] = fds[j]
	}
	upid, upidfd, st, en, _, err := forkChild(r, src, haveVfork, true, fs)
	if err != nil {
		if e, ok := errors.AsType[*os.SyscallError](err); ok {
			if errno, ok := e.Err.(syscall.Errno); ok {
				return replyFailed, 0, -1, 0, errno
			}
		}
		return replyFailed, 0, -1, 0, syscall.EINVAL
	}
	return replyStarted, upid, upidfd, st, en
}

// Wire format: little-endian uint32s and length-prefixed strings, in the
// order of the request fields.

func encodeRequest(b []byte, r *request, idx []uint32) []byte {
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	str := func(s string) { u32(uint32(len(s))); b = append(b, s...) }
	strs := func(ss []string) {
		u32(uint32(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	flag := func(v bool) {
		if v {
			u32(1)
		} else {
			u32(0)
		}
	}
	u32(requestMagic)
	str(r.path)
	strs(r.argv)
	strs(r.env)
	flag(r.listenPID)
	str(r.dir)
	flag(r.dirOpt)
	u32(uint32(len(idx)))
	for i, j := range idx {
		u32(j)
		u32(uint32(int32(r.nonblock[i])))
	}
	flag(r.setCred)
	u32(r.uid)
	u32(r.gid)
	u32(uint32(len(r.groups)))
	for _, g := range r.groups {
		u32(g)
	}
	u32(uint32(len(r.rlimits)))
	for _, l := range r.rlimits {
		u32(uint32(l.resource))
		u64(l.lim.Cur)
		u64(l.lim.Max)
	}
	flag(r.sameSess)
	flag(r.setNice)
	u32(uint32(int32(r.nice)))
	u32(uint32(int32(r.umask)))
	flag(r.nnp)
	return b
}

var errBadRequest = errors.New("spawner: malformed fork server request")

func decodeRequest(b []byte) (r *request, idx []uint32, err error) {
	bad := false
	u32 := func() uint32 {
		if len(b) < 4 {
			bad = true
			return 0
		}
		v := binary.LittleEndian.Uint32(b)
		b = b[4:]
		return v
	}
	u64 := func() uint64 {
		if len(b) < 8 {
			bad = true
			return 0
		}
		v := binary.LittleEndian.Uint64(b)
		b = b[8:]
		return v
	}
	count := func(elem int) int {
		n := int(u32())
		if n*elem > len(b) {
			bad = true
			return 0
		}
		return n
	}
	str := func() string {
		n := count(1)
		s := string(b[:n])
		b = b[n:]
		return s
	}
	strs := func() []string {
		ss := make([]string, count(4))
		for i := range ss {
			ss[i] = str()
		}
		return ss
	}
	if u32() != requestMagic {
		return nil, nil, errBadRequest
	}
	r = &request{}
	r.path = str()
	r.argv = strs()
	r.env = strs()
	r.listenPID = u32() != 0
	r.dir = str()
	r.dirOpt = u32() != 0
	n := count(8)
	idx = make([]uint32, n)
	r.nonblock = make([]int8, n)
	for i := range n {
		idx[i] = u32()
		r.nonblock[i] = int8(int32(u32()))
	}
	r.setCred = u32() != 0
	r.uid = u32()
	r.gid = u32()
	r.groups = make([]uint32, count(4))
	for i := range r.groups {
		r.groups[i] = u32()
	}
	r.rlimits = make([]rlimitEntry, count(20))
	for i := range r.rlimits {
		r.rlimits[i].resource = uintptr(u32())
		r.rlimits[i].lim.Cur = u64()
		r.rlimits[i].lim.Max = u64()
	}
	r.sameSess = u32() != 0
	r.setNice = u32() != 0
	r.nice = int(int32(u32()))
	r.umask = int(int32(u32()))
	r.nnp = u32() != 0
	if bad || len(b) != 0 || (r.listenPID && (len(r.env) == 0 || len(r.env[0]) != len(listenPIDPlaceholder))) {
		return nil, nil, errBadRequest
	}
	return r, idx, nil
}
