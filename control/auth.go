package control

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/userdb"
)

// Peer is who is at the other end of a control connection.
type Peer struct {
	PID, UID, GID int
	Groups        []int // supplementary groups (SO_PEERGROUPS), when the kernel tells
}

type peerKey struct{}

// peerOf reads the credentials of a unix socket connection's peer.
func peerOf(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("not a unix socket connection: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	var p Peer
	var serr error
	err = raw.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			serr = fmt.Errorf("SO_PEERCRED: %w", err)
			return
		}
		p = Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}
		p.Groups = peerGroups(int(fd))
	})
	if err == nil {
		err = serr
	}
	return p, err
}

// peerGroups reads SO_PEERGROUPS (Linux 4.13+); nil when unsupported.
func peerGroups(fd int) []int {
	buf := make([]uint32, 64)
	for range 3 {
		n := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch errno {
		case 0:
			gs := make([]int, n/4)
			for i := range gs {
				gs[i] = int(buf[i])
			}
			return gs
		case unix.ERANGE:
			// n now holds the size needed.
			buf = make([]uint32, n/4+1)
		default:
			return nil
		}
	}
	return nil
}

// authorizer decides who may use the API.
type authorizer struct {
	uid int // sockd's own uid
	gid int // the control group; -1 for none
}

func newAuthorizer(uid int, group string) (authorizer, error) {
	a := authorizer{uid: uid, gid: -1}
	if group == "" {
		return a, nil
	}
	g, err := userdb.LookupGroup(group)
	if err != nil {
		return a, fmt.Errorf("control_group: %w", err)
	}
	if a.gid, err = strconv.Atoi(g.Gid); err != nil {
		return a, fmt.Errorf("control_group %s: gid %q: %w", group, g.Gid, err)
	}
	return a, nil
}

func (a authorizer) allowed(p Peer) bool {
	if p.UID == 0 || p.UID == a.uid {
		return true
	}
	return a.gid >= 0 && (p.GID == a.gid || slices.Contains(p.Groups, a.gid))
}

func connContext(ctx context.Context, c net.Conn) context.Context {
	p, err := peerOf(c)
	if err != nil {
		// No credentials: nobody, which authorises nothing.
		p = Peer{PID: -1, UID: -1, GID: -1}
	}
	return context.WithValue(ctx, peerKey{}, p)
}
