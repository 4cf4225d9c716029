// Package notify is the receiving end of the sd_notify(3) protocol for the
// services sockd starts: it owns the datagram socket whose address is put into
// a service's $NOTIFY_SOCKET and turns each datagram into a [Message].
//
// The behaviour follows systemd's manager (src/core/manager.c
// manager_dispatch_notify_fd, src/shared/notify-recv.c notify_recv_with_fds and
// src/core/service.c service_notify_message), summarised in
// sockd's systemd reference (systemd-socket.md, section 4.2):
//
//   - One datagram of at most 4096 bytes (PIPE_BUF, systemd's
//     NOTIFY_BUFFER_MAX). A longer datagram arrives truncated (MSG_TRUNC) and
//     is dropped.
//   - The control buffer has room for the sender's credentials, a pidfd and
//     768 descriptors (NOTIFY_FD_MAX). Truncated control data (MSG_CTRUNC)
//     drops the message and closes every descriptor that did arrive.
//   - Messages without kernel-verified SCM_CREDENTIALS (or with a PID that is
//     not positive, e.g. a sender in another PID namespace) are dropped. The
//     socket has SO_PASSCRED set, so the kernel attaches the real credentials
//     of every sender; a process can only claim other credentials when it has
//     CAP_SYS_ADMIN (PID) or CAP_SETUID/CAP_SETGID (UID/GID).
//   - An embedded NUL drops the message; one trailing NUL is allowed.
//   - The payload is split into lines exactly like systemd's
//     strv_split_newlines (see [Parse]).
//   - Descriptors are delivered only with FDSTORE=1 (and no FDSTOREREMOVE=1);
//     all others are closed by the [Listener] before delivery, so a consumer
//     only ever receives descriptors it may keep. BARRIER=1 messages are
//     consumed by the Listener (see [Listener.Run]). MAINPIDFD=1 (systemd
//     v257) is not supported: its descriptor is closed, MAINPID= still works.
//
// Field semantics are kept as in systemd: lookups such as [Message.Ready]
// test for an exact "READY=1" line anywhere in the message (strv_contains),
// value lookups such as [Message.Status] use the first line with that key
// (strv_find_startswith). Authorisation (NotifyAccess=), MAINPID= checks and
// the fd store itself belong to the consumer.
//
// All descriptors this package creates or receives are close-on-exec.
package notify
