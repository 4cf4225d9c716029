package units

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrAddressFamily is returned by ParseAddress for an address whose family
// the Listen directive cannot use (an IP address in ListenSequentialPacket=).
// systemd logs "Address family not supported, ignoring".
var ErrAddressFamily = errors.New("address family not supported")

// sunPathLen is sizeof(sockaddr_un.sun_path); systemd insists on a
// terminating NUL, so a path or abstract name gets at most 107 bytes.
const sunPathLen = 108

// VMADDR_CID_* names accepted by newer systemd (vsock_parse_cid).
var vsockCIDNames = map[string]uint32{"hypervisor": 0, "local": 1, "host": 2}

// netlinkFamilies is systemd's netlink_family table (NETLINK_* numbers).
var netlinkFamilies = map[string]int{
	"route": 0, "firewall": 3, "inet-diag": 4, "nflog": 5, "xfrm": 6,
	"selinux": 7, "iscsi": 8, "audit": 9, "fib-lookup": 10, "connector": 11,
	"netfilter": 12, "ip6-fw": 13, "dnrtmsg": 14, "kobject-uevent": 15,
	"generic": 16, "scsitransport": 18, "ecryptfs": 19, "rdma": 20,
}

func netlinkFamilyName(n int) string {
	for name, v := range netlinkFamilies {
		if v == n {
			return name
		}
	}
	return strconv.Itoa(n)
}

// ParseAddress parses the value of a Listen*= directive (after specifier
// expansion) as systemd does:
//
//   - ListenStream=, ListenDatagram=, ListenSequentialPacket=: the grammar of
//     socket_address_parse (see parseSocketAddress). ListenSequentialPacket=
//     accepts only AF_UNIX and AF_VSOCK addresses; anything else wraps
//     ErrAddressFamily.
//   - ListenFIFO=, ListenSpecial=, ListenUSBFunction=: an absolute,
//     normalized path (FamilyPath), simplified as path_simplify does.
//   - ListenMessageQueue=: an absolute name (FamilyMQueue).
//   - ListenNetlink=: "FAMILY [GROUP]" (FamilyNetlink).
//
// A path below /var/run/ of an AF_UNIX socket or a FIFO is rewritten to
// /run/, as systemd does (it logs a notice: compare Path with the input to
// do the same).
//
// Host names are never accepted and nothing is looked up: an interface
// name after "%" is checked for syntax only (systemd also resolves it and
// fails with ENODEV for an unknown interface; here that is left to bind
// time).
func ParseAddress(kind ListenKind, s string) (Address, error) {
	switch kind {
	case ListenStream, ListenDatagram:
		return parseSocketAddress(s)
	case ListenSequentialPacket:
		a, err := parseSocketAddress(s)
		if err != nil {
			return a, err
		}
		switch a.Family {
		case FamilyUnix, FamilyAbstract, FamilyVsock:
			return a, nil
		}
		return Address{}, fmt.Errorf("%q: %w for sequential packet sockets", s, ErrAddressFamily)
	case ListenFIFO, ListenSpecial, ListenUSBFunction, ListenMessageQueue:
		p, err := checkAbsolutePath(s)
		if err != nil {
			return Address{}, err
		}
		if kind == ListenMessageQueue {
			return Address{Family: FamilyMQueue, Path: p}, nil
		}
		if kind == ListenFIFO {
			// Simplified again, as the rewrite may leave "/run/".
			if p, err = checkAbsolutePath(patchVarRun(p)); err != nil {
				return Address{}, err
			}
		}
		return Address{Family: FamilyPath, Path: p}, nil
	case ListenNetlink:
		return parseNetlinkAddress(s)
	}
	return Address{}, fmt.Errorf("unknown listen kind %d", kind)
}

// patchVarRun rewrites the legacy /var/run/ prefix to /run/, as systemd's
// patch_var_run does with a notice; like its path_startswith, repeated
// slashes do not hide the prefix ("/var//run///x" → "/run/x").
func patchVarRun(p string) string {
	rest, ok := cutPathComponent(p, "var")
	if !ok {
		return p
	}
	if rest, ok = cutPathComponent(rest, "run"); !ok {
		return p
	}
	return "/run/" + strings.TrimLeft(rest, "/")
}

