package units

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// Errors returned (wrapped) by the value parsers, so callers can tell a
// malformed value from one that is well-formed but out of range, as systemd
// does with EINVAL and ERANGE.
var (
	ErrSyntax = errors.New("invalid syntax")
	ErrRange  = errors.New("value out of range")
)

func syntaxError(what, s string) error {
	return fmt.Errorf("invalid %s %q: %w", what, s, ErrSyntax)
}

func rangeError(what, s string) error {
	return fmt.Errorf("%s %q: %w", what, s, ErrRange)
}

// ParseBool parses a boolean as systemd's parse_boolean: case-insensitive
// 1/yes/y/true/t/on and 0/no/n/false/f/off.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, syntaxError("boolean", s)
}

// cSpace is C's isspace() in the "C" locale, which strtol and friends skip.
func cSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// strtou is C's strtoull: leading isspace, an optional sign, and base
// detection when base is 0 ("0x" hex, "0" octal). It returns the magnitude,
// whether a '-' was seen, the number of bytes consumed (0 when no digits were
// found, like endptr == nptr) and whether the magnitude overflowed.
func strtou(s string, base int) (v uint64, neg bool, n int, overflow bool) {
	i := 0
	for i < len(s) && cSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if (base == 0 || base == 16) && i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') &&
		i+2 < len(s) && digitVal(s[i+2]) < 16 {
		i += 2
		base = 16
	} else if base == 0 {
		base = 10
		if i < len(s) && s[i] == '0' {
			base = 8
		}
	}
	start := i
	for ; i < len(s); i++ {
		d := digitVal(s[i])
		if d >= base {
			break
		}
		if !overflow {
			if v > (math.MaxUint64-uint64(d))/uint64(base) {
				overflow = true
			} else {
				v = v*uint64(base) + uint64(d)
			}
		}
	}
	if i == start {
		return 0, false, 0, false
	}
	return v, neg, i, overflow
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// safeAtou is systemd's safe_atou64_full: the whole string must be a number
// (leading whitespace and '+' allowed, trailing garbage not), "-0" is 0 and
// any other negative number is out of range.
func safeAtou(s string, base int, what string) (uint64, error) {
	t := strings.TrimLeft(s, " \t\n\r")
	v, neg, n, overflow := strtou(t, base)
	if n == 0 || n != len(t) {
		return 0, syntaxError(what, s)
	}
	if overflow || (neg && v != 0) {
		return 0, rangeError(what, s)
	}
	return v, nil
}

// safeAtoi is systemd's safe_atoi64 (strtoll with base detection).
func safeAtoi(s string, what string) (int64, error) {
	t := strings.TrimLeft(s, " \t\n\r")
	v, neg, n, overflow := strtou(t, 0)
	if n == 0 || n != len(t) {
		return 0, syntaxError(what, s)
	}
	if overflow || (!neg && v > math.MaxInt64) || (neg && v > 1<<63) {
		return 0, rangeError(what, s)
	}
	if neg {
		return int64(-v), nil // two's complement: also right for 1<<63
	}
	return int64(v), nil
}

// ParseUnsigned parses an unsigned integer as systemd's safe_atou64 (used by
// config_parse_unsigned and friends): plain digits with C base detection
// ("010" is 8, "0x10" is 16), leading whitespace and '+' accepted, no
// suffixes, "-1" out of range.
func ParseUnsigned(s string) (uint64, error) {
	return safeAtou(s, 0, "unsigned integer")
}

// ParseInt parses a signed integer as systemd's safe_atoi64.
func ParseInt(s string) (int64, error) {
	return safeAtoi(s, "integer")
}

// ParseMode parses a file mode as systemd's parse_mode: octal digits only
// (no sign), at most 07777.
func ParseMode(s string) (os.FileMode, error) {
	t := strings.TrimLeft(s, " \t\n\r")
	if t != "" && (t[0] == '+' || t[0] == '-') {
		return 0, syntaxError("mode", s)
	}
	v, err := safeAtou(t, 8, "mode")
	if err != nil {
		return 0, fmt.Errorf("invalid mode %q: %w", s, errors.Unwrap(err))
	}
	if v > 0o7777 {
		return 0, rangeError("mode", s)
	}
	// os.FileMode keeps setuid/setgid/sticky in its own high bits.
	m := os.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m, nil
}

// Time units in microseconds, systemd's usec_t. A month is 30.44 days and a
// year 365.25 days, as in systemd's time-util.h.
const (
	usecPerMsec   = 1000
	usecPerSec    = 1000 * usecPerMsec
	usecPerMinute = 60 * usecPerSec
	usecPerHour   = 60 * usecPerMinute
	usecPerDay    = 24 * usecPerHour
	usecPerWeek   = 7 * usecPerDay
	usecPerMonth  = 2629800 * usecPerSec
	usecPerYear   = 31557600 * usecPerSec
	usecInfinity  = math.MaxUint64
)

// timeUnits is extract_multiplier's table; the order matters because the
// first prefix match wins ("ms" before "m", "months" before "m").
var timeUnits = []struct {
	suffix string
	usec   uint64
}{
	{"seconds", usecPerSec},
	{"second", usecPerSec},
	{"sec", usecPerSec},
	{"s", usecPerSec},
	{"minutes", usecPerMinute},
	{"minute", usecPerMinute},
	{"min", usecPerMinute},
	{"months", usecPerMonth},
	{"month", usecPerMonth},
	{"M", usecPerMonth},
	{"msec", usecPerMsec},
	{"ms", usecPerMsec},
	{"m", usecPerMinute},
	{"hours", usecPerHour},
	{"hour", usecPerHour},
	{"hr", usecPerHour},
	{"h", usecPerHour},
	{"days", usecPerDay},
	{"day", usecPerDay},
	{"d", usecPerDay},
	{"weeks", usecPerWeek},
	{"week", usecPerWeek},
	{"w", usecPerWeek},
	{"years", usecPerYear},
	{"year", usecPerYear},
	{"y", usecPerYear},
	{"usec", 1},
	{"us", 1},
	{"\u03bcs", 1}, // GREEK SMALL LETTER MU
	{"\u00b5s", 1}, // MICRO SIGN
}

func skipWS(s string) string { return strings.TrimLeft(s, " \t\n\r") }

// parseTimeUsec is systemd's parse_time(): the result is in microseconds,
// usecInfinity for "infinity"; defUnit applies to numbers without a unit.
func parseTimeUsec(t string, defUnit uint64) (uint64, error) {
	const what = "time span"
	p := skipWS(t)
	if rest, ok := strings.CutPrefix(p, "infinity"); ok {
		if skipWS(rest) != "" {
			return 0, syntaxError(what, t)
		}
		return usecInfinity, nil
	}
	var usec uint64
	something := false
	for {
		p = skipWS(p)
		if p == "" {
			if !something {
				return 0, syntaxError(what, t)
			}
			return usec, nil
		}
		if p[0] == '-' { // not even "-0"
			return 0, rangeError(what, t)
		}
		l, neg, n, overflow := strtou(p, 10)
		if overflow || (!neg && l > math.MaxInt64) || (neg && l > 1<<63) {
			return 0, rangeError(what, t)
		}
		if neg && l != 0 {
			return 0, rangeError(what, t)
		}
		e := p[n:] // n == 0: no digits, e == p
		var frac string
		if e != "" && e[0] == '.' {
			q := e[1:]
			i := 0
			for i < len(q) && q[i] >= '0' && q[i] <= '9' {
				i++
			}
			frac = q[:i]
			p = q[i:]
			if frac == "" { // "3.", "3.s", "0.-0"
				return 0, syntaxError(what, t)
			}
		} else if n == 0 {
			return 0, syntaxError(what, t)
		} else {
			p = e
		}
		mult := defUnit
		q := skipWS(p)
		s := q
		for _, u := range timeUnits {
			if rest, ok := strings.CutPrefix(q, u.suffix); ok {
				mult, s = u.usec, rest
				break
			}
		}
		if len(s) == len(p) && s != "" { // "12.34.56", "5x"
			return 0, syntaxError(what, t)
		}
		p = s
		if l >= usecInfinity/mult {
			return 0, rangeError(what, t)
		}
		k := l * mult
		if k >= usecInfinity-usec {
			return 0, rangeError(what, t)
		}
		usec += k
		something = true
		m := mult / 10
		for i := 0; i < len(frac); i++ {
			k := uint64(frac[i]-'0') * m
			if k >= usecInfinity-usec {
				return 0, rangeError(what, t)
			}
			usec += k
			m /= 10
		}
	}
}

// ParseTimespan parses a time span as systemd's parse_sec: a bare number is
// seconds; parts with units (us, ms, s, min, h, d, w, M, y and their long
// forms) are summed, with or without spaces ("1min 30s", "55s500ms");
// decimal fractions are accepted ("1.5s"); "infinity" gives [Infinity].
// Negative values and values beyond time.Duration's range (about 292
// years, less than systemd's 584 000 years) are errors.
func ParseTimespan(s string) (time.Duration, error) {
	usec, err := parseTimeUsec(s, usecPerSec)
	if err != nil {
		return 0, err
	}
	if usec == usecInfinity {
		return Infinity, nil
	}
	if usec > uint64(math.MaxInt64/time.Microsecond) {
		return 0, rangeError("time span", s)
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// sizeUnits is parse_size's IEC table, largest first: parts of a size must
// come in decreasing order ("1G 512M"), as in systemd.
var sizeUnits = []struct {
	suffix string
	factor uint64
}{
	{"E", 1 << 60},
	{"P", 1 << 50},
	{"T", 1 << 40},
	{"G", 1 << 30},
	{"M", 1 << 20},
	{"K", 1 << 10},
	{"B", 1},
	{"", 1},
}

// ParseSize parses a byte size as systemd's parse_size with base 1024: a
// number with an optional fraction and an optional suffix B, K, M, G, T, P, E
// ("64M", "1.5G"); several parts in decreasing order are summed.
func ParseSize(s string) (uint64, error) {
	const what = "size"
	var r uint64
	p := s
	start := 0
	for {
		p = skipWS(p)
		l, neg, n, overflow := strtou(p, 10)
		if n == 0 {
			return 0, syntaxError(what, s)
		}
		if p[0] == '-' || overflow {
			return 0, rangeError(what, s)
		}
		if neg { // "\v-1": strtoull negates, and systemd does not notice
			l = -l
		}
		e := p[n:]
		frac := 0.0
		if e != "" && e[0] == '.' {
			e = e[1:]
			i := 0
			for i < len(e) && e[i] >= '0' && e[i] <= '9' {
				i++
			}
			if i > 0 {
				l2, _, _, of := strtou(e[:i], 10)
				if of {
					return 0, rangeError(what, s)
				}
				frac = float64(l2)
				for j := 0; j < i; j++ {
					frac /= 10
				}
				e = e[i:]
			}
		}
		e = skipWS(e)
		i := start
		for ; i < len(sizeUnits); i++ {
			if strings.HasPrefix(e, sizeUnits[i].suffix) {
				break
			}
		}
		if i >= len(sizeUnits) {
			return 0, syntaxError(what, s)
		}
		f := sizeUnits[i].factor
		var one uint64
		if frac > 0 {
			one = 1
		}
		if l+one < l || l+one > math.MaxUint64/f {
			return 0, rangeError(what, s)
		}
		tmp := l*f + uint64(frac*float64(f))
		if tmp > math.MaxUint64-r {
			return 0, rangeError(what, s)
		}
		r += tmp
		p = e[len(sizeUnits[i].suffix):]
		start = i + 1
		if p == "" {
			return r, nil
		}
	}
}

// Linux signal numbers by name, as systemd's signal_to_string table.
var signalNames = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7,
	"FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13,
	"ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
	"TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
	"VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
}

// glibc's SIGRTMIN/SIGRTMAX (it reserves 32 and 33 for itself); _NSIG is 65.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal parses a signal as systemd's signal_from_string: a number
// 1..64, a name with or without "SIG" (case-sensitive: "TERM", "SIGTERM"),
// or RTMIN, RTMIN+n, RTMAX, RTMAX-n.
func ParseSignal(s string) (int, error) {
	const what = "signal"
	if n, err := safeAtoi(s, what); err == nil {
		if n < 1 || n > sigRTMax {
			return 0, rangeError(what, s)
		}
		return int(n), nil
	}
	name := strings.TrimPrefix(s, "SIG")
	if n, ok := signalNames[name]; ok {
		return n, nil
	}
	rt := func(rest string, base, sign int) (int, error) {
		if rest == "" {
			return base, nil
		}
		if rest[0] != byte("-+"[(sign+1)/2]) {
			return 0, syntaxError(what, s)
		}
		k, err := safeAtou(rest[1:], 10, what)
		if err != nil {
			return 0, fmt.Errorf("invalid %s %q: %w", what, s, errors.Unwrap(err))
		}
		if k > sigRTMax-sigRTMin {
			return 0, rangeError(what, s)
		}
		return base + sign*int(k), nil
	}
	if rest, ok := strings.CutPrefix(name, "RTMIN"); ok {
		return rt(rest, sigRTMin, 1)
	}
	if rest, ok := strings.CutPrefix(name, "RTMAX"); ok {
		return rt(rest, sigRTMax, -1)
	}
	return 0, syntaxError(what, s)
}

// exitStatusNames are systemd's exit_status_mappings names (libc, LSB,
// BSD sysexits and systemd's own 2xx codes).
var exitStatusNames = map[string]int{
	"SUCCESS": 0, "FAILURE": 1, "INVALIDARGUMENT": 2, "NOTIMPLEMENTED": 3,
	"NOPERMISSION": 4, "NOTINSTALLED": 5, "NOTCONFIGURED": 6, "NOTRUNNING": 7,
	"USAGE": 64, "DATAERR": 65, "NOINPUT": 66, "NOUSER": 67, "NOHOST": 68,
	"UNAVAILABLE": 69, "SOFTWARE": 70, "OSERR": 71, "OSFILE": 72,
	"CANTCREAT": 73, "IOERR": 74, "TEMPFAIL": 75, "PROTOCOL": 76,
	"NOPERM": 77, "CONFIG": 78,
	"CHDIR": 200, "NICE": 201, "FDS": 202, "EXEC": 203, "MEMORY": 204,
	"LIMITS": 205, "OOM_ADJUST": 206, "SIGNAL_MASK": 207, "STDIN": 208,
	"STDOUT": 209, "CHROOT": 210, "IOPRIO": 211, "TIMERSLACK": 212,
	"SECUREBITS": 213, "SETSCHEDULER": 214, "CPUAFFINITY": 215, "GROUP": 216,
	"USER": 217, "CAPABILITIES": 218, "CGROUP": 219, "SETSID": 220,
	"CONFIRM": 221, "STDERR": 222, "PAM": 224, "NETWORK": 225,
	"NAMESPACE": 226, "NO_NEW_PRIVILEGES": 227, "SECCOMP": 228,
	"SELINUX_CONTEXT": 229, "PERSONALITY": 230, "APPARMOR_PROFILE": 231,
	"ADDRESS_FAMILIES": 232, "RUNTIME_DIRECTORY": 233, "CHOWN": 235,
	"SMACK_PROCESS_LABEL": 236, "KEYRING": 237, "STATE_DIRECTORY": 238,
	"CACHE_DIRECTORY": 239, "LOGS_DIRECTORY": 240, "CONFIGURATION_DIRECTORY": 241,
	"NUMA_POLICY": 242, "CREDENTIALS": 243, "BPF": 245,
	"EXCEPTION": 255,
}

// ParseExitStatusSet parses SuccessExitStatus= and friends as systemd's
// config_parse_set_status: whitespace-separated exit codes 0..255 (decimal),
// exit status names ("TEMPFAIL"; "EXIT_TEMPFAIL" is not a name) and signals
// ("SIGKILL", "KILL"). A word that parses as an exit status is one, so "15"
// is exit code 15, never SIGTERM. systemd skips a bad word with a warning
// and keeps the others: on error the returned set still holds the valid
// words, and the error names every bad one.
func ParseExitStatusSet(s string) (ExitStatusSet, error) {
	var set ExitStatusSet
	var bad []string
	for _, w := range strings.Fields(s) {
		if n, ok := exitStatusNames[w]; ok {
			set.Codes = appendUnique(set.Codes, n)
			continue
		}
		if n, err := safeAtou(w, 10, "exit status"); err == nil {
			if n > 255 {
				bad = append(bad, w)
				continue
			}
			set.Codes = appendUnique(set.Codes, int(n))
			continue
		}
		sig, err := ParseSignal(w)
		if err != nil {
			bad = append(bad, w)
			continue
		}
		set.Signals = appendUnique(set.Signals, sig)
	}
	if bad != nil {
		return set, fmt.Errorf("invalid exit status or signal %s: %w", strings.Join(bad, ", "), ErrSyntax)
	}
	return set, nil
}

func appendUnique(l []int, n int) []int {
	for _, x := range l {
		if x == n {
			return l
		}
	}
	return append(l, n)
}

// Linux resource numbers (RLIMIT_*, identical on the common Linux
// architectures); the keys of ExecContext.Limits.
const (
	rlimitCPU        = 0
	rlimitFSIZE      = 1
	rlimitDATA       = 2
	rlimitSTACK      = 3
	rlimitCORE       = 4
	rlimitRSS        = 5
	rlimitNPROC      = 6
	rlimitNOFILE     = 7
	rlimitMEMLOCK    = 8
	rlimitAS         = 9
	rlimitLOCKS      = 10
	rlimitSIGPENDING = 11
	rlimitMSGQUEUE   = 12
	rlimitNICE       = 13
	rlimitRTPRIO     = 14
	rlimitRTTIME     = 15
)

var rlimitDirectives = map[string]int{
	"LimitCPU": rlimitCPU, "LimitFSIZE": rlimitFSIZE, "LimitDATA": rlimitDATA,
	"LimitSTACK": rlimitSTACK, "LimitCORE": rlimitCORE, "LimitRSS": rlimitRSS,
	"LimitNPROC": rlimitNPROC, "LimitNOFILE": rlimitNOFILE,
	"LimitMEMLOCK": rlimitMEMLOCK, "LimitAS": rlimitAS, "LimitLOCKS": rlimitLOCKS,
	"LimitSIGPENDING": rlimitSIGPENDING, "LimitMSGQUEUE": rlimitMSGQUEUE,
	"LimitNICE": rlimitNICE, "LimitRTPRIO": rlimitRTPRIO, "LimitRTTIME": rlimitRTTIME,
}

// RlimitResource maps a directive name ("LimitNOFILE") to its Linux
// resource number (RLIMIT_NOFILE), the key of ExecContext.Limits.
func RlimitResource(directive string) (int, bool) {
	r, ok := rlimitDirectives[directive]
	return r, ok
}

// ParseRlimit parses a Limit*= value as systemd's rlimit_parse: "N" (soft =
// hard) or "SOFT:HARD", each "infinity" or a value whose syntax depends on
// the resource: a byte size for the byte-valued limits (LimitAS, LimitCORE,
// LimitDATA, LimitFSIZE, LimitMEMLOCK, LimitMSGQUEUE, LimitRSS,
// LimitSTACK), a time span in seconds (rounded up) for LimitCPU, a time span
// in microseconds for LimitRTTIME, a nice level (-20..19, or +0..+19) or a
// raw value 0..40 for LimitNICE, and a plain number otherwise. A soft limit
// above the hard one is an error.
func ParseRlimit(resource int, s string) (Rlimit, error) {
	if resource < 0 || resource > rlimitRTTIME {
		return Rlimit{}, fmt.Errorf("unknown resource limit %d", resource)
	}
	softText, hardText, hasHard := strings.Cut(s, ":")
	if hasHard && (hardText == "" || strings.Contains(hardText, ":")) {
		return Rlimit{}, syntaxError("resource limit", s)
	}
	soft, err := parseRlimitOne(resource, softText)
	if err != nil {
		return Rlimit{}, err
	}
	hard := soft
	if hasHard && hardText != "" {
		if hard, err = parseRlimitOne(resource, hardText); err != nil {
			return Rlimit{}, err
		}
		if soft > hard {
			return Rlimit{}, fmt.Errorf("resource limit %q: soft limit above hard limit: %w", s, ErrRange)
		}
	}
	return Rlimit{Soft: soft, Hard: hard}, nil
}

func parseRlimitOne(resource int, s string) (uint64, error) {
	const what = "resource limit"
	if s == "infinity" {
		return RlimInfinity, nil
	}
	var v uint64
	var err error
	switch resource {
	case rlimitFSIZE, rlimitDATA, rlimitSTACK, rlimitCORE, rlimitRSS, rlimitAS, rlimitMEMLOCK, rlimitMSGQUEUE:
		v, err = ParseSize(s)
	case rlimitCPU:
		if v, err = parseTimeUsec(s, usecPerSec); err == nil {
			if v == usecInfinity {
				return RlimInfinity, nil
			}
			v = v/usecPerSec + min(v%usecPerSec, 1) // DIV_ROUND_UP
		}
	case rlimitRTTIME:
		if v, err = parseTimeUsec(s, 1); err == nil && v == usecInfinity {
			return RlimInfinity, nil
		}
	case rlimitNICE:
		return parseRlimitNice(s)
	default:
		v, err = ParseUnsigned(s)
	}
	if err != nil {
		return 0, err
	}
	if v >= RlimInfinity {
		return 0, rangeError(what, s)
	}
	return v, nil
}

// parseRlimitNice: the kernel's RLIMIT_NICE is 20-nice (1..40, where 0 is
// the kernel default). "+N" is nice level N (0..19), "-N" nice level -N
// (down to -20), an unsigned value the raw limit (0..40).
func parseRlimitNice(s string) (uint64, error) {
	const what = "nice limit"
	if s != "" && (s[0] == '+' || s[0] == '-') {
		n, err := safeAtou(s[1:], 0, what)
		if err != nil {
			return 0, fmt.Errorf("invalid %s %q: %w", what, s, errors.Unwrap(err))
		}
		if s[0] == '+' {
			if n >= 20 {
				return 0, rangeError(what, s)
			}
			return 20 - n, nil
		}
		if n > 20 {
			return 0, rangeError(what, s)
		}
		return 20 + n, nil
	}
	v, err := ParseUnsigned(s)
	if err != nil {
		return 0, err
	}
	if v > 40 {
		return 0, rangeError(what, s)
	}
	return v, nil
}
