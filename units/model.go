package units

import (
	"os"
	"time"
)

// Infinity is the time span "infinity" (and, for timeouts, "no timeout").
const Infinity = time.Duration(1<<63 - 1)

// Pos is a place in a unit file or drop-in.
type Pos struct {
	File string
	Line int
}

// ListenKind is the Listen*= directive a listener came from; it decides the
// socket type (stream, datagram, seqpacket) or the kind of file.
type ListenKind int

// Listen kinds, one per Listen*= directive.
const (
	ListenStream ListenKind = iota
	ListenDatagram
	ListenSequentialPacket
	ListenFIFO
	ListenSpecial
	ListenNetlink
	ListenMessageQueue
	ListenUSBFunction
)

// Family is the address family of a listener's address.
type Family int

// Address families. FamilyPath is a plain file-system path (FIFO, special
// file, USB FunctionFS directory); FamilyMQueue a POSIX message queue name.
const (
	FamilyInet6Any Family = iota // bare port: [::]:PORT, IPv4 0.0.0.0:PORT when the host has no IPv6
	FamilyInet                   // A.B.C.D:PORT
	FamilyInet6                  // [ADDR]:PORT[%IFACE]
	FamilyUnix                   // /path (file-system AF_UNIX socket)
	FamilyAbstract               // @name (AF_UNIX abstract namespace)
	FamilyVsock                  // vsock:CID:PORT
	FamilyNetlink                // netlink FAMILY [GROUP]
	FamilyPath                   // FIFO, special file, USB function directory
	FamilyMQueue                 // /name (POSIX message queue)
)

// Address is a parsed listener address. Only the fields of its Family are set.
type Address struct {
	Family Family
	// IP is the 4- or 16-byte address for FamilyInet/FamilyInet6 (nil for
	// FamilyInet6Any). Zone is the IPv6 scope (interface name or index).
	IP   []byte
	Zone string
	Port uint16 // Inet*, Inet6Any; Vsock uses VsockPort
	// Path is the file-system path, the abstract name without the leading
	// "@", or the message queue name.
	Path string
	// VsockCID is the context id; VsockAnyCID means VMADDR_CID_ANY.
	VsockCID  uint32
	VsockPort uint32
	// NetlinkFamily is the protocol number (NETLINK_*); NetlinkGroup the
	// multicast group bitmask bound to.
	NetlinkFamily int
	NetlinkGroup  uint32
}

// VsockAnyCID is VMADDR_CID_ANY.
const VsockAnyCID = ^uint32(0)

// Listener is one Listen*= line of a socket unit.
type Listener struct {
	Kind ListenKind
	Addr Address
	Text string // the value as written, after specifier expansion
	Pos  Pos
}

// IPv6Only is the BindIPv6Only= setting.
type IPv6Only int

// BindIPv6Only= values.
const (
	IPv6OnlyDefault IPv6Only = iota
	IPv6OnlyBoth
	IPv6OnlyIPv6Only
)

// Timestamping is the Timestamping= setting.
type Timestamping int

// Timestamping= values.
const (
	TimestampingOff Timestamping = iota
	TimestampingUsec
	TimestampingNsec
)

// SocketProtocol is SocketProtocol=.
type SocketProtocol int

// SocketProtocol= values; ProtocolDefault lets the kernel choose.
const (
	ProtocolDefault SocketProtocol = iota
	ProtocolUDPLite
	ProtocolSCTP
	ProtocolMPTCP
)

// SocketOptions holds every option applied to a socket unit's listeners (and
// to accepted connections). Pointer and zero values mean "unset, leave the
// kernel default", which is systemd's behaviour for every optional setting.
type SocketOptions struct {
	Backlog                 int // listen() backlog; default math.MaxInt32 (capped by the kernel)
	BindIPv6Only            IPv6Only
	BindToDevice            string
	SocketUser              string // "" = sockd's own user
	SocketGroup             string
	SocketMode              os.FileMode // default 0666
	DirectoryMode           os.FileMode // default 0755
	FreeBind                bool
	Transparent             bool
	ReusePort               bool
	Broadcast               bool
	PassCredentials         bool
	PassSecurity            bool
	PassPacketInfo          bool
	AcceptFileDescriptors   *bool // nil = default (yes)
	KeepAlive               bool
	KeepAliveTime           time.Duration // 0 = unset
	KeepAliveInterval       time.Duration
	KeepAliveProbes         int // 0 = unset
	NoDelay                 bool
	Priority                *int
	DeferAccept             time.Duration // 0 = off
	ReceiveBuffer           uint64        // 0 = unset
	SendBuffer              uint64
	IPTOS                   *int
	IPTTL                   *int
	Mark                    *int
	TCPCongestion           string
	Timestamping            Timestamping
	PipeSize                uint64 // 0 = unset
	Writable                bool
	SocketProtocol          SocketProtocol
	MessageQueueMaxMessages int64
	MessageQueueMessageSize int64
}