// cutPathComponent removes leading slashes and then the component c, which
// must be followed by a slash or the end.
func cutPathComponent(p, c string) (string, bool) {
	q := strings.TrimLeft(p, "/")
	if len(q) == len(p) || !strings.HasPrefix(q, c) {
		return p, false
	}
	rest := q[len(c):]
	if rest != "" && rest[0] != '/' {
		return p, false
	}
	return rest, true
}

// checkAbsolutePath is path_simplify_and_warn(PATH_CHECK_ABSOLUTE): valid
// UTF-8, absolute, simplified ("//" and "." removed, no trailing slash),
// every component at most NAME_MAX bytes, and no ".." component.
func checkAbsolutePath(s string) (string, error) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("path %q is not valid UTF-8", s)
	}
	if !strings.HasPrefix(s, "/") {
		return "", fmt.Errorf("path %q is not absolute", s)
	}
	p := simplifyPath(s)
	if len(p) >= 4096 {
		return "", fmt.Errorf("path %q has invalid length (%d bytes)", s, len(p))
	}
	for _, c := range strings.Split(p[1:], "/") {
		if len(c) > 255 {
			return "", fmt.Errorf("path %q has a component longer than 255 bytes", s)
		}
		if c == ".." {
			return "", fmt.Errorf("path %q is not normalized", s)
		}
	}
	return p, nil
}

// simplifyPath is systemd's path_simplify: repeated slashes collapse, "."
// components go, a trailing slash goes; ".." is kept (it cannot be
// resolved without the file system).
func simplifyPath(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	abs := s[0] == '/'
	if abs {
		b.WriteByte('/')
	}
	first := true
	for _, c := range strings.Split(s, "/") {
		if c == "" || c == "." {
			continue
		}
		if !first {
			b.WriteByte('/')
		}
		b.WriteString(c)
		first = false
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

// parseSocketAddress is systemd's socket_address_parse. In order:
//
//	/path                   AF_UNIX file-system socket, 2..107 bytes
//	@name                   AF_UNIX abstract socket, "@" + 1..106 bytes
//	vsock:CID:PORT          AF_VSOCK (also vsock-stream:, vsock-dgram:,
//	                        vsock-seqpacket:); empty CID = any; CID may be
//	                        hypervisor, local or host
//	PORT                    1..65535 with C base detection: [::]:PORT
//	A.B.C.D:PORT[%IFACE]    IPv4, strict dotted quad
//	[IPV6]:PORT[%IFACE]     IPv6, the scope after the port
func parseSocketAddress(s string) (Address, error) {
	switch {
	case strings.HasPrefix(s, "/"):
		if len(s) < 2 || strings.IndexByte(s, 0) >= 0 {
			return Address{}, syntaxError("socket path", s)
		}
		if len(s)+1 > sunPathLen {
			return Address{}, fmt.Errorf("socket path %q too long (%d bytes, at most %d)", s, len(s), sunPathLen-1)
		}
		return Address{Family: FamilyUnix, Path: patchVarRun(s)}, nil
	case strings.HasPrefix(s, "@"):
		if len(s) < 2 {
			return Address{}, syntaxError("abstract socket name", s)
		}
		if len(s)+1 > sunPathLen {
			return Address{}, fmt.Errorf("abstract socket name %q too long (%d bytes, at most %d)", s, len(s)-1, sunPathLen-2)
		}
		return Address{Family: FamilyAbstract, Path: s[1:]}, nil
	}
	for _, prefix := range []string{"vsock:", "vsock-stream:", "vsock-dgram:", "vsock-seqpacket:"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			return parseVsock(s, rest)
		}
	}

	if !isPortLike(s) {
		return parseIPAddressPort(s) // not a bare port: skip making its error
	}
	port, err := parseIPPort(s)
	if err == nil {
		return Address{Family: FamilyInet6Any, Port: port}, nil
	}
	if errors.Is(err, ErrRange) {
		return Address{}, err // a number, but not a port
	}
	return parseIPAddressPort(s)
}

func parseVsock(s, rest string) (Address, error) {
	cidText, portText, ok := strings.Cut(rest, ":")
	if !ok {
		return Address{}, fmt.Errorf("vsock address %q: missing port: %w", s, ErrSyntax)
	}
	port, err := safeAtou(portText, 0, "vsock port")
	if err != nil {
		return Address{}, err
	}
	if port >= math.MaxUint32 { // also VMADDR_PORT_ANY
		return Address{}, rangeError("vsock port", portText)
	}
	cid := VsockAnyCID
	if n, ok := vsockCIDNames[cidText]; ok {
		cid = n
	} else if cidText != "" {
		c, err := safeAtou(cidText, 0, "vsock CID")
		if err != nil {
			return Address{}, err
		}
		if c > math.MaxUint32 {
			return Address{}, rangeError("vsock CID", cidText)
		}
		cid = uint32(c)
	}
	return Address{Family: FamilyVsock, VsockCID: cid, VsockPort: uint32(port)}, nil
}

// isPortLike reports whether parseIPPort could accept s or fail it with
// ErrRange: s is a number for strtoull with base detection (decimal, 0x
// hex, 0 octal, an optional sign). Addresses ("1.2.3.4:80", "[::]:80")
// never are, since '.', ':' and '[' are no digits.
func isPortLike(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == 'x' || c == 'X' || c == '+' || c == '-' || cSpace(c)) {
			return false
		}
	}
	return true
}

