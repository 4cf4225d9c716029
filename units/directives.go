package units

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Status says how far sockd implements a directive.
type Status int

// Directive statuses.
const (
	// StatusParsed: parsed and validated into the model; the behaviour is
	// implemented (or not yet) by the daemon's other packages.
	StatusParsed Status = iota
	// StatusSupported: parsed, and its behaviour is implemented.
	StatusSupported
	// StatusIgnored: accepted silently because it has no meaning for a
	// socket-activation daemon (documentation, [Install], ordering).
	StatusIgnored
	// StatusUnsupported: known to systemd, accepted, but sockd cannot honour
	// it; loading warns "not supported by sockd, ignoring".
	StatusUnsupported
)

func (s Status) String() string {
	switch s {
	case StatusParsed:
		return "parsed"
	case StatusSupported:
		return "supported"
	case StatusIgnored:
		return "ignored"
	case StatusUnsupported:
		return "not supported"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// MarshalText prints a Status as a word.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// DirectiveInfo describes one directive sockd knows.
type DirectiveInfo struct {
	Section string // "Socket", "Service", "Unit", "Install"
	Name    string // "ListenStream"
	Status  Status
	// Summary is systemd's semantics in one line.
	Summary string
}

// parseFunc applies one assignment to the unit being built. A returned
// error makes loading warn and ignore the line, unless it is a hardError.
type parseFunc func(b *builder, e *Entry) error

type directive struct {
	DirectiveInfo
	parse parseFunc
}

// hardError is a value error that systemd treats as fatal for the file
// (load state "bad-setting"), e.g. a syntax error in ExecStart=.
type hardError struct{ err error }

func (h hardError) Error() string { return h.err.Error() }
func (h hardError) Unwrap() error { return h.err }

// errNotSupported marks directives sockd accepts but cannot honour.
var errNotSupported = errors.New("not supported by sockd, ignoring")

// directiveTable is the single table of directives: it drives parsing,
// Directives() and docs/directives.md. Keys are "Section.Name".
type directiveTable map[string]*directive

func newDirectiveTable() directiveTable {
	t := directiveTable{}
	add := func(section, name string, st Status, summary string, p parseFunc) {
		t[section+"."+name] = &directive{DirectiveInfo{section, name, st, summary}, p}
	}
	P, I := StatusParsed, StatusIgnored

	// [Unit]
	add("Unit", "Description", P, "human-readable name of the unit (specifiers expanded)", func(b *builder, e *Entry) error {
		v, err := b.expand(e.Value)
		b.unit.Description = v
		return err
	})
	add("Unit", "Documentation", I, "URLs of documentation (list; empty resets)", func(b *builder, e *Entry) error {
		if e.Value == "" {
			b.unit.Documentation = nil
			return nil
		}
		b.unit.Documentation = append(b.unit.Documentation, strings.Fields(e.Value)...)
		return nil
	})
	for _, dep := range []string{"Requires", "Requisite", "Wants", "BindsTo", "PartOf", "Upholds", "Conflicts",
		"Before", "After", "OnFailure", "OnSuccess", "PropagatesReloadTo", "ReloadPropagatedFrom",
		"PropagatesStopTo", "StopPropagatedFrom", "JoinsNamespaceOf"} {
		add("Unit", dep, I, "dependency or ordering on other units (list); sockd has no transaction engine", parseDep(dep))
	}
	add("Unit", "DefaultDependencies", I, "add the implicit sockets.target/sysinit.target/shutdown.target dependencies (default yes)", parseBoolInto(func(b *builder) *bool { return &b.unit.DefaultDependencies }))
	add("Unit", "StartLimitIntervalSec", P, "window of the start rate limit (default 10s, 0 disables)", parseSpanInto(func(b *builder) *time.Duration { return &b.unit.StartLimitInterval }))
	add("Unit", "StartLimitBurst", P, "starts allowed per window before start-limit-hit (default 5)", parseIntInto(func(b *builder) *int { return &b.unit.StartLimitBurst }, 0))
	// Old spellings, still accepted by systemd.
	add("Unit", "StartLimitInterval", P, "alias of StartLimitIntervalSec=", parseSpanInto(func(b *builder) *time.Duration { return &b.unit.StartLimitInterval }))
	add("Service", "StartLimitInterval", P, "old place of [Unit] StartLimitIntervalSec=", parseSpanInto(func(b *builder) *time.Duration { return &b.unit.StartLimitInterval }))
	add("Service", "StartLimitBurst", P, "old place of [Unit] StartLimitBurst=", parseIntInto(func(b *builder) *int { return &b.unit.StartLimitBurst }, 0))
	add("Unit", "CollectMode", P, "when a failed unit is unloaded: inactive | inactive-or-failed", parseEnumInto(func(b *builder) *string { return &b.unit.CollectMode }, "inactive", "inactive-or-failed"))
	for key := range systemdKeys {
		if name, ok := strings.CutPrefix(key, "Unit."); ok && (strings.HasPrefix(name, "Condition") || strings.HasPrefix(name, "Assert")) {
			add("Unit", name, StatusUnsupported, "check evaluated before starting; sockd does not evaluate conditions", func(b *builder, e *Entry) error {
				if e.Value == "" {
					b.unit.Conditions = nil
					return nil
				}
				b.unit.Conditions = append(b.unit.Conditions, Condition{Directive: e.Key, Value: e.Value, Pos: e.Pos})
				return errNotSupported
			})
		}
	}
	for _, k := range []string{"WantedBy", "RequiredBy", "Alias", "Also", "DefaultInstance"} {
		k := k
		add("Install", k, I, "enablement information for systemctl enable; sockd loads every unit it finds", func(b *builder, e *Entry) error {
			if b.unit.Install == nil {
				b.unit.Install = b.share.newMap()
			}
			if e.Value == "" {
				delete(b.unit.Install, k)
				return nil
			}
			if cur := b.unit.Install[k]; cur != nil {
				b.unit.Install[k] = append(cur, strings.Fields(e.Value)...)
			} else {
				b.unit.Install[k] = strings.Fields(e.Value)
			}
			return nil
		})
	}

	// [Socket]
	for _, l := range []struct {
		name string
		kind ListenKind
		sum  string
	}{
		{"ListenStream", ListenStream, "SOCK_STREAM listener: TCP port/address, AF_UNIX path or @abstract, vsock"},
		{"ListenDatagram", ListenDatagram, "SOCK_DGRAM listener: UDP, AF_UNIX datagram, vsock"},
		{"ListenSequentialPacket", ListenSequentialPacket, "SOCK_SEQPACKET listener (AF_UNIX, vsock)"},
		{"ListenFIFO", ListenFIFO, "FIFO created with mkfifo and opened read-write"},
		{"ListenSpecial", ListenSpecial, "special file (character device, /proc or /sys file) opened as is"},
		{"ListenNetlink", ListenNetlink, "AF_NETLINK socket: FAMILY [GROUP]"},
		{"ListenMessageQueue", ListenMessageQueue, "POSIX message queue"},
		{"ListenUSBFunction", ListenUSBFunction, "USB FunctionFS endpoints"},
	} {
		add("Socket", l.name, P, l.sum+" (list; an empty value clears every Listen*=)", parseListen(l.kind))
	}
	opt := func(f func(o *SocketOptions) any) func(b *builder) any {
		return func(b *builder) any { return f(&b.sock.Options) }
	}
	add("Socket", "SocketProtocol", P, "udplite | sctp | mptcp: the protocol argument of socket()", func(b *builder, e *Entry) error {
		m := map[string]SocketProtocol{"udplite": ProtocolUDPLite, "sctp": ProtocolSCTP, "mptcp": ProtocolMPTCP}
		if e.Value == "" {
			b.sock.Options.SocketProtocol = ProtocolDefault
			return nil
		}
		p, ok := m[e.Value]
		if !ok {
			return fmt.Errorf("invalid socket protocol %q, ignoring", e.Value)
		}
		b.sock.Options.SocketProtocol = p
		return nil
	})
	add("Socket", "BindIPv6Only", P, "IPV6_V6ONLY for [::] listeners: default | both | ipv6-only", func(b *builder, e *Entry) error {
		switch e.Value {
		case "default":
			b.sock.Options.BindIPv6Only = IPv6OnlyDefault
		case "both":
			b.sock.Options.BindIPv6Only = IPv6OnlyBoth
		case "ipv6-only":
			b.sock.Options.BindIPv6Only = IPv6OnlyIPv6Only
		default:
			v, err := ParseBool(e.Value)
			if err != nil {
				return fmt.Errorf("failed to parse bind IPv6 only value %q, ignoring", e.Value)
			}
			b.sock.Options.BindIPv6Only = IPv6OnlyBoth
			if v {
				b.sock.Options.BindIPv6Only = IPv6OnlyIPv6Only
			}
		}
		return nil
	})
	add("Socket", "Backlog", P, "listen() backlog (default INT_MAX, capped by net.core.somaxconn)", func(b *builder, e *Entry) error {
		n, err := ParseUnsigned(e.Value)
		if err == nil && n > 1<<32-1 {
			err = errors.New("out of range")
		}
		if err != nil {
			return fmt.Errorf("failed to parse unsigned value %q, ignoring: %w", e.Value, err)
		}
		if n > 1<<31-1 {
			n = 1<<31 - 1
		}
		b.sock.Options.Backlog = int(n)
		return nil
	})
	add("Socket", "BindToDevice", P, "SO_BINDTODEVICE: bind IP listeners to one network interface", func(b *builder, e *Entry) error {
		v, err := b.expand(e.Value)
		if err != nil {
			return err
		}
		if v != "" && (len(v) > 15 || strings.ContainsAny(v, "/: \t")) {
			return fmt.Errorf("invalid interface name %q, ignoring", v)
		}
		b.sock.Options.BindToDevice = v
		return nil
	})
	add("Socket", "SocketUser", P, "owner of file-system sockets and FIFOs (resolved at start)", parseUserInto(func(b *builder) *string { return &b.sock.Options.SocketUser }))
	add("Socket", "SocketGroup", P, "group of file-system sockets and FIFOs (resolved at start)", parseUserInto(func(b *builder) *string { return &b.sock.Options.SocketGroup }))
	add("Socket", "SocketMode", P, "mode of file-system sockets, FIFOs and queues (default 0666)", parseModeInto(func(b *builder) *os.FileMode { return &b.sock.Options.SocketMode }))
	add("Socket", "DirectoryMode", P, "mode of parent directories created for them (default 0755)", parseModeInto(func(b *builder) *os.FileMode { return &b.sock.Options.DirectoryMode }))
	add("Socket", "Accept", P, "yes: accept() each connection and start one template instance per connection", parseBoolInto(func(b *builder) *bool { return &b.sock.Accept }))
	add("Socket", "Writable", P, "ListenSpecial= only: open read-write", parseBoolAny(opt(func(o *SocketOptions) any { return &o.Writable })))
	add("Socket", "FlushPending", P, "Accept=no: discard queued traffic before listening again", parseBoolInto(func(b *builder) *bool { return &b.sock.FlushPending }))
	add("Socket", "MaxConnections", P, "Accept=yes: most instances alive at once (default 64)", func(b *builder, e *Entry) error {
		n, err := ParseUnsigned(e.Value)
		if err == nil && n > 1<<31-1 {
			err = errors.New("out of range")
		}
		if err != nil {
			return fmt.Errorf("failed to parse unsigned value %q, ignoring: %w", e.Value, err)
		}
		b.sock.MaxConnections = int(n)
		b.maxConnPos = e.Pos
		return nil
	})
	add("Socket", "MaxConnectionsPerSource", P, "Accept=yes: most instances per peer address/UID (0 = off)", parseIntInto(func(b *builder) *int { return &b.sock.MaxConnectionsPerSource }, 0))
	add("Socket", "KeepAlive", P, "SO_KEEPALIVE", parseBoolAny(opt(func(o *SocketOptions) any { return &o.KeepAlive })))
	add("Socket", "KeepAliveTimeSec", P, "TCP_KEEPIDLE", parseSpanInto(func(b *builder) *time.Duration { return &b.sock.Options.KeepAliveTime }))
	add("Socket", "KeepAliveIntervalSec", P, "TCP_KEEPINTVL", parseSpanInto(func(b *builder) *time.Duration { return &b.sock.Options.KeepAliveInterval }))
	add("Socket", "KeepAliveProbes", P, "TCP_KEEPCNT", parseIntInto(func(b *builder) *int { return &b.sock.Options.KeepAliveProbes }, 0))
	add("Socket", "NoDelay", P, "TCP_NODELAY", parseBoolAny(opt(func(o *SocketOptions) any { return &o.NoDelay })))
	add("Socket", "Priority", P, "SO_PRIORITY", parseIntPtr(func(b *builder) **int { return &b.sock.Options.Priority }))
	add("Socket", "DeferAcceptSec", P, "TCP_DEFER_ACCEPT: wake up only when data arrives (whole seconds)", func(b *builder, e *Entry) error {
		d, err := ParseTimespan(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse time span %q, ignoring: %w", e.Value, err)
		}
		b.sock.Options.DeferAccept = d
		b.deferAcceptPos = e.Pos
		return nil
	})
	add("Socket", "ReceiveBuffer", P, "SO_RCVBUF (size, K/M/G base 1024)", parseSizeInto(func(b *builder) *uint64 { return &b.sock.Options.ReceiveBuffer }))
	add("Socket", "SendBuffer", P, "SO_SNDBUF (size, K/M/G base 1024)", parseSizeInto(func(b *builder) *uint64 { return &b.sock.Options.SendBuffer }))
	add("Socket", "IPTOS", P, "IP_TOS: 0-255 or low-delay | throughput | reliability | low-cost", func(b *builder, e *Entry) error {
		names := map[string]int{"low-delay": 0x10, "throughput": 0x08, "reliability": 0x04, "low-cost": 0x02}
		if v, ok := names[e.Value]; ok {
			b.sock.Options.IPTOS = &v
			return nil
		}
		n, err := ParseInt(e.Value)
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("failed to parse IP TOS value %q, ignoring", e.Value)
		}
		v := int(n)
		b.sock.Options.IPTOS = &v
		return nil
	})
	add("Socket", "IPTTL", P, "IP_TTL / IPV6_UNICAST_HOPS", parseIntPtr(func(b *builder) **int { return &b.sock.Options.IPTTL }))
	add("Socket", "Mark", P, "SO_MARK", parseIntPtr(func(b *builder) **int { return &b.sock.Options.Mark }))
	add("Socket", "PipeSize", P, "F_SETPIPE_SZ on FIFOs", parseSizeInto(func(b *builder) *uint64 { return &b.sock.Options.PipeSize }))
	add("Socket", "FreeBind", P, "IP_FREEBIND: bind to addresses not (yet) configured", parseBoolAny(opt(func(o *SocketOptions) any { return &o.FreeBind })))
	add("Socket", "Transparent", P, "IP_TRANSPARENT", parseBoolAny(opt(func(o *SocketOptions) any { return &o.Transparent })))
	add("Socket", "Broadcast", P, "SO_BROADCAST", parseBoolAny(opt(func(o *SocketOptions) any { return &o.Broadcast })))
	add("Socket", "PassCredentials", P, "SO_PASSCRED", parseBoolAny(opt(func(o *SocketOptions) any { return &o.PassCredentials })))
	add("Socket", "PassSecurity", P, "SO_PASSSEC", parseBoolAny(opt(func(o *SocketOptions) any { return &o.PassSecurity })))
	add("Socket", "PassPacketInfo", P, "IP_PKTINFO and friends", parseBoolAny(opt(func(o *SocketOptions) any { return &o.PassPacketInfo })))
	add("Socket", "AcceptFileDescriptors", P, "no: SO_PASSRIGHTS=0, peers cannot send fds (v258)", func(b *builder, e *Entry) error {
		v, err := ParseBool(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse boolean value %q, ignoring: %w", e.Value, err)
		}
		b.sock.Options.AcceptFileDescriptors = &v
		return nil
	})
	add("Socket", "Timestamping", P, "SO_TIMESTAMP(NS): off | us | ns", func(b *builder, e *Entry) error {
		switch e.Value {
		case "off", "":
			b.sock.Options.Timestamping = TimestampingOff
		case "us", "usec", "µs":
			b.sock.Options.Timestamping = TimestampingUsec
		case "ns", "nsec":
			b.sock.Options.Timestamping = TimestampingNsec
		default:
			return fmt.Errorf("failed to parse timestamping precision %q, ignoring", e.Value)
		}
		return nil
	})
	add("Socket", "TCPCongestion", P, "TCP_CONGESTION algorithm name", func(b *builder, e *Entry) error {
		b.sock.Options.TCPCongestion = e.Value
		return nil
	})
	add("Socket", "ReusePort", P, "SO_REUSEPORT", parseBoolAny(opt(func(o *SocketOptions) any { return &o.ReusePort })))
	add("Socket", "MessageQueueMaxMessages", P, "mq_maxmsg of a new message queue", parseInt64Into(func(b *builder) *int64 { return &b.sock.Options.MessageQueueMaxMessages }))
	add("Socket", "MessageQueueMessageSize", P, "mq_msgsize of a new message queue", parseInt64Into(func(b *builder) *int64 { return &b.sock.Options.MessageQueueMessageSize }))
	add("Socket", "RemoveOnStop", P, "unlink sockets, FIFOs, queues and Symlinks= on stop", parseBoolInto(func(b *builder) *bool { return &b.sock.RemoveOnStop }))
	add("Socket", "Symlinks", P, "symlinks to the unit's single file-system socket/FIFO (list; empty resets)", func(b *builder, e *Entry) error {
		if e.Value == "" {
			b.sock.Symlinks = nil
			return nil
		}
		words, err := SplitWordsUnquote(e.Value)
		if err != nil {
			return fmt.Errorf("invalid syntax, ignoring: %w", err)
		}
		for _, w := range words {
			p, err := b.expand(w)
			if err != nil {
				return err
			}
			if !isAbsPath(p) {
				b.warn(e, "path is not absolute, ignoring: %s", p)
				continue
			}
			b.sock.Symlinks = append(b.sock.Symlinks, cleanPath(p))
		}
		if len(b.sock.Symlinks) > 0 {
			b.symlinksPos = e.Pos
		}
		return nil
	})
	add("Socket", "FileDescriptorName", P, "name of the fds in LISTEN_FDNAMES (default: unit name, or \"connection\" for Accept=yes)", func(b *builder, e *Entry) error {
		v, err := b.expand(e.Value)
		if err != nil {
			return err
		}
		if v != "" && !validFDName(v) {
			return fmt.Errorf("invalid file descriptor name, ignoring: %s", v)
		}
		b.sock.FileDescriptorName = v
		return nil
	})
	add("Socket", "Service", P, "service to start on traffic (Accept=no only; default: same name)", func(b *builder, e *Entry) error {
		v, err := b.expand(e.Value)
		if err != nil {
			return err
		}
		kind, _, _, typ := ParseUnitName(v)
		switch {
		case kind == NameInvalid || typ != "service":
			return fmt.Errorf("unit must be of type service, ignoring: %s", v)
		case kind == NameTemplate:
			return fmt.Errorf("failed to load unit %s, ignoring: unit name %s is missing the instance name", v, v)
		}
		b.sock.Service = v
		b.servicePos = e.Pos
		return nil
	})
	add("Socket", "TriggerLimitIntervalSec", P, "window of the trigger rate limit (default 2s, 0 disables)", parseSpanInto(func(b *builder) *time.Duration { return &b.sock.TriggerLimitInterval }))
	add("Socket", "TriggerLimitBurst", P, "activations per window before trigger-limit-hit (default 20, 200 with Accept=yes)", func(b *builder, e *Entry) error {
		b.triggerBurstSet = true
		return parseIntInto(func(b *builder) *int { return &b.sock.TriggerLimitBurst }, 0)(b, e)
	})
	add("Socket", "PollLimitIntervalSec", P, "window of the per-fd poll rate limit (default 2s, v255)", func(b *builder, e *Entry) error {
		b.pollIntervalSet = true
		return parseSpanInto(func(b *builder) *time.Duration { return &b.sock.PollLimitInterval })(b, e)
	})
	add("Socket", "PollLimitBurst", P, "poll events per window before pausing (default 15, 150 with Accept=yes, v255)", func(b *builder, e *Entry) error {
		b.pollBurstSet = true
		return parseIntInto(func(b *builder) *int { return &b.sock.PollLimitBurst }, 0)(b, e)
	})
	add("Socket", "PassFileDescriptorsToExec", P, "give the fds to ExecStartPost/ExecStopPre/ExecStopPost too (v256)", parseBoolInto(func(b *builder) *bool { return &b.sock.PassFileDescriptorsToExec }))
	add("Socket", "DeferTrigger", StatusUnsupported, "start the service in lenient job mode, deferring on conflicts (v258)", func(b *builder, e *Entry) error {
		switch strings.ToLower(e.Value) {
		case "":
			b.sock.DeferTrigger = ""
		case "patient":
			b.sock.DeferTrigger = "patient"
		default:
			v, err := ParseBool(e.Value)
			if err != nil {
				return fmt.Errorf("failed to parse %q, ignoring", e.Value)
			}
			b.sock.DeferTrigger = ""
			if v {
				b.sock.DeferTrigger = "yes"
			}
		}
		if b.sock.DeferTrigger != "" {
			b.deferTriggerPos = e.Pos
			return errNotSupported
		}
		return nil
	})
	add("Socket", "DeferTriggerMaxSec", StatusUnsupported, "upper bound for a deferred trigger (v258)", parseSpanInto(func(b *builder) *time.Duration { return &b.sock.DeferTriggerMax }))
	add("Socket", "TimeoutSec", P, "timeout of the socket's Exec* helpers (default 90s, 0 = none)", func(b *builder, e *Entry) error {
		d, err := ParseTimespan(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse time span %q, ignoring: %w", e.Value, err)
		}
		if d == 0 {
			d = Infinity
		}
		b.sock.Timeout = d
		return nil
	})
	for n, field := range map[string]func(*builder) *[]Command{
		"ExecStartPre":  func(b *builder) *[]Command { return &b.sock.ExecStartPre },
		"ExecStartPost": func(b *builder) *[]Command { return &b.sock.ExecStartPost },
		"ExecStopPre":   func(b *builder) *[]Command { return &b.sock.ExecStopPre },
		"ExecStopPost":  func(b *builder) *[]Command { return &b.sock.ExecStopPost },
	} {
		add("Socket", n, P, "helper command run around socket setup/teardown (list; empty resets)", parseExec(field))
	}

	// [Service]
	add("Service", "Type", P, "start-up notification: simple | exec | forking | oneshot | dbus | notify | notify-reload | idle", func(b *builder, e *Entry) error {
		m := map[string]ServiceType{"simple": TypeSimple, "exec": TypeExec, "forking": TypeForking, "oneshot": TypeOneshot,
			"dbus": TypeDBus, "notify": TypeNotify, "notify-reload": TypeNotifyReload, "idle": TypeIdle}
		t, ok := m[e.Value]
		if !ok {
			return fmt.Errorf("failed to parse service type, ignoring: %s", e.Value)
		}
		b.svc.Type = t
		b.typeSet = true
		return nil
	})
	add("Service", "RemainAfterExit", P, "stay active after the main process exited", parseBoolInto(func(b *builder) *bool { return &b.svc.RemainAfterExit }))
	add("Service", "PIDFile", P, "PID file of a forking service (relative → /run)", func(b *builder, e *Entry) error {
		v, err := b.expand(e.Value)
		if err != nil {
			return err
		}
		if v != "" && !isAbsPath(v) {
			v = "/run/" + v
		}
		b.svc.PIDFile = rewriteVarRun(cleanPath(v))
		return nil
	})
	add("Service", "BusName", StatusUnsupported, "D-Bus name of a Type=dbus service", func(b *builder, e *Entry) error {
		b.svc.BusName = e.Value
		return errNotSupported
	})
	for n, d := range map[string]struct {
		when  string
		field func(*builder) *[]Command
	}{
		"ExecCondition": {"before ExecStartPre; exit 1-254 skips the start", func(b *builder) *[]Command { return &b.svc.ExecCondition }},
		"ExecStartPre":  {"before the main process", func(b *builder) *[]Command { return &b.svc.ExecStartPre }},
		"ExecStart":     {"as the main process; the only one that receives LISTEN_FDS", func(b *builder) *[]Command { return &b.svc.ExecStart }},
		"ExecStartPost": {"after the service is started", func(b *builder) *[]Command { return &b.svc.ExecStartPost }},
		"ExecReload":    {"to reload the service", func(b *builder) *[]Command { return &b.svc.ExecReload }},
		"ExecStop":      {"to stop the service", func(b *builder) *[]Command { return &b.svc.ExecStop }},
		"ExecStopPost":  {"after the service stopped", func(b *builder) *[]Command { return &b.svc.ExecStopPost }},
	} {
		add("Service", n, P, "command run "+d.when+" (list; empty resets)", parseExec(d.field))
	}
	add("Service", "Restart", P, "restart policy: no | on-success | on-failure | on-abnormal | on-watchdog | on-abort | always", func(b *builder, e *Entry) error {
		m := map[string]RestartPolicy{"no": RestartNo, "on-success": RestartOnSuccess, "on-failure": RestartOnFailure,
			"on-abnormal": RestartOnAbnormal, "on-watchdog": RestartOnWatchdog, "on-abort": RestartOnAbort, "always": RestartAlways}
		r, ok := m[e.Value]
		if !ok {
			return fmt.Errorf("failed to parse service restart specifier, ignoring: %s", e.Value)
		}
		b.svc.Restart = r
		return nil
	})
	add("Service", "RestartSec", P, "delay before a restart (default 100ms)", parseSpanInto(func(b *builder) *time.Duration { return &b.svc.RestartSec }))
	add("Service", "RestartSteps", P, "steps from RestartSec= to RestartMaxDelaySec= (v254)", parseIntInto(func(b *builder) *int { return &b.svc.RestartSteps }, 0))
	add("Service", "RestartMaxDelaySec", P, "longest restart delay (v254)", parseSpanInto(func(b *builder) *time.Duration { return &b.svc.RestartMaxDelay }))
	add("Service", "SuccessExitStatus", P, "extra exit codes/signals counted as success (list; empty resets)", parseExitSet(func(b *builder) *ExitStatusSet { return &b.svc.SuccessExitStatus }))
	add("Service", "RestartPreventExitStatus", P, "exit codes/signals that prevent a restart", parseExitSet(func(b *builder) *ExitStatusSet { return &b.svc.RestartPreventExitStatus }))
	add("Service", "RestartForceExitStatus", P, "exit codes/signals that force a restart", parseExitSet(func(b *builder) *ExitStatusSet { return &b.svc.RestartForceExitStatus }))
	add("Service", "TimeoutStartSec", P, "start timeout (default 90s; oneshot: infinity; 0 = none)", parseTimeout(func(b *builder) *time.Duration { return &b.svc.TimeoutStart }))
	add("Service", "TimeoutStopSec", P, "stop timeout per step (default 90s; 0 = none)", parseTimeout(func(b *builder) *time.Duration { return &b.svc.TimeoutStop }))
	add("Service", "TimeoutSec", P, "sets TimeoutStartSec= and TimeoutStopSec=", func(b *builder, e *Entry) error {
		if err := parseTimeout(func(b *builder) *time.Duration { return &b.svc.TimeoutStart })(b, e); err != nil {
			return err
		}
		b.svc.TimeoutStop = b.svc.TimeoutStart
		return nil
	})
	add("Service", "WatchdogSec", P, "watchdog timeout; WATCHDOG=1 must arrive within it (0 = off)", parseSpanInto(func(b *builder) *time.Duration { return &b.svc.WatchdogSec }))
	add("Service", "NotifyAccess", P, "who may send sd_notify messages: none | main | exec | all", func(b *builder, e *Entry) error {
		m := map[string]NotifyAccess{"none": NotifyNone, "main": NotifyMain, "exec": NotifyExec, "all": NotifyAll}
		n, ok := m[e.Value]
		if !ok {
			return fmt.Errorf("failed to parse notify access specifier, ignoring: %s", e.Value)
		}
		b.svc.NotifyAccess = n
		return nil
	})
	add("Service", "FileDescriptorStoreMax", P, "size of the fd store (0 = off)", parseIntInto(func(b *builder) *int { return &b.svc.FileDescriptorStoreMax }, 0))
	add("Service", "FileDescriptorStorePreserve", P, "keep the fd store: no | restart | yes (v254)", parseEnumInto(func(b *builder) *string { return &b.svc.FileDescriptorStorePreserve }, "no", "restart", "yes"))
	add("Service", "Sockets", P, "socket units whose fds this service receives (list; cannot be reset)", func(b *builder, e *Entry) error {
		words, err := SplitWords(e.Value)
		if err != nil {
			return fmt.Errorf("invalid syntax, ignoring: %w", err)
		}
		for _, w := range words {
			n, err := b.expand(w)
			if err != nil {
				return err
			}
			if kind, _, _, typ := ParseUnitName(n); kind == NameInvalid || kind == NameTemplate || typ != "socket" {
				b.warn(e, "unit must be of type socket, ignoring: %s", n)
				continue
			}
			b.svc.Sockets = appendUniqueString(b.svc.Sockets, n)
		}
		return nil
	})
	add("Service", "NonBlocking", P, "set O_NONBLOCK on the passed socket fds", parseBoolInto(func(b *builder) *bool { return &b.svc.NonBlocking }))

	// systemd.exec(5) and systemd.kill(5): valid in [Socket] (for the
	// helpers) and [Service].
	for _, sec := range []string{"Socket", "Service"} {
		add(sec, "User", P, "user the processes run as (resolved at start)", parseUserInto(func(b *builder) *string { return &b.exec.User }))
		add(sec, "Group", P, "group the processes run as (default: the user's primary group)", parseUserInto(func(b *builder) *string { return &b.exec.Group }))
		add(sec, "SupplementaryGroups", P, "extra groups (list; empty resets)", func(b *builder, e *Entry) error {
			if e.Value == "" {
				b.exec.SupplementaryGroups = nil
				return nil
			}
			words, err := SplitFields(e.Value)
			if err != nil {
				return fmt.Errorf("invalid syntax, ignoring: %w", err)
			}
			for _, w := range words {
				g, err := b.expand(w)
				if err != nil {
					return hardError{err}
				}
				if !validUserGroup(g) {
					return hardError{fmt.Errorf("invalid user/group name or numeric ID: %s", g)}
				}
				b.exec.SupplementaryGroups = append(b.exec.SupplementaryGroups, g)
			}
			return nil
		})
		add(sec, "WorkingDirectory", P, "working directory: absolute path or ~ (- prefix: missing is fine)", func(b *builder, e *Entry) error {
			v := e.Value
			if v == "" {
				b.exec.WorkingDirectory, b.exec.WorkingDirectoryOptional = "", false
				return nil
			}
			opt := strings.HasPrefix(v, "-")
			if opt {
				v = v[1:]
			}
			if v != "~" {
				var err error
				if v, err = b.expand(v); err != nil {
					return hardError{err}
				}
				if !isAbsPath(v) {
					return hardError{fmt.Errorf("WorkingDirectory= path is not absolute: %s", v)}
				}
				v = cleanPath(v)
			}
			b.exec.WorkingDirectory, b.exec.WorkingDirectoryOptional = v, opt
			return nil
		})
		add(sec, "Environment", P, "KEY=VALUE words (quoted; specifiers expanded; empty resets)", func(b *builder, e *Entry) error {
			if e.Value == "" {
				b.exec.Environment = nil
				return nil
			}
			words, err := SplitWords(e.Value)
			if err != nil {
				return fmt.Errorf("invalid syntax, ignoring: %w", err)
			}
			for _, w := range words {
				kv, err := b.expand(w)
				if err != nil {
					return err
				}
				k, _, ok := strings.Cut(kv, "=")
				if !ok || !validEnvName(k) {
					b.warn(e, "invalid environment assignment, ignoring: %s", kv)
					continue
				}
				b.exec.Environment = append(b.exec.Environment, kv)
			}
			return nil
		})
		add(sec, "EnvironmentFile", P, "file of KEY=VALUE lines read at every start (- prefix: optional; empty resets)", func(b *builder, e *Entry) error {
			if e.Value == "" {
				b.exec.EnvironmentFiles = nil
				return nil
			}
			v, err := b.expand(e.Value)
			if err != nil {
				return err
			}
			opt := strings.HasPrefix(v, "-")
			if opt {
				v = v[1:]
			}
			if !isAbsPath(v) {
				return fmt.Errorf("path %q is not absolute, ignoring", v)
			}
			b.exec.EnvironmentFiles = append(b.exec.EnvironmentFiles, EnvironmentFile{Path: cleanPath(v), Optional: opt})
			return nil
		})
		add(sec, "UMask", P, "file mode creation mask (default 0022)", parseModeInto(func(b *builder) *os.FileMode { return &b.exec.UMask }))
		add(sec, "Nice", P, "scheduling priority -20..19", func(b *builder, e *Entry) error {
			n, err := ParseInt(e.Value)
			if err != nil || n < -20 || n > 19 {
				return fmt.Errorf("invalid nice priority %q, ignoring", e.Value)
			}
			v := int(n)
			b.exec.Nice = &v
			return nil
		})
		add(sec, "NoNewPrivileges", P, "PR_SET_NO_NEW_PRIVS", parseBoolInto(func(b *builder) *bool { return &b.exec.NoNewPrivileges }))
		add(sec, "StandardInput", P, "null | tty | tty-force | tty-fail | data | file:PATH | socket | fd:NAME", parseStdio(true))
		add(sec, "StandardOutput", P, "inherit | null | tty | journal | kmsg | file:/append:/truncate:PATH | socket | fd:NAME", parseStdio(false))
		add(sec, "StandardError", P, "same as StandardOutput= (default inherit)", parseStdio(false))
		add(sec, "StandardInputText", P, "text given on stdin (C escapes, specifiers; appends a newline)", func(b *builder, e *Entry) error {
			if e.Value == "" {
				b.exec.StandardInputData = nil
				return nil
			}
			v, err := b.expand(e.Value)
			if err != nil {
				return err
			}
			words, err := SplitWords("\"" + strings.ReplaceAll(v, "\"", "\\\"") + "\"")
			if err != nil || len(words) != 1 {
				return fmt.Errorf("failed to decode C escaped text, ignoring: %s", e.Value)
			}
			b.exec.StandardInputData = append(b.exec.StandardInputData, words[0]+"\n"...)
			return nil
		})
		add(sec, "SyslogIdentifier", P, "tag of logged lines (default: the program name)", func(b *builder, e *Entry) error {
			v, err := b.expand(e.Value)
			b.exec.SyslogIdentifier = v
			return err
		})
		for key := range systemdKeys {
			name, ok := strings.CutPrefix(key, sec+".Limit")
			if !ok {
				continue
			}
			name = "Limit" + name
			res, ok := RlimitResource(name)
			if !ok {
				continue
			}
			add(sec, name, P, "setrlimit("+strings.ToUpper(strings.TrimPrefix(name, "Limit"))+"): N or SOFT:HARD, infinity", func(b *builder, e *Entry) error {
				r, err := ParseRlimit(res, e.Value)
				if err != nil {
					return fmt.Errorf("failed to parse resource value, ignoring: %s", e.Value)
				}
				if b.exec.Limits == nil {
					b.exec.Limits = map[int]Rlimit{}
				}
				b.exec.Limits[res] = r
				return nil
			})
		}
		add(sec, "KillMode", P, "which processes are killed on stop: control-group | mixed | process | none", func(b *builder, e *Entry) error {
			m := map[string]KillMode{"control-group": KillControlGroup, "mixed": KillMixed, "process": KillProcess, "none": KillNone}
			k, ok := m[e.Value]
			if !ok {
				return fmt.Errorf("failed to parse kill mode, ignoring: %s", e.Value)
			}
			*b.kill.mode = k
			return nil
		})
		add(sec, "KillSignal", P, "first signal sent on stop (default SIGTERM)", parseSignalInto(func(b *builder) *int { return b.kill.signal }))
		add(sec, "FinalKillSignal", P, "signal sent when the stop timeout passes (default SIGKILL)", parseSignalInto(func(b *builder) *int { return b.kill.final }))
		add(sec, "SendSIGHUP", P, "also send SIGHUP right after KillSignal=", parseBoolInto(func(b *builder) *bool { return b.kill.sighup }))
		add(sec, "SendSIGKILL", P, "send FinalKillSignal= when the stop timeout passes (default yes)", parseBoolInto(func(b *builder) *bool { return b.kill.sigkill }))
	}
	add("Service", "RestartKillSignal", P, "signal sent on restart (default KillSignal=)", parseSignalInto(func(b *builder) *int { return &b.svc.RestartKillSignal }))

	// Unsupported settings whose bad values systemd 252 treats as fatal
	// are still checked, so that sockd refuses what systemd refuses.
	for _, sec := range []string{"Socket", "Service"} {
		for _, n := range []string{"RootDirectory", "RootImage", "RootVerity"} {
			add(sec, n, StatusUnsupported, "run the processes in another root file system", func(b *builder, e *Entry) error {
				v, err := b.expand(e.Value)
				if err != nil {
					return hardError{err}
				}
				if v != "" && !isAbsPath(v) {
					return hardError{fmt.Errorf("%s= path is not absolute: %s", e.Key, v)}
				}
				return errNotSupported
			})
		}
		add(sec, "DynamicUser", StatusUnsupported, "run as a transient user allocated at start", func(b *builder, e *Entry) error {
			if _, err := ParseBool(e.Value); err != nil {
				return hardError{fmt.Errorf("failed to parse boolean value: %s", e.Value)}
			}
			return errNotSupported
		})
	}

	// Everything else systemd 252 knows is accepted with a warning.
	for key := range systemdKeys {
		if _, ok := t[key]; ok {
			continue
		}
		sec, name, _ := strings.Cut(key, ".")
		st := StatusUnsupported
		if sec == "Install" || sec == "Unit" && unitIgnored[name] {
			st = StatusIgnored
		}
		sum := knownSummaries[name]
		if sum == "" {
			sum = "systemd " + strings.ToLower(sec) + " setting (" + strings.ToLower(systemdKeys[key]) + ")"
		}
		add(sec, name, st, sum, nil)
	}
	t.markSupported()
	return t
}

// knownSummaries describes the systemd settings sockd does not implement
// that real units use most.
var knownSummaries = map[string]string{
	"ProtectSystem":            "mount /usr, /boot, /etc read-only for the service",
	"ProtectHome":              "make /home, /root, /run/user inaccessible or read-only",
	"PrivateTmp":               "private /tmp and /var/tmp",
	"PrivateDevices":           "private minimal /dev",
	"PrivateNetwork":           "private network namespace with only loopback",
	"PrivateUsers":             "private user namespace",
	"PrivateMounts":            "private mount namespace",
	"ProtectKernelTunables":    "read-only /proc/sys, /sys",
	"ProtectKernelModules":     "deny module loading",
	"ProtectKernelLogs":        "deny access to the kernel log",
	"ProtectControlGroups":     "read-only cgroup file system",
	"ProtectClock":             "deny clock changes",
	"ProtectHostname":          "deny hostname changes",
	"ProtectProc":              "hide other users' processes in /proc",
	"ReadWritePaths":           "paths writable despite ProtectSystem=",
	"ReadOnlyPaths":            "paths made read-only",
	"InaccessiblePaths":        "paths made inaccessible",
	"SystemCallFilter":         "seccomp system call allow/deny list",
	"SystemCallArchitectures":  "seccomp: allowed system call ABIs",
	"SystemCallErrorNumber":    "errno returned for filtered system calls",
	"RestrictAddressFamilies":  "seccomp: allowed socket address families",
	"RestrictNamespaces":       "seccomp: allowed namespace types",
	"RestrictRealtime":         "deny realtime scheduling",
	"RestrictSUIDSGID":         "deny creating setuid/setgid files",
	"MemoryDenyWriteExecute":   "deny writable+executable memory",
	"LockPersonality":          "lock the execution domain",
	"CapabilityBoundingSet":    "capability bounding set",
	"AmbientCapabilities":      "ambient capabilities of the processes",
	"RuntimeDirectory":         "create /run/NAME owned by User= at start",
	"RuntimeDirectoryMode":     "mode of RuntimeDirectory=",
	"RuntimeDirectoryPreserve": "keep RuntimeDirectory= after stop",
	"StateDirectory":           "create /var/lib/NAME owned by User=",
	"CacheDirectory":           "create /var/cache/NAME owned by User=",
	"LogsDirectory":            "create /var/log/NAME owned by User=",
	"ConfigurationDirectory":   "create /etc/NAME",
	"OOMScoreAdjust":           "OOM killer score adjustment",
	"IOSchedulingClass":        "I/O scheduling class",
	"CPUSchedulingPolicy":      "CPU scheduling policy",
	"Slice":                    "cgroup slice the unit runs in",
	"Delegate":                 "delegate the cgroup subtree to the service",
	"TasksMax":                 "cgroup limit on tasks",
	"MemoryMax":                "cgroup memory limit",
	"CPUQuota":                 "cgroup CPU quota",
	"DeviceAllow":              "cgroup device access list",
	"DevicePolicy":             "cgroup device policy",
	"IPAddressDeny":            "cgroup/BPF IP address deny list",
	"IPAddressAllow":           "cgroup/BPF IP address allow list",
	"PAMName":                  "open a PAM session for the service",
	"RuntimeMaxSec":            "stop the service after this long",
	"WatchdogSignal":           "signal sent when the watchdog fires",
	"PassEnvironment":          "pass these variables from the manager's environment",
	"UnsetEnvironment":         "remove variables from the environment",
	"TTYPath":                  "terminal for StandardInput=tty",
	"SmackLabel":               "SMACK label of the socket nodes",
	"SmackLabelIPIn":           "SMACK label of incoming packets",
	"SmackLabelIPOut":          "SMACK label of outgoing packets",
	"SELinuxContextFromNet":    "derive the SELinux level from the peer",
	"StartLimitAction":         "action when the start limit is hit",
	"FailureAction":            "action when the unit fails",
	"SuccessAction":            "action when the unit succeeds",
	"JobTimeoutSec":            "timeout for queued jobs",
	"USBFunctionDescriptors":   "descriptors written to a USB FunctionFS ep0",
	"USBFunctionStrings":       "strings written to a USB FunctionFS ep0",
	"GuessMainPID":             "guess the main PID of forking services",
	"Sockets":                  "socket units whose fds the service receives",
}

// unitIgnored are [Unit] settings that are meaningless without a
// transaction engine; sockd accepts them without a warning.
var unitIgnored = map[string]bool{
	"SourcePath": true, "RequiresMountsFor": true, "IgnoreOnIsolate": true, "AllowIsolate": true,
	"RefuseManualStart": true, "RefuseManualStop": true, "StopWhenUnneeded": true, "BindTo": true,
	"PropagateReloadTo": true, "PropagateReloadFrom": true, "OnFailureJobMode": true, "OnSuccessJobMode": true,
}

// Directives returns every directive sockd knows, sorted by section then
// name, for `sockd verify --list-directives` and docs/directives.md.
func Directives() []DirectiveInfo {
	t := newDirectiveTable()
	out := make([]DirectiveInfo, 0, len(t))
	for _, d := range t {
		out = append(out, d.DirectiveInfo)
	}
	order := map[string]int{"Unit": 0, "Socket": 1, "Service": 2, "Install": 3}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Section != out[j].Section {
			return order[out[i].Section] < order[out[j].Section]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ---- parser helpers ----

func parseBoolInto(field func(*builder) *bool) parseFunc {
	return func(b *builder, e *Entry) error {
		v, err := ParseBool(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse boolean value, ignoring: %s", e.Value)
		}
		*field(b) = v
		return nil
	}
}

func parseBoolAny(field func(*builder) any) parseFunc {
	return parseBoolInto(func(b *builder) *bool { return field(b).(*bool) })
}

func parseSpanInto(field func(*builder) *time.Duration) parseFunc {
	return func(b *builder, e *Entry) error {
		d, err := ParseTimespan(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse time span value, ignoring: %s", e.Value)
		}
		*field(b) = d
		return nil
	}
}

// parseTimeout is a time span where 0 means "no timeout".
func parseTimeout(field func(*builder) *time.Duration) parseFunc {
	span := parseSpanInto(field)
	return func(b *builder, e *Entry) error {
		if err := span(b, e); err != nil {
			return err
		}
		if *field(b) == 0 {
			*field(b) = Infinity
		}
		return nil
	}
}

func parseIntInto(field func(*builder) *int, min int) parseFunc {
	return func(b *builder, e *Entry) error {
		n, err := ParseUnsigned(e.Value)
		if err != nil || n > 1<<31-1 || int(n) < min {
			return fmt.Errorf("failed to parse unsigned value, ignoring: %s", e.Value)
		}
		*field(b) = int(n)
		return nil
	}
}

func parseInt64Into(field func(*builder) *int64) parseFunc {
	return func(b *builder, e *Entry) error {
		n, err := ParseInt(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse long value, ignoring: %s", e.Value)
		}
		*field(b) = n
		return nil
	}
}

func parseIntPtr(field func(*builder) **int) parseFunc {
	return func(b *builder, e *Entry) error {
		n, err := ParseInt(e.Value)
		if err != nil || n < -1<<31 || n > 1<<31-1 {
			return fmt.Errorf("failed to parse integer value, ignoring: %s", e.Value)
		}
		v := int(n)
		*field(b) = &v
		return nil
	}
}

func parseSizeInto(field func(*builder) *uint64) parseFunc {
	return func(b *builder, e *Entry) error {
		// 0 means "unset", as in systemd; the kernel caps large values.
		n, err := ParseSize(e.Value)
		if err != nil {
			return fmt.Errorf("invalid size, ignoring: %s", e.Value)
		}
		*field(b) = n
		return nil
	}
}

func parseModeInto(field func(*builder) *os.FileMode) parseFunc {
	return func(b *builder, e *Entry) error {
		m, err := ParseMode(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse mode value, ignoring: %s", e.Value)
		}
		*field(b) = m
		return nil
	}
}

func parseEnumInto(field func(*builder) *string, values ...string) parseFunc {
	return func(b *builder, e *Entry) error {
		for _, v := range values {
			if e.Value == v {
				*field(b) = v
				return nil
			}
		}
		return fmt.Errorf("failed to parse value, ignoring: %s (expected one of %s)", e.Value, strings.Join(values, ", "))
	}
}

func parseSignalInto(field func(*builder) *int) parseFunc {
	return func(b *builder, e *Entry) error {
		n, err := ParseSignal(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse signal name, ignoring: %s", e.Value)
		}
		*field(b) = n
		return nil
	}
}

func parseExitSet(field func(*builder) *ExitStatusSet) parseFunc {
	return func(b *builder, e *Entry) error {
		if e.Value == "" {
			*field(b) = ExitStatusSet{}
			return nil
		}
		s, err := ParseExitStatusSet(e.Value)
		if err != nil {
			return fmt.Errorf("failed to parse exit status set, ignoring: %w", err)
		}
		f := field(b)
		f.Codes = append(f.Codes, s.Codes...)
		f.Signals = append(f.Signals, s.Signals...)
		return nil
	}
}

// parseUserInto accepts a user or group name, a numeric id, or specifiers
// that produce one. The name is only resolved when the unit starts.
func parseUserInto(field func(*builder) *string) parseFunc {
	return func(b *builder, e *Entry) error {
		// systemd fails the unit on any problem here (a wrong user must not
		// silently become root).
		v, err := b.expand(e.Value)
		if err != nil {
			return hardError{err}
		}
		if v != "" && !validUserGroup(v) {
			return hardError{fmt.Errorf("invalid user/group name or numeric ID: %s", v)}
		}
		if v == "nobody" || v == "nogroup" || v == "65534" {
			b.warn(e, "special user %s configured, this is not safe!", v)
		}
		*field(b) = v
		return nil
	}
}

func parseDep(dep string) parseFunc {
	return func(b *builder, e *Entry) error {
		words, err := SplitWords(e.Value)
		if err != nil {
			return fmt.Errorf("invalid syntax, ignoring: %w", err)
		}
		for _, w := range words {
			n, err := b.expand(w)
			if err != nil {
				return err
			}
			if kind, _, _, _ := ParseUnitName(n); kind == NameInvalid || kind == NameTemplate {
				b.warn(e, "failed to add dependency on %s, ignoring: invalid unit name", n)
				continue
			}
			if b.unit.Deps == nil {
				b.unit.Deps = b.share.newMap()
			}
			b.unit.Deps[dep] = append(b.unit.Deps[dep], n)
		}
		return nil
	}
}

func parseListen(kind ListenKind) parseFunc {
	return func(b *builder, e *Entry) error {
		if e.Value == "" {
			// An empty assignment to any Listen*= clears every listener.
			b.sock.Listeners = nil
			return nil
		}
		v, err := b.expand(e.Value)
		if err != nil {
			return err
		}
		if kind == ListenFIFO || kind == ListenSpecial || kind == ListenUSBFunction {
			if !isAbsPath(v) {
				return fmt.Errorf("%s= path is not absolute, ignoring: %s", e.Key, v)
			}
		}
		addr, err := ParseAddress(kind, v)
		if err != nil {
			return fmt.Errorf("failed to parse address value in %q, ignoring: %w", v, err)
		}
		if strings.HasPrefix(addr.Path, "/var/run/") && (addr.Family == FamilyUnix || addr.Family == FamilyPath) {
			addr.Path = rewriteVarRun(addr.Path)
			b.diag(e, Notice, "%s= references a path below legacy directory /var/run/, updating %s → %s", e.Key, v, addr.Path)
		}
		b.sock.Listeners = append(b.sock.Listeners, Listener{Kind: kind, Addr: addr, Text: v, Pos: e.Pos})
		return nil
	}
}

func parseExec(field func(*builder) *[]Command) parseFunc {
	return func(b *builder, e *Entry) error {
		f := field(b)
		if e.Value == "" {
			*f = nil
			return nil
		}
		// Specifiers are expanded per word after unquoting, as systemd does.
		cmds, err := ParseExecLineExpand(e.Value, b.expand)
		var xe *ExecError
		if err != nil && errors.As(err, &xe) && xe.Fatal {
			return hardError{err}
		}
		for i := range cmds {
			c := &cmds[i]
			c.Pos = e.Pos
			if p := b.resolve(c.Path); p != "" {
				c.Path = p
			} else if c.Flags&CmdIgnoreFailure == 0 {
				b.missingPrograms = append(b.missingPrograms, missingProgram{e.Key, c.Path, e.Pos})
			}
		}
		// On a soft error the commands before the bad one are kept.
		*f = append(*f, cmds...)
		if err != nil {
			return fmt.Errorf("%w, ignoring", err)
		}
		return nil
	}
}

// The StandardInput= and StandardOutput=/StandardError= values without
// and with an argument.
var (
	stdioInputKinds = map[string]StdioKind{"null": StdioNull, "socket": StdioSocket, "data": StdioData,
		"tty": StdioTTY, "tty-force": StdioTTY, "tty-fail": StdioTTY}
	stdioOutputKinds = map[string]StdioKind{"null": StdioNull, "socket": StdioSocket, "inherit": StdioInherit, "tty": StdioTTY,
		"journal": StdioJournal, "syslog": StdioJournal, "kmsg": StdioJournal,
		"journal+console": StdioJournal, "syslog+console": StdioJournal, "kmsg+console": StdioJournal}
)

type stdioPrefix struct {
	prefix string
	kind   StdioKind
}

var (
	stdioInputPrefixes  = []stdioPrefix{{"file:", StdioFile}, {"fd:", StdioFD}}
	stdioOutputPrefixes = []stdioPrefix{{"file:", StdioFile}, {"fd:", StdioFD}, {"append:", StdioAppend}, {"truncate:", StdioTruncate}}
)

func parseStdio(input bool) parseFunc {
	return func(b *builder, e *Entry) error {
		dst := &b.exec.StandardOutput
		switch {
		case input:
			dst = &b.exec.StandardInput
		case e.Key == "StandardError":
			dst = &b.exec.StandardError
		}
		v := e.Value
		simple, prefixes := stdioOutputKinds, stdioOutputPrefixes
		if input {
			simple, prefixes = stdioInputKinds, stdioInputPrefixes
		}
		if k, ok := simple[v]; ok {
			*dst = Stdio{Kind: k}
			return nil
		}
		for _, pk := range prefixes {
			p, k := pk.prefix, pk.kind
			if rest, ok := strings.CutPrefix(v, p); ok {
				if k == StdioFD {
					if rest == "" {
						rest = "stdin"
						if !input {
							rest = strings.ToLower(strings.TrimPrefix(e.Key, "Standard"))
						}
					}
					*dst = Stdio{Kind: k, Path: rest}
					return nil
				}
				p, err := b.expand(rest)
				if err != nil {
					return err
				}
				if !isAbsPath(p) {
					return fmt.Errorf("path %q is not absolute, ignoring", p)
				}
				*dst = Stdio{Kind: k, Path: cleanPath(p)}
				return nil
			}
		}
		return fmt.Errorf("failed to parse %s specifier, ignoring: %s", map[bool]string{true: "input", false: "output"}[input], v)
	}
}

// ---- value checks ----

func isAbsPath(p string) bool { return strings.HasPrefix(p, "/") }

// cleanPath collapses repeated slashes and drops a trailing slash, as
// systemd's path_simplify() does (it keeps ".." components).
func cleanPath(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/./") && (len(p) < 2 || !strings.HasSuffix(p, "/")) {
		return p
	}
	parts := strings.Split(p, "/")
	out := parts[:0]
	for i, s := range parts {
		if (s == "" || s == ".") && i > 0 {
			continue
		}
		out = append(out, s)
	}
	r := strings.Join(out, "/")
	if r == "" {
		return "/"
	}
	return r
}

func rewriteVarRun(p string) string {
	if rest, ok := strings.CutPrefix(p, "/var/run/"); ok {
		return "/run/" + rest
	}
	return p
}

// validFDName is systemd's fdname_is_valid().
func validFDName(s string) bool {
	if len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// validUserGroup is systemd's relaxed valid_user_group_name() (what
// User=, Group= and friends accept): not empty, valid UTF-8, no control
// characters, no ':' or '/', not "." or "..", and a numeric id must be a
// valid uid (not (uid_t)-1 or 65535).
func validUserGroup(s string) bool {
	if s == "" || !utf8.ValidString(s) || s == "." || s == ".." {
		return false
	}
	digits := true
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == ':' || r == '/' {
			return false
		}
		if r < '0' || r > '9' {
			digits = false
		}
	}
	if digits {
		n, err := ParseUnsigned(s)
		return err == nil && n < 1<<32-1 && n != 65535
	}
	return true
}

func validEnvName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func appendUniqueString(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

const (
	sigTERM = int(syscall.SIGTERM)
	sigKILL = int(syscall.SIGKILL)
)