// Socket is a loaded, validated .socket unit: what is its own (name,
// files, listeners, and the settings derived from its name), and its other
// settings.
//
// The settings are shared, read-only, between the units of one Load whose
// files say the same thing apart from their Listen*= lines (typically
// generated units, one per port or path), so that ten thousand such units
// do not keep ten thousand copies. Positions (Pos) inside shared settings
// name the file of the first of those units.
type Socket struct {
	Name         string // "web.socket"
	FragmentPath string
	DropIns      []string

	Listeners []Listener

	// Service is the unit activated: "web.service" (Accept=no, or Service=),
	// or the template "web@.service" for Accept=yes.
	Service string
	// FileDescriptorName is the name of every fd of this unit in
	// LISTEN_FDNAMES: FileDescriptorName= if set, else the unit name
	// (Accept=no) or "connection" (Accept=yes).
	FileDescriptorName string

	*SocketSettings
}

// SocketSettings are a socket unit's settings other than its listeners.
type SocketSettings struct {
	Description string
	Options     SocketOptions

	Accept bool

	MaxConnections          int           // default 64
	MaxConnectionsPerSource int           // 0 = off
	TriggerLimitInterval    time.Duration // default 2s, 0 = off
	TriggerLimitBurst       int           // default 20 (Accept=no) / 200 (Accept=yes), 0 = off
	PollLimitInterval       time.Duration // default 2s, 0 = off
	PollLimitBurst          int           // default 15 / 150, 0 = off

	Symlinks                  []string
	RemoveOnStop              bool
	FlushPending              bool
	PassFileDescriptorsToExec bool

	ExecStartPre  []Command
	ExecStartPost []Command
	ExecStopPre   []Command
	ExecStopPost  []Command
	Timeout       time.Duration // TimeoutSec= for the helpers; default 90s, Infinity = none
	Exec          ExecContext   // credentials and environment of the helpers
	Kill          KillContext   // how the helpers are stopped

	// DeferTrigger is DeferTrigger= ("", "yes", "patient"); DeferTriggerMax
	// is DeferTriggerMaxSec= (default Infinity).
	DeferTrigger    string
	DeferTriggerMax time.Duration

	// Unit holds the [Unit] and [Install] settings.
	Unit UnitInfo
}

// KillContext is the systemd.kill(5) settings of a socket's helpers. A
// Service keeps the same settings in its own fields.
type KillContext struct {
	KillMode        KillMode
	KillSignal      int // default SIGTERM
	FinalKillSignal int // default SIGKILL
	SendSIGHUP      bool
	SendSIGKILL     bool // default true
}

// UnitInfo is the [Unit] and [Install] sections of a unit. Dependencies are
// kept as written (after specifier expansion); sockd has no transaction
// engine and uses them only for display.
type UnitInfo struct {
	Description   string
	Documentation []string
	// Deps maps a dependency directive ("After", "Wants", ...) to its units.
	Deps                map[string][]string
	DefaultDependencies bool          // default true
	StartLimitInterval  time.Duration // default 10s
	StartLimitBurst     int           // default 5
	CollectMode         string        // "inactive" (default) or "inactive-or-failed"
	// Conditions are the Condition*= and Assert*= lines, unevaluated.
	Conditions []Condition
	// Install is the [Install] section: key → values, as written.
	Install map[string][]string
}

// Condition is one Condition*= or Assert*= line.
type Condition struct {
	Directive string // "ConditionPathExists"
	Value     string
	Pos       Pos
}

// ServiceType is Type=.
type ServiceType int

// Service types.
const (
	TypeSimple ServiceType = iota
	TypeExec
	TypeForking
	TypeOneshot
	TypeDBus
	TypeNotify
	TypeNotifyReload
	TypeIdle
)

// RestartPolicy is Restart=.
type RestartPolicy int

// Restart= values.
const (
	RestartNo RestartPolicy = iota
	RestartOnSuccess
	RestartOnFailure
	RestartOnAbnormal
	RestartOnWatchdog
	RestartOnAbort
	RestartAlways
)

// KillMode is KillMode=.
type KillMode int

// KillMode= values.
const (
	KillControlGroup KillMode = iota
	KillMixed
	KillProcess
	KillNone
)

// NotifyAccess is NotifyAccess=.
type NotifyAccess int

// NotifyAccess= values. NotifyUnset means "not configured": the effective
// value is derived from Type=, WatchdogSec= and FileDescriptorStoreMax=.
const (
	NotifyUnset NotifyAccess = iota
	NotifyNone
	NotifyMain
	NotifyExec
	NotifyAll
)

// StdioKind is the kind of a StandardInput/Output/Error= setting.
type StdioKind int