// parseIPPort is systemd's parse_ip_port: safe_atou16 with base detection,
// no leading whitespace, 0 invalid.
func parseIPPort(s string) (uint16, error) {
	if s == "" || cSpace(s[0]) {
		return 0, syntaxError("port", s)
	}
	v, err := safeAtou(s, 0, "port")
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint16 {
		return 0, rangeError("port", s)
	}
	if v == 0 {
		return 0, syntaxError("port", s)
	}
	return uint16(v), nil
}

// parseIPAddressPort is in_addr_port_ifindex_name_from_string_auto as
// socket_address_parse calls it (no "#server name", a port required).
func parseIPAddressPort(s string) (Address, error) {
	const what = "IP address and port"
	if strings.IndexByte(s, '#') >= 0 {
		return Address{}, syntaxError(what, s)
	}
	text := s
	var zone string
	if i := strings.IndexByte(text, '%'); i >= 0 {
		zone = text[i+1:]
		if !ifnameValid(zone) {
			return Address{}, fmt.Errorf("invalid interface %q in %q: %w", zone, s, ErrSyntax)
		}
		text = text[:i]
	}
	m := strings.LastIndexByte(text, ':')
	if m < 0 { // an address without a port
		return Address{}, fmt.Errorf("%q: missing port: %w", s, ErrSyntax)
	}
	var ip netip.Addr
	var port uint16
	var err error
	if text[0] == '[' {
		if text[m-1] != ']' {
			return Address{}, syntaxError(what, s)
		}
		if port, err = parseIPPort(text[m+1:]); err != nil {
			return Address{}, err
		}
		if ip, err = parseIP6(text[1 : m-1]); err != nil {
			return Address{}, fmt.Errorf("invalid IPv6 address in %q: %w", s, ErrSyntax)
		}
	} else {
		if _, err := parseIP6(text); err == nil {
			// A bare IPv6 address parses, but has no port.
			return Address{}, fmt.Errorf("%q: missing port (IPv6 addresses go in brackets): %w", s, ErrSyntax)
		}
		ip, err = netip.ParseAddr(text[:m])
		if err != nil || !ip.Is4() {
			return Address{}, fmt.Errorf("invalid IPv4 address in %q: %w", s, ErrSyntax)
		}
		if port, err = parseIPPort(text[m+1:]); err != nil {
			return Address{}, err
		}
	}
	if ip.Is4() {
		b := ip.As4()
		return Address{Family: FamilyInet, IP: b[:], Port: port, Zone: zone}, nil
	}
	b := ip.As16()
	return Address{Family: FamilyInet6, IP: b[:], Port: port, Zone: zone}, nil
}

// parseIP6 accepts what inet_pton(AF_INET6) accepts: no zone, no IPv4.
func parseIP6(s string) (netip.Addr, error) {
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, ErrSyntax
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return ip, err
	}
	if !ip.Is6() {
		return netip.Addr{}, ErrSyntax
	}
	return ip, nil
}

