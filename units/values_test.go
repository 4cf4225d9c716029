package units

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	for _, s := range []string{"1", "yes", "y", "true", "t", "on", "YES", "On", "TRUE"} {
		if v, err := ParseBool(s); err != nil || !v {
			t.Errorf("ParseBool(%q) = %v, %v; want true", s, v, err)
		}
	}
	for _, s := range []string{"0", "no", "n", "false", "f", "off", "NO", "Off"} {
		if v, err := ParseBool(s); err != nil || v {
			t.Errorf("ParseBool(%q) = %v, %v; want false", s, v, err)
		}
	}
	for _, s := range []string{"", "2", "yess", " yes", "enable", "nope"} {
		if _, err := ParseBool(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseBool(%q) error = %v; want ErrSyntax", s, err)
		}
	}
}

// Cases from systemd's test-time-util.c (test_parse_sec) plus the values
// checked against systemd-analyze verify (v252).
func TestParseTimespan(t *testing.T) {
	const us = time.Microsecond
	tests := []struct {
		in   string
		want time.Duration
		err  error
	}{
		{"5s", 5 * time.Second, nil},
		{"5s500ms", 5500 * time.Millisecond, nil},
		{" 5.5s  ", 5500 * time.Millisecond, nil},
		{" 5.5s 0.5ms ", 5500500 * us, nil},
		{" .22s ", 220 * time.Millisecond, nil},
		{" .50y ", 31557600 / 2 * time.Second, nil},
		{"2.5", 2500 * time.Millisecond, nil},
		{".7", 700 * time.Millisecond, nil},
		{"23us", 23 * us, nil},
		{"23µs", 23 * us, nil},
		{"23μs", 23 * us, nil},
		{"23usec", 23 * us, nil},
		{"infinity", Infinity, nil},
		{" infinity ", Infinity, nil},
		{"+3.1s", 3100 * time.Millisecond, nil},
		{"3.1s.2", 3300 * time.Millisecond, nil},
		{"12.34 .56", 12900 * time.Millisecond, nil}, // "12.34 .56": 12.34s + 0.56s
		{"0", 0, nil},
		{"90", 90 * time.Second, nil},
		{"1min 30s", 90 * time.Second, nil},
		{"1min30s", 90 * time.Second, nil},
		{"55s500ms", 55500 * time.Millisecond, nil},
		{"2h", 2 * time.Hour, nil},
		{"1.5 h", 90 * time.Minute, nil},
		{"5 6", 11 * time.Second, nil}, // systemd sums bare numbers too
		{"1m", time.Minute, nil},
		{"1M", 2629800 * time.Second, nil},
		{"1month", 2629800 * time.Second, nil},
		{"1y", 31557600 * time.Second, nil},
		{"2 weeks", 14 * 24 * time.Hour, nil},
		{"1d 1hr 1minute 1sec 1msec", 24*time.Hour + time.Hour + time.Minute + time.Second + time.Millisecond, nil},
		{"1.999999999s", 1999999 * us, nil}, // beyond microseconds is dropped
		{"3.1 .2", 3300 * time.Millisecond, nil},
		{"3.1 sec .2 sec", 3300 * time.Millisecond, nil},
		{"3.1 sec 1.2 sec", 4300 * time.Millisecond, nil},
		{"", 0, ErrSyntax},
		{"   ", 0, ErrSyntax},
		{" xyz ", 0, ErrSyntax},
		{" . ", 0, ErrSyntax},
		{" 5. ", 0, ErrSyntax},
		{".s ", 0, ErrSyntax},
		{"-0.3s ", 0, ErrRange},
		{"-0.0s ", 0, ErrRange},
		{"-0.-0s ", 0, ErrRange},
		{"0.-0s ", 0, ErrSyntax},
		{"3.-0s ", 0, ErrSyntax},
		{"3.+1s", 0, ErrSyntax},
		{"3. 1s", 0, ErrSyntax},
		{"12..34", 0, ErrSyntax},
		{"..1234", 0, ErrSyntax},
		{"1234..", 0, ErrSyntax},
		{"-5s", 0, ErrRange},
		{" -0s", 0, ErrRange},
		{"-0", 0, ErrRange},
		{" infinity .7", 0, ErrSyntax},
		{".3 infinity", 0, ErrSyntax},
		{" +.3 ", 0, ErrSyntax},
		{"3.+1", 0, ErrSyntax},
		{"3. 1", 0, ErrSyntax},
		{"3.-1", 0, ErrSyntax},
		{"3.s", 0, ErrSyntax},
		{"12.34.56", 0, ErrSyntax},
		{"5x", 0, ErrSyntax},
		{"5 x", 0, ErrSyntax},
		{"s", 0, ErrSyntax},
		{"1h-1m", 0, ErrRange},
		{"300y", 0, ErrRange},    // beyond time.Duration
		{"600000y", 0, ErrRange}, // beyond usec_t as well
		{"99999999999999999999", 0, ErrRange},
	}
	for _, tt := range tests {
		got, err := ParseTimespan(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseTimespan(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTimespan(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// Cases from systemd's test-parse-util.c (test_parse_size).
func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  error
	}{
		{"111", 111, nil},
		{"111.4", 111, nil},
		{" 112 B", 112, nil},
		{" 112.6 B", 112, nil},
		{"3.5 K", 3*1024 + 512, nil},
		{"3. K", 3 * 1024, nil},
		{"3.0 K", 3 * 1024, nil},
		{"3. 0 K", 0, ErrSyntax},
		{" 4 M 11.5K", 4*1024*1024 + 11*1024 + 512, nil},
		{"3B3.5G", 0, ErrSyntax},
		{"3.5G3B", 3*1024*1024*1024 + 512*1024*1024 + 3, nil},
		{"3.5G 4B", 3*1024*1024*1024 + 512*1024*1024 + 4, nil},
		{"3B3G", 0, ErrSyntax},
		{"4B4", 8, nil}, // "B" then the empty suffix, as systemd
		{"3B3G4T", 0, ErrSyntax},
		{"4T3G3B", (4*1024+3)<<30 + 3, nil},
		{" 4 T 3 G 3 B", (4*1024+3)<<30 + 3, nil},
		{"12P", 12 << 50, nil},
		{"12P12P", 0, ErrSyntax},
		{"3E 2P", 3<<60 + 2<<50, nil},
		{"12X", 0, ErrSyntax},
		{"12.5X", 0, ErrSyntax},
		{"12.5e3", 0, ErrSyntax},
		{"1024E", 0, ErrRange},
		{"-1", 0, ErrRange},
		{"-1024E", 0, ErrRange},
		{"-1024P", 0, ErrRange},
		{"-10B 20K", 0, ErrRange},
		{"1G 512M", 1<<30 + 512<<20, nil},
		{"512M 1G", 0, ErrSyntax},
		{"1.5G", 3 << 29, nil},
		{"64M", 64 << 20, nil},
		{"1K", 1024, nil},
		{"0x10", 0, ErrSyntax},
		{"+5", 5, nil},
		{"", 0, ErrSyntax},
		{".5K", 0, ErrSyntax},
		{"18446744073709551615", 18446744073709551615, nil},
		{"18446744073709551616", 0, ErrRange},
		{"15E", 15 << 60, nil},
		{"16E", 0, ErrRange},
		{"15.99E", 0, ErrRange}, // l + 1 > max/factor
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseSize(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want os.FileMode
		err  error
	}{
		{"0660", 0o660, nil},
		{"660", 0o660, nil},
		{"0", 0, nil},
		{"777", 0o777, nil},
		{"0644", 0o644, nil},
		{"4755", os.ModeSetuid | 0o755, nil},
		{"2775", os.ModeSetgid | 0o775, nil},
		{"1777", os.ModeSticky | 0o777, nil},
		{"7777", os.ModeSetuid | os.ModeSetgid | os.ModeSticky | 0o777, nil},
		{" 0644", 0o644, nil},
		{"10000", 0, ErrRange},
		{"888", 0, ErrSyntax},
		{"0669", 0, ErrSyntax},
		{"-0", 0, ErrSyntax},
		{"+022", 0, ErrSyntax},
		{"0x1ff", 0, ErrSyntax},
		{"rw", 0, ErrSyntax},
		{"", 0, ErrSyntax},
		{"0644 ", 0, ErrSyntax},
		{"77777777777777777777777777", 0, ErrRange},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseMode(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// Cases from test-parse-util.c (test_safe_atou*, test_safe_atoi*).
func TestParseUnsignedInt(t *testing.T) {
	utests := []struct {
		in   string
		want uint64
		err  error
	}{
		{"12345", 12345, nil},
		{"  12345", 12345, nil},
		{"+12345", 12345, nil},
		{"  +12345", 12345, nil},
		{"-0", 0, nil},
		{"010", 8, nil},   // C base detection, as systemd's safe_atou
		{"0x10", 16, nil}, // checked: Backlog=0x10 is accepted by systemd
		{"0", 0, nil},
		{"18446744073709551615", 18446744073709551615, nil},
		{"18446744073709551616", 0, ErrRange},
		{"-1", 0, ErrRange},
		{"  -1", 0, ErrRange},
		{"12345 ", 0, ErrSyntax},
		{"1K", 0, ErrSyntax},
		{"junk", 0, ErrSyntax},
		{"123x", 0, ErrSyntax},
		{"12.3", 0, ErrSyntax},
		{"", 0, ErrSyntax},
		{"0x", 0, ErrSyntax},
		{"09", 0, ErrSyntax},
	}
	for _, tt := range utests {
		got, err := ParseUnsigned(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseUnsigned(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseUnsigned(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	itests := []struct {
		in   string
		want int64
		err  error
	}{
		{"-12345", -12345, nil},
		{"  -12345", -12345, nil},
		{"+12345", 12345, nil},
		{"-0x10", -16, nil},
		{"9223372036854775807", 9223372036854775807, nil},
		{"-9223372036854775808", -9223372036854775808, nil},
		{"9223372036854775808", 0, ErrRange},
		{"-9223372036854775809", 0, ErrRange},
		{"--1", 0, ErrSyntax},
		{"12 ", 0, ErrSyntax},
		{"", 0, ErrSyntax},
	}
	for _, tt := range itests {
		got, err := ParseInt(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseInt(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseInt(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"SIGTERM", 15, true},
		{"TERM", 15, true},
		{"15", 15, true},
		{"SIGKILL", 9, true},
		{"HUP", 1, true},
		{"SIGWINCH", 28, true},
		{"RTMIN", 34, true},
		{"SIGRTMIN+3", 37, true},
		{"RTMAX", 64, true},
		{"RTMAX-2", 62, true},
		{"RTMIN+30", 64, true},
		{"64", 64, true},
		{"0x9", 9, true},
		{"RTMIN+31", 0, false},
		{"RTMIN-1", 0, false},
		{"RTMAX+1", 0, false},
		{"0", 0, false},
		{"65", 0, false},
		{"-1", 0, false},
		{"sigterm", 0, false},
		{"term", 0, false},
		{"SIG", 0, false},
		{"SIGSIGTERM", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseExitStatusSet(t *testing.T) {
	tests := []struct {
		in   string
		want ExitStatusSet
		ok   bool
	}{
		{"", ExitStatusSet{}, true},
		{"0 1 255", ExitStatusSet{Codes: []int{0, 1, 255}}, true},
		{"TEMPFAIL 250 SIGKILL", ExitStatusSet{Codes: []int{75, 250}, Signals: []int{9}}, true},
		{"15 TERM SIGTERM 15", ExitStatusSet{Codes: []int{15}, Signals: []int{15}}, true},
		{"SUCCESS FAILURE EXCEPTION", ExitStatusSet{Codes: []int{0, 1, 255}}, true},
		{"256", ExitStatusSet{}, false},
		{"-1", ExitStatusSet{}, false},
		{"bogus", ExitStatusSet{}, false},
		{"1 bogus SIGHUP 300", ExitStatusSet{Codes: []int{1}, Signals: []int{1}}, false}, // valid words kept
	}
	for _, tt := range tests {
		got, err := ParseExitStatusSet(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseExitStatusSet(%q) error = %v; want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseExitStatusSet(%q) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

// Cases from systemd's test-rlimit-util.c plus systemd-analyze verify checks.
func TestParseRlimit(t *testing.T) {
	inf := RlimInfinity
	tests := []struct {
		res  int
		in   string
		want Rlimit
		ok   bool
	}{
		{rlimitNOFILE, "4096", Rlimit{4096, 4096}, true},
		{rlimitNOFILE, "1024:4096", Rlimit{1024, 4096}, true},
		{rlimitNOFILE, "infinity", Rlimit{inf, inf}, true},
		{rlimitNOFILE, "4:infinity", Rlimit{4, inf}, true},
		{rlimitNOFILE, "infinity:4", Rlimit{}, false}, // soft > hard
		{rlimitNOFILE, "5:4", Rlimit{}, false},
		{rlimitNOFILE, "5:", Rlimit{}, false},
		{rlimitNOFILE, ":5", Rlimit{}, false},
		{rlimitNOFILE, "1:2:3", Rlimit{}, false},
		{rlimitNOFILE, "1K", Rlimit{}, false},
		{rlimitNOFILE, "18446744073709551615", Rlimit{}, false}, // == RLIM_INFINITY
		{rlimitRTPRIO, "0x10", Rlimit{16, 16}, true},
		{rlimitCORE, "0x10", Rlimit{}, false},
		{rlimitCORE, "1G", Rlimit{1 << 30, 1 << 30}, true},
		{rlimitAS, "1.5K:2K", Rlimit{1536, 2048}, true},
		{rlimitCPU, "1h", Rlimit{3600, 3600}, true},
		{rlimitCPU, "1", Rlimit{1, 1}, true},
		{rlimitCPU, "1.5", Rlimit{2, 2}, true}, // rounded up
		{rlimitCPU, "1ms", Rlimit{1, 1}, true},
		{rlimitCPU, "0", Rlimit{0, 0}, true},
		{rlimitRTTIME, "1", Rlimit{1, 1}, true}, // microseconds
		{rlimitRTTIME, "1s", Rlimit{1000000, 1000000}, true},
		{rlimitRTTIME, "1ms:2ms", Rlimit{1000, 2000}, true},
		{rlimitNICE, "0", Rlimit{0, 0}, true},
		{rlimitNICE, "40", Rlimit{40, 40}, true},
		{rlimitNICE, "41", Rlimit{}, false},
		{rlimitNICE, "-20", Rlimit{40, 40}, true},
		{rlimitNICE, "+19", Rlimit{1, 1}, true},
		{rlimitNICE, "+0", Rlimit{20, 20}, true},
		{rlimitNICE, "-0", Rlimit{20, 20}, true},
		{rlimitNICE, "-21", Rlimit{}, false},
		{rlimitNICE, "+20", Rlimit{}, false},
		{rlimitNICE, "+-1", Rlimit{}, false},
		{rlimitNICE, "-+5", Rlimit{25, 25}, true}, // safe_atou64("+5") after the sign
		{rlimitNICE, "--5", Rlimit{}, false},
		{rlimitNICE, "-20:-10", Rlimit{}, false}, // 40 > 30
		{rlimitNICE, "-10:-20", Rlimit{30, 40}, true},
		{99, "1", Rlimit{}, false},
	}
	for _, tt := range tests {
		got, err := ParseRlimit(tt.res, tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseRlimit(%d, %q) = %+v, %v; want %+v ok=%v", tt.res, tt.in, got, err, tt.want, tt.ok)
		}
	}
	// test_parse_time: RLIMIT_RTTIME uses parse_time with microseconds.
	if _, err := ParseRlimit(rlimitRTTIME, "11111111111111y"); !errors.Is(err, ErrRange) {
		t.Errorf("LimitRTTIME=11111111111111y: %v; want ErrRange", err)
	}
	if _, err := ParseRlimit(rlimitRTTIME, "1.1111111111111y"); err != nil {
		t.Errorf("LimitRTTIME=1.1111111111111y: %v", err)
	}
	if r, ok := RlimitResource("LimitNOFILE"); !ok || r != 7 {
		t.Errorf("RlimitResource(LimitNOFILE) = %d, %v", r, ok)
	}
}

// systemdRejects writes one unit file with one "Key=value" line per entry
// (after section header lines) and returns, per entry, whether systemd 252's
// parser (systemd-analyze verify) warned about that line. It skips the
// test when systemd-analyze is not installed or in -short mode.
func systemdRejects(t *testing.T, unit, section string, lines [][2]string) []bool {
	t.Helper()
	esc := make([][2]string, len(lines))
	for i, l := range lines {
		// Values go through specifier expansion in systemd.
		esc[i] = [2]string{l[0], strings.ReplaceAll(l[1], "%", "%%")}
	}
	return systemdRejectsRaw(t, unit, section, esc)
}

// systemdRejectsRaw is systemdRejects without escaping '%'.
func systemdRejectsRaw(t *testing.T, unit, section string, lines [][2]string) []bool {
	t.Helper()
	if testing.Short() {
		t.Skip("slow: runs systemd-analyze")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	var b strings.Builder
	b.WriteString("[" + section + "]\n")
	for _, l := range lines {
		b.WriteString(l[0] + "=" + l[1] + "\n")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, unit)
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(analyze, "verify", "--man=no", file).CombinedOutput()
	bad := make([]bool, len(lines))
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, file+":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, ':'), 0)])
		if err == nil && n >= 2 && n-2 < len(lines) {
			bad[n-2] = true
		}
	}
	return bad
}

// TestValuesAgainstSystemd is a differential test: systemd-analyze verify
// (systemd's real parser) must accept and refuse the same values.
func TestValuesAgainstSystemd(t *testing.T) {
	type tcase struct {
		key, value string
		parse      func(string) error
	}
	timespan := func(s string) error { _, err := ParseTimespan(s); return err }
	size := func(s string) error { _, err := ParseSize(s); return err }
	mode := func(s string) error { _, err := ParseMode(s); return err }
	integer := func(s string) error { _, err := ParseInt(s); return err }
	var cases []tcase
	for _, v := range []string{"5s", "1min 30s", "1min30s", "55s500ms", ".5", "5.", "3.1s.2", "1 2", "5 s", "1h-1m",
		"infinity", "infinity 5", "5x", "1M", "1month", "2weeks", "1y", "1.5 h", "-1", "+5", "0", "12..34", "1µs", "1μs"} {
		cases = append(cases, tcase{"KeepAliveTimeSec", v, timespan})
	}
	for _, v := range []string{"1K", "64M", "1.5G", "1G 512M", "512M 1G", "4B4", "3. K", "3. 0 K", "0x10", "+5", "-1",
		"16E", "15E", "15.99E", "1KB", "1k", "5 B", "1.K"} {
		cases = append(cases, tcase{"ReceiveBuffer", v, size})
	}
	for _, v := range []string{"0660", "660", "888", "0669", "7777", "10000", "+022", "-0", "0x1ff", "0o644"} {
		cases = append(cases, tcase{"SocketMode", v, mode})
	}
	for _, v := range []string{"16", "0x10", "010", "09", "+5", "-0", "-1", "1K", "18446744073709551615", "4294967296"} {
		cases = append(cases, tcase{"MessageQueueMaxMessages", v, integer})
	}
	for _, v := range []string{"16", "0x10", "010", "09", "+5", "-0", "-1", "1K", "4294967295", "4294967296"} {
		// Backlog is config_parse_unsigned (32-bit).
		cases = append(cases, tcase{"Backlog", v, func(s string) error {
			n, err := ParseUnsigned(s)
			if err == nil && n > 1<<32-1 {
				return ErrRange
			}
			return err
		}})
	}
	lines := make([][2]string, len(cases))
	for i, c := range cases {
		lines[i] = [2]string{c.key, c.value}
	}
	lines = append(lines, [2]string{"ListenStream", "1234"})
	bad := systemdRejects(t, "oracle.socket", "Socket", lines)
	for i, c := range cases {
		err := c.parse(c.value)
		if (err != nil) != bad[i] {
			t.Errorf("%s=%s: sockd error = %v, systemd refused = %v", c.key, c.value, err, bad[i])
		}
	}
}