// Standard stream kinds. StdioJournal covers journal, syslog, kmsg and their
// +console forms: the stream is captured and logged by sockd.
const (
	StdioDefault StdioKind = iota // not set: the systemd default applies
	StdioNull
	StdioInherit
	StdioSocket
	StdioJournal
	StdioTTY
	StdioFile     // file:PATH (input or output, opened without truncation)
	StdioAppend   // append:PATH
	StdioTruncate // truncate:PATH
	StdioFD       // fd:NAME
	StdioData     // StandardInputText=/StandardInputData=
)

// Stdio is one standard stream setting.
type Stdio struct {
	Kind StdioKind
	Path string // StdioFile/Append/Truncate path, StdioFD name, StdioTTY path
}

// Rlimit is one Limit*= setting; Infinity-like values use RlimInfinity.
type Rlimit struct {
	Soft, Hard uint64
}

// RlimInfinity is RLIM_INFINITY.
const RlimInfinity = ^uint64(0)

// EnvironmentFile is one EnvironmentFile= entry.
type EnvironmentFile struct {
	Path     string
	Optional bool // "-" prefix: a missing file is not an error
}

// ExecContext is the execution environment shared by a unit's commands
// (systemd.exec(5)).
type ExecContext struct {
	User                     string // "" = sockd's own user
	Group                    string
	SupplementaryGroups      []string
	WorkingDirectory         string   // "" = "/" for system services; "~" = the user's home
	WorkingDirectoryOptional bool     // "-" prefix
	Environment              []string // KEY=VALUE, in order; later ones win
	EnvironmentFiles         []EnvironmentFile
	UMask                    os.FileMode // default 0022
	// Limits maps a resource (unix.RLIMIT_*) to its value.
	Limits            map[int]Rlimit
	Nice              *int
	NoNewPrivileges   bool
	StandardInput     Stdio
	StandardOutput    Stdio
	StandardError     Stdio
	StandardInputData []byte
	SyslogIdentifier  string
}

// CommandFlags are the prefixes of an Exec*= command line.
type CommandFlags uint8

// Exec prefixes.
const (
	CmdIgnoreFailure  CommandFlags = 1 << iota // "-"
	CmdArgv0                                   // "@": Argv[0] is given separately
	CmdFullPrivileges                          // "+"
	CmdNoSetuid                                // "!"
	CmdAmbientMagic                            // "!!"
	CmdNoEnvExpand                             // ":"
)

// Command is one command of an Exec*= line, with specifiers already expanded.
// Environment variable references ($VAR, ${VAR}) are kept in Args and
// expanded at start time with Expand, since the environment is only known
// then.
type Command struct {
	Path  string   // absolute path of the program (resolved at load time)
	Args  []string // argv, Args[0] included; may contain $VAR / ${VAR}
	Flags CommandFlags
	Pos   Pos
}

// Service is a loaded, validated .service unit (or template): its name and
// files, and its settings, shared like a Socket's between units of one
// Load whose files say the same thing (and use no specifiers).
type Service struct {
	Name         string // "web.service", "echo@.service", "echo@3-...service"
	FragmentPath string
	DropIns      []string
	// Template is the template an instance was loaded from
	// ("echo@.service"); "" for plain services and templates.
	Template string

	*ServiceSettings
}

// ServiceSettings are a service unit's settings.
type ServiceSettings struct {
	Description string

	Type            ServiceType
	RemainAfterExit bool
	PIDFile         string

	ExecCondition []Command
	ExecStartPre  []Command
	ExecStart     []Command
	ExecStartPost []Command
	ExecReload    []Command
	ExecStop      []Command
	ExecStopPost  []Command

	Restart RestartPolicy
	//lint:ignore ST1011 named after the directive; other packages use this name
	RestartSec               time.Duration // default 100ms
	RestartSteps             int
	RestartMaxDelay          time.Duration
	SuccessExitStatus        ExitStatusSet
	RestartPreventExitStatus ExitStatusSet
	RestartForceExitStatus   ExitStatusSet

	TimeoutStart time.Duration // default 90s (oneshot: Infinity); Infinity = none
	TimeoutStop  time.Duration
	//lint:ignore ST1011 named after the directive; other packages use this name
	WatchdogSec time.Duration

	KillMode          KillMode
	KillSignal        int // default SIGTERM
	RestartKillSignal int // 0 = KillSignal
	FinalKillSignal   int // default SIGKILL
	SendSIGHUP        bool
	SendSIGKILL       bool // default true

	NotifyAccess                NotifyAccess
	FileDescriptorStoreMax      int
	FileDescriptorStorePreserve string // "no", "restart" (default), "yes"
	Sockets                     []string
	NonBlocking                 bool

	StartLimitInterval time.Duration // default 10s
	StartLimitBurst    int           // default 5

	Exec ExecContext

	// BusName is BusName= (Type=dbus needs it).
	BusName string
	// Unit holds the [Unit] and [Install] settings.
	Unit UnitInfo
}

// ExitStatusSet is a set of exit codes and signals (SuccessExitStatus= and
// friends).
type ExitStatusSet struct {
	Codes   []int
	Signals []int
}