// ifnameValid is systemd's ifname_valid_full with IFNAME_VALID_ALTERNATIVE
// and IFNAME_VALID_NUMERIC: a positive interface index, or a name of
// printable ASCII without ':', '/', '%', shorter than ALTIFNAMSIZ, that is
// not ".", "..", "all", "default" or all digits.
func ifnameValid(s string) bool {
	if s == "" {
		return false
	}
	if n, err := safeAtoi(s, "interface index"); err == nil && n > 0 && n <= math.MaxInt32 {
		return true // parse_ifindex
	}
	if len(s) >= 128 || s == "." || s == ".." || s == "all" || s == "default" {
		return false
	}
	numeric := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 32 || c >= 127 || c == ':' || c == '/' || c == '%' {
			return false
		}
		numeric = numeric && c >= '0' && c <= '9'
	}
	return !numeric
}

// parseNetlinkAddress is socket_address_parse_netlink: a family name (or
// number), then optionally a group number (safe_atou: leading blanks are
// fine, trailing ones are not).
func parseNetlinkAddress(s string) (Address, error) {
	name, rest, ok, err := extractWord(s, 0)
	if err != nil || !ok {
		return Address{}, syntaxError("netlink address", s)
	}
	fam, known := netlinkFamilies[name]
	if !known {
		n, err := safeAtoi(name, "netlink family")
		if err != nil || n < 0 || n > math.MaxInt32 {
			return Address{}, fmt.Errorf("unknown netlink family %q: %w", name, ErrSyntax)
		}
		fam = int(n)
	}
	var group uint64
	if rest != "" {
		if group, err = safeAtou(rest, 0, "netlink group"); err != nil {
			return Address{}, err
		}
		if group > math.MaxUint32 {
			return Address{}, rangeError("netlink group", rest)
		}
	}
	return Address{Family: FamilyNetlink, NetlinkFamily: fam, NetlinkGroup: uint32(group)}, nil
}

// String gives the address in systemd's canonical text (sockaddr_pretty and
// socket_address_print): "[::]:80" for a bare port, "127.0.0.1:8080",
// "[fe80::1]:80%eth0", "/run/x.sock", "@name", "vsock:2:1234" ("vsock::1234"
// for any CID), "route 1" for netlink. Parsing it again with the same
// ListenKind gives an address with the same String.
func (a Address) String() string {
	switch a.Family {
	case FamilyInet6Any:
		return "[::]:" + strconv.Itoa(int(a.Port))
	case FamilyInet, FamilyInet6:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return "<invalid IP>"
		}
		var s string
		if a.Family == FamilyInet {
			s = ip.Unmap().String() + ":" + strconv.Itoa(int(a.Port))
		} else {
			s = "[" + ip.String() + "]:" + strconv.Itoa(int(a.Port))
		}
		if a.Zone != "" {
			s += "%" + a.Zone
		}
		return s
	case FamilyAbstract:
		return "@" + a.Path
	case FamilyVsock:
		if a.VsockCID == VsockAnyCID {
			return "vsock::" + strconv.FormatUint(uint64(a.VsockPort), 10)
		}
		return "vsock:" + strconv.FormatUint(uint64(a.VsockCID), 10) + ":" + strconv.FormatUint(uint64(a.VsockPort), 10)
	case FamilyNetlink:
		return netlinkFamilyName(a.NetlinkFamily) + " " + strconv.FormatUint(uint64(a.NetlinkGroup), 10)
	}
	return a.Path // FamilyUnix, FamilyPath, FamilyMQueue
}

// IsFileSystem reports whether the address names a node in the file system
// that sockd creates or opens: an AF_UNIX path socket or a FamilyPath file
// (FIFO, special file, USB function directory). For Symlinks= use
// Listener.IsSymlinkTarget, which also looks at the Listen kind.
func (a Address) IsFileSystem() bool {
	return a.Family == FamilyUnix || a.Family == FamilyPath
}

// IsSymlinkTarget reports whether the listener counts for Symlinks= as
// systemd's socket_find_symlink_target: an AF_UNIX path socket or a FIFO
// (not a special file, an abstract or IP socket, a USB function).
func (l Listener) IsSymlinkTarget() bool {
	switch l.Kind {
	case ListenFIFO:
		return true
	case ListenStream, ListenDatagram, ListenSequentialPacket:
		return l.Addr.Family == FamilyUnix
	}
	return false
}
