package notify

import (
	"errors"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the protocol, as in systemd.
const (
	// MaxPayload is the largest datagram payload accepted (systemd's
	// NOTIFY_BUFFER_MAX, which is PIPE_BUF). Longer datagrams are dropped.
	MaxPayload = 4096
	// MaxFDs is the number of descriptors the control buffer has room for
	// (systemd's NOTIFY_FD_MAX). The kernel itself passes at most 253
	// (SCM_MAX_FD) per sendmsg.
	MaxFDs = 768
	// MaxFDNameLen is the longest valid FDNAME= (systemd's FDNAME_MAX).
	MaxFDNameLen = 255
)

// Errors returned by [Parse].
var (
	// ErrEmbeddedNUL reports a NUL byte before the last byte of a payload.
	ErrEmbeddedNUL = errors.New("notify: payload contains an embedded NUL byte")
	// ErrTrailingBackslash reports a payload whose last character is an
	// unescaped backslash, which systemd's strv_split_newlines refuses.
	ErrTrailingBackslash = errors.New("notify: payload ends in an unpaired backslash")
)

// Field is one KEY=VALUE line of a notification.
type Field struct {
	Key   string
	Value string
}

// Message is one notification datagram that passed validation.
type Message struct {
	// PID, UID and GID of the sender, from SCM_CREDENTIALS as verified by
	// the kernel. PID is always > 0.
	PID, UID, GID int
	// Fields are the KEY=VALUE lines in the order sent, including unknown
	// keys (private ones should start with X_).
	Fields []Field
	// Ignored are the lines that are not KEY=VALUE with a valid key (see
	// [Parse]). systemd ignores them as well; they are kept for logging.
	Ignored []string
	// FDs are the SCM_RIGHTS descriptors (close-on-exec). They are only
	// present when the message carries FDSTORE=1 and no FDSTOREREMOVE=1;
	// the receiver closes every other descriptor before delivery. The
	// consumer owns them and must close the ones it does not keep (for
	// example when the fd store is disabled or full).
	FDs []int
}

// Parse splits a notification payload into fields the way systemd does
// (manager_dispatch_notify_fd: memchr check, then strv_split_newlines):
//
//   - A NUL byte anywhere but at the very end is an error ([ErrEmbeddedNUL]);
//     a single trailing NUL is ignored.
//   - Lines are separated by any run of '\n' and '\r'; empty lines vanish.
//     strv_split_newlines uses extract_first_word with no flags, so a
//     backslash escapes the next byte: the backslash is dropped and the byte
//     is kept literally, even a newline ("A=x\\\ny" is the one line
//     "A=x\ny"). A backslash at the very end is an error
//     ([ErrTrailingBackslash]); systemd drops such a message.
//   - A line is a field if it has a '=' and the part before the first '=' is
//     a valid key: ASCII letters, digits and '_', not starting with a digit
//     (systemd's env_name_is_valid). Every other line is returned in
//     ignored. systemd does not validate keys, it only acts on exact known
//     tags such as "READY=1", all of which are valid keys, so this split
//     loses nothing systemd would act on.
//
// Every line ends up in exactly one of fields and ignored, in order.
func Parse(payload []byte) (fields []Field, ignored []string, err error) {
	if n := len(payload); n > 0 {
		if payload[n-1] == 0 {
			payload = payload[:n-1]
		}
		for _, c := range payload {
			if c == 0 {
				return nil, nil, ErrEmbeddedNUL
			}
		}
	}
	lines, err := splitNewlines(payload)
	if err != nil {
		return nil, nil, err
	}
	for _, line := range lines {
		if key, value, ok := strings.Cut(line, "="); ok && validKey(key) {
			fields = append(fields, Field{Key: key, Value: value})
		} else {
			ignored = append(ignored, line)
		}
	}
	return fields, ignored, nil
}

// splitNewlines mirrors strv_split_newlines (strv_split_full with separators
// NEWLINE and flags 0, i.e. extract_first_word coalescing separators and
// treating '\\' as an escape for the next byte).
func splitNewlines(p []byte) ([]string, error) {
	var lines []string
	var word []byte
	i := 0
	for {
		for i < len(p) && isNewline(p[i]) {
			i++
		}
		if i == len(p) {
			return lines, nil
		}
		word = word[:0]
		for i < len(p) && !isNewline(p[i]) {
			if p[i] == '\\' {
				i++
				if i == len(p) {
					return nil, ErrTrailingBackslash
				}
			}
			word = append(word, p[i])
			i++
		}
		lines = append(lines, string(word))
	}
}

func isNewline(c byte) bool { return c == '\n' || c == '\r' }

// validKey reports whether s is a valid key: systemd's env_name_is_valid
// (letters, digits and '_', not empty, not starting with a digit).
func validKey(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// ValidFDName reports whether s may be used as a file descriptor name
// (FDNAME=, FileDescriptorName=, an entry of $LISTEN_FDNAMES): at most 255
// printable ASCII characters, no ':'. The empty string is valid, as in
// systemd's fdname_is_valid.
func ValidFDName(s string) bool {
	if len(s) > MaxFDNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// Get returns the value of the first field named key (strv_find_startswith).
func (m *Message) Get(key string) (string, bool) {
	for _, f := range m.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Has reports whether some field is exactly key=value (strv_contains).
func (m *Message) Has(key, value string) bool {
	for _, f := range m.Fields {
		if f.Key == key && f.Value == value {
			return true
		}
	}
	return false
}

// Ready reports READY=1. systemd gives STOPPING=1 precedence over READY=1,
// and READY=1 over RELOADING=1 (READY=1 together with RELOADING=1 means a
// reload that already finished).
func (m *Message) Ready() bool { return m.Has("READY", "1") }

// Stopping reports STOPPING=1.
func (m *Message) Stopping() bool { return m.Has("STOPPING", "1") }

// Reloading reports RELOADING=1.
func (m *Message) Reloading() bool { return m.Has("RELOADING", "1") }

// Status returns STATUS=. ok is true whenever the field is present; text is
// empty when the service clears its status (STATUS= with an empty value) and
// also when the value is not valid UTF-8, which systemd treats the same way
// (the status text is reset).
func (m *Message) Status() (text string, ok bool) {
	v, ok := m.Get("STATUS")
	if !ok {
		return "", false
	}
	if !utf8.ValidString(v) {
		return "", true
	}
	return v, true
}

// MainPID returns MAINPID= if it is a valid PID (> 0). The consumer must still
// refuse 1, PIDs that do not exist and, for unprivileged senders, PIDs outside
// the service (systemd's service_is_suitable_main_pid).
func (m *Message) MainPID() (int, bool) {
	v, ok := m.Get("MAINPID")
	if !ok {
		return 0, false
	}
	n, ok := parseUint(v, math.MaxInt32)
	if !ok || n == 0 {
		return 0, false
	}
	return int(n), true
}

// Watchdog reports WATCHDOG=1 (keep-alive). Only the first WATCHDOG= field
// counts.
func (m *Message) Watchdog() bool {
	v, ok := m.Get("WATCHDOG")
	return ok && v == "1"
}

// WatchdogTrigger reports WATCHDOG=trigger (act as if the watchdog expired).
func (m *Message) WatchdogTrigger() bool {
	v, ok := m.Get("WATCHDOG")
	return ok && v == "trigger"
}

// WatchdogUsec returns WATCHDOG_USEC= (a new watchdog timeout). See
// [Message.ExtendTimeout] for the conversion.
func (m *Message) WatchdogUsec() (time.Duration, bool) { return m.usec("WATCHDOG_USEC") }

// ExtendTimeout returns EXTEND_TIMEOUT_USEC=. Values too large for a
// time.Duration (including systemd's USEC_INFINITY) become math.MaxInt64.
func (m *Message) ExtendTimeout() (time.Duration, bool) { return m.usec("EXTEND_TIMEOUT_USEC") }

// MonotonicUsec returns MONOTONIC_USEC= (CLOCK_MONOTONIC in microseconds,
// sent with RELOADING=1 by Type=notify-reload services).
func (m *Message) MonotonicUsec() (uint64, bool) {
	v, ok := m.Get("MONOTONIC_USEC")
	if !ok {
		return 0, false
	}
	return parseUint(v, math.MaxUint64)
}

// FDStore reports FDSTORE=1. [Message.FDs] holds the descriptors to store.
func (m *Message) FDStore() bool { return m.Has("FDSTORE", "1") }

// FDStoreRemove reports FDSTOREREMOVE=1, which wins over FDSTORE=1 and
// needs a valid FDNAME= naming the entries to remove.
func (m *Message) FDStoreRemove() bool { return m.Has("FDSTOREREMOVE", "1") }

// FDName returns the first FDNAME= if it is valid ([ValidFDName]). ok is
// false when it is missing or invalid. As in systemd, an invalid name does
// not void FDSTORE=1: the descriptors are stored under the default name
// "stored"; FDSTOREREMOVE=1 without a valid name is ignored.
func (m *Message) FDName() (name string, ok bool) {
	v, ok := m.Get("FDNAME")
	if !ok || !ValidFDName(v) {
		return "", false
	}
	return v, true
}

// FDPoll reports whether stored descriptors should be watched for
// POLLHUP/POLLERR, i.e. false only when FDPOLL=0 is present.
func (m *Message) FDPoll() bool { return !m.Has("FDPOLL", "0") }

// Errno returns ERRNO= when it is a valid errno value (0 to 4095, systemd's
// parse_errno).
func (m *Message) Errno() (int, bool) {
	v, ok := m.Get("ERRNO")
	if !ok {
		return 0, false
	}
	n, ok := parseUint(v, 4095)
	return int(n), ok
}

// Barrier reports BARRIER=1. A [Listener] never delivers such messages;
// this is for callers of [Parse].
func (m *Message) Barrier() bool { return m.Has("BARRIER", "1") }

func (m *Message) usec(key string) (time.Duration, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	n, ok := parseUint(v, math.MaxUint64)
	if !ok {
		return 0, false
	}
	if n > math.MaxInt64/uint64(time.Microsecond) {
		return math.MaxInt64, true
	}
	return time.Duration(n) * time.Microsecond, true
}

// parseUint parses a plain decimal number no larger than limit. It is
// stricter than systemd's safe_atou64 (no leading blanks, '+' or base
// prefixes), which no sd_notify client produces.
func parseUint(s string, limit uint64) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if n > limit {
		return 0, false
	}
	return n, true
}
