//go:build linux

// Package activator opens the listening endpoints of socket units: it binds
// TCP, UDP, SCTP, AF_UNIX (file-system and abstract), vsock and netlink
// sockets, creates FIFOs and POSIX message queues and opens special files,
// applying every option of units.SocketOptions the way systemd's
// src/core/socket.c does.
//
// Bind takes one already-parsed units.Socket and returns a *Bound holding raw
// file descriptors in unit order. A unit binds all of its listeners or none:
// on the first failure every fd is closed and every node and directory the
// call created is removed again. Errors are *ListenError values naming the
// unit, the address and the failing operation.
//
// Every descriptor is close-on-exec and non-blocking. The package never wraps
// them in *os.File or net.Listener: the caller registers them in its own
// epoll set and hands them to services, and (*os.File).Fd would switch the
// shared open file description to blocking mode.
//
// File-system nodes are published without a window in which a client could
// reach them with the wrong mode or owner, symlinks are never followed when
// creating, chowning or removing nodes, and only a dead socket is ever
// replaced (see fs.go for the details).
//
// When sockd itself is socket-activated, Inherit collects the descriptors it
// was passed, and Bind adopts a matching one instead of binding again.
package activator
