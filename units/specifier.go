package units

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/sockd/sockd/internal/userdb"
)

// ErrUnknownSpecifier is wrapped by ExpandSpecifiers for a "%X" it does not
// know; systemd fails the setting with EBADSLT.
var ErrUnknownSpecifier = errors.New("unknown specifier")

// maxSpecifierResult bounds an expansion, like systemd's LONG_LINE_MAX for
// unit_full_printf.
const maxSpecifierResult = 1 << 20

// SpecifierContext holds what "%X" specifiers expand to: facts about the
// unit (UnitName, FragmentPath) and about the host and the user running
// sockd, gathered once by NewSpecifierContext. It is read-only after
// construction; WithUnit makes cheap copies for other units.
type SpecifierContext struct {
	UnitName string // "foo@bar.service"
	UserMode bool

	// Directories of %t %S %C %L %E %T %V: /run, /var/lib, /var/cache,
	// /var/log, /etc, /tmp, /var/tmp for the system manager; the XDG
	// directories in user mode. An empty RuntimeDir makes %t an error.
	RuntimeDir, StateDir, CacheDir, LogsDir, ConfigDir string
	TmpDir, VarTmpDir                                  string

	// The user running sockd (not User=): %u %U %g %G %h %s.
	UserName  string
	UID, GID  int
	GroupName string
	Home      string
	Shell     string

	Hostname, ShortHostname string // %H %l
	PrettyHostname          string // %q: PRETTY_HOSTNAME of /etc/machine-info, else ShortHostname
	MachineID, BootID       string // %m %b: 32 lower-case hex digits, "" if unknown
	KernelRelease           string // %v
	Architecture            string // %a, systemd's names ("x86-64", "arm64")
	// OSRelease holds the os-release(5) fields (ID, VERSION_ID, BUILD_ID,
	// VARIANT_ID, IMAGE_ID, IMAGE_VERSION) for %o %w %B %W %M %A.
	OSRelease map[string]string

	FragmentPath string // %y, and its directory %Y
}

// NewSpecifierContext gathers the host and user facts for specifiers once:
// hostname (os.Hostname, no DNS), /etc/machine-id, the boot id, kernel
// release, os-release, the user and group of this process, and in user
// mode the XDG base directories.
func NewSpecifierContext(unitName string, userMode bool) *SpecifierContext {
	c := &SpecifierContext{
		UnitName:     unitName,
		UserMode:     userMode,
		UID:          os.Getuid(),
		GID:          os.Getgid(),
		Architecture: systemdArchitecture(runtime.GOARCH),
		TmpDir:       tmpDirFromEnv("/tmp"),
		VarTmpDir:    tmpDirFromEnv("/var/tmp"),
	}
	c.Hostname, _ = os.Hostname()
	c.ShortHostname, _, _ = strings.Cut(c.Hostname, ".")
	c.PrettyHostname = readEnvFileKey("/etc/machine-info", "PRETTY_HOSTNAME")
	if c.PrettyHostname == "" {
		c.PrettyHostname = c.ShortHostname
	}
	c.MachineID = readID128("/etc/machine-id")
	c.BootID = readID128("/proc/sys/kernel/random/boot_id")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		c.KernelRelease = strings.TrimSpace(string(b))
	}
	c.OSRelease = readOSRelease()
	c.fillUser()
	if userMode {
		c.RuntimeDir = absEnv("XDG_RUNTIME_DIR")
		c.ConfigDir = xdgDir("XDG_CONFIG_HOME", c.Home, ".config")
		c.StateDir = xdgDir("XDG_STATE_HOME", c.Home, ".local/state")
		c.CacheDir = xdgDir("XDG_CACHE_HOME", c.Home, ".cache")
		if c.StateDir != "" {
			c.LogsDir = c.StateDir + "/log"
		}
	} else {
		c.RuntimeDir, c.StateDir, c.CacheDir, c.LogsDir, c.ConfigDir = "/run", "/var/lib", "/var/cache", "/var/log", "/etc"
	}
	return c
}

// WithUnit returns a copy of c for another unit (the FragmentPath is
// cleared; set it on the copy).
func (c *SpecifierContext) WithUnit(name string) *SpecifierContext {
	d := *c
	d.UnitName = name
	d.FragmentPath = ""
	return &d
}

// fillUser sets the user facts as systemd's get_user_creds shortcuts do:
// root is known without a passwd lookup; in user mode $HOME and $SHELL
// win when they are absolute paths.
func (c *SpecifierContext) fillUser() {
	if c.UID == 0 {
		c.UserName, c.Home, c.Shell = "root", "/root", "/bin/sh"
	} else if u, err := userdb.LookupId(strconv.Itoa(c.UID)); err == nil {
		c.UserName, c.Home = u.Username, u.HomeDir
	} else {
		c.UserName = strconv.Itoa(c.UID)
	}
	if c.GID == 0 {
		c.GroupName = "root"
	} else if g, err := userdb.LookupGroupId(strconv.Itoa(c.GID)); err == nil {
		c.GroupName = g.Name
	} else {
		c.GroupName = strconv.Itoa(c.GID)
	}
	if h := absEnv("HOME"); h != "" && (c.UserMode || c.Home == "") {
		c.Home = h
	}
	if s := absEnv("SHELL"); s != "" && (c.UserMode || c.Shell == "") {
		c.Shell = s
	}
	if c.Shell == "" {
		c.Shell = "/bin/sh"
	}
}

func absEnv(name string) string {
	if v := os.Getenv(name); filepath.IsAbs(v) {
		return v
	}
	return ""
}

func xdgDir(env, home, rel string) string {
	if v := absEnv(env); v != "" {
		return v
	}
	if home == "" {
		return ""
	}
	return home + "/" + rel
}

// tmpDirFromEnv is systemd's tmp_dir/var_tmp_dir: $TMPDIR, $TEMP, $TMP if
// absolute, else the fallback.
func tmpDirFromEnv(fallback string) string {
	for _, n := range []string{"TMPDIR", "TEMP", "TMP"} {
		if v := absEnv(n); v != "" {
			return v
		}
	}
	return fallback
}

// readID128 reads a 128-bit id (machine-id or boot_id) and formats it as
// systemd's %m/%b: 32 lower-case hex digits without dashes.
func readID128(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	s := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""))
	if len(s) != 32 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if unhex(s[i]) < 0 {
			return ""
		}
	}
	return s
}

// readEnvFileKey returns one variable of an env-style file, "" if absent.
func readEnvFileKey(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	env, err := ParseEnvironmentFile(f)
	if err != nil {
		return ""
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func readOSRelease() map[string]string {
	m := map[string]string{}
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		env, err := ParseEnvironmentFile(f)
		f.Close()
		if err != nil {
			continue
		}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		break
	}
	return m
}

// systemdArchitecture maps GOARCH to systemd's architecture names.
func systemdArchitecture(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86-64"
	case "386":
		return "x86"
	case "ppc64le":
		return "ppc64-le"
	case "mipsle":
		return "mips-le"
	case "mips64le":
		return "mips64-le"
	case "loong64":
		return "loongarch64"
	}
	return goarch // arm64, arm, ppc64, s390x, riscv64, mips, mips64
}

// instanceSpecifiers are the specifiers whose value differs between a
// template and its instances.
const instanceSpecifiers = "nNiIfd"

// escapedPercent are the C escapes that decode to '%': Exec*= and
// Environment= words are unescaped before their specifiers are expanded,
// so "\x25i" is "%i" there.
var escapedPercent = []string{`\x25`, `\045`, `\u0025`, `\U00000025`}

// UsesInstanceSpecifiers reports whether s may contain a specifier whose
// value depends on the instance name (%n %N %i %I %f %d), so that a value of
// a template that does not can be expanded once and reused for every
// instance. "%%i" is a literal "%i" and does not count; a C escape of '%'
// (\x25, \045, \u0025, \U00000025) counts, to be safe.
func UsesInstanceSpecifiers(s string) bool {
	for i := 0; i < len(s)-1; i++ {
		if s[i] != '%' {
			continue
		}
		i++
		if strings.IndexByte(instanceSpecifiers, s[i]) >= 0 {
			return true
		}
	}
	if strings.IndexByte(s, '\\') >= 0 {
		for _, e := range escapedPercent {
			if strings.Contains(s, e) {
				return true
			}
		}
	}
	return false
}

// ExpandSpecifiers expands the "%X" specifiers of s as systemd's
// unit_full_printf does (systemd.unit(5), "Specifiers"): %n %N %p %P %i
// %I %j %J %f for the unit name; %t %S %C %L %E %T %V %d for directories;
// %h %u %U %g %G %s for the user running sockd; %H %l %q %m %b %v %a %o %w
// %B %W %M %A for the host; %y %Y for the fragment path; "%%" is "%". An
// unknown specifier is an error wrapping ErrUnknownSpecifier, and a lone
// "%" at the very end is kept.
func ExpandSpecifiers(s string, c *SpecifierContext) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			b.WriteByte('%')
			break
		}
		i++
		v, err := c.specifier(s[i])
		if err != nil {
			return "", fmt.Errorf("%%%c in %q: %w", s[i], s, err)
		}
		b.WriteString(v)
		if b.Len() > maxSpecifierResult {
			return "", fmt.Errorf("expansion of %q is too long", s)
		}
	}
	return b.String(), nil
}

func (c *SpecifierContext) specifier(x byte) (string, error) {
	switch x {
	case '%':
		return "%", nil
	case 'n':
		return c.UnitName, nil
	case 'N':
		return unitNameStem(c.UnitName), nil
	case 'p':
		return unitPrefix(c.UnitName), nil
	case 'P':
		return unitNameUnescape(unitPrefix(c.UnitName))
	case 'i':
		return unitInstance(c.UnitName), nil
	case 'I':
		return unitNameUnescape(unitInstance(c.UnitName))
	case 'j':
		return lastComponent(unitPrefix(c.UnitName)), nil
	case 'J':
		return unitNameUnescape(lastComponent(unitPrefix(c.UnitName)))
	case 'f':
		if inst := unitInstance(c.UnitName); inst != "" {
			return unitNamePathUnescape(inst)
		}
		return unitNamePathUnescape(unitPrefix(c.UnitName))
	case 't':
		return required(c.RuntimeDir, "runtime directory ($XDG_RUNTIME_DIR)")
	case 'S':
		return required(c.StateDir, "state directory")
	case 'C':
		return required(c.CacheDir, "cache directory")
	case 'L':
		return required(c.LogsDir, "logs directory")
	case 'E':
		return required(c.ConfigDir, "configuration directory")
	case 'T':
		return c.TmpDir, nil
	case 'V':
		return c.VarTmpDir, nil
	case 'd':
		rt, err := required(c.RuntimeDir, "runtime directory ($XDG_RUNTIME_DIR)")
		if err != nil {
			return "", err
		}
		return rt + "/credentials/" + c.UnitName, nil
	case 'h':
		return required(c.Home, "home directory")
	case 'u':
		return c.UserName, nil
	case 'U':
		return strconv.Itoa(c.UID), nil
	case 'g':
		return c.GroupName, nil
	case 'G':
		return strconv.Itoa(c.GID), nil
	case 's':
		return c.Shell, nil
	case 'H':
		return required(c.Hostname, "host name")
	case 'l':
		return required(c.ShortHostname, "host name")
	case 'q':
		return required(c.PrettyHostname, "host name")
	case 'c', 'r', 'R':
		// Deprecated cgroup paths (systemd warns that they "do not work as
		// intended"); sockd has no cgroups to name.
		return "", fmt.Errorf("deprecated cgroup specifier not supported: %w", ErrUnknownSpecifier)
	case 'm':
		return required(c.MachineID, "machine id (/etc/machine-id)")
	case 'b':
		return required(c.BootID, "boot id")
	case 'v':
		return required(c.KernelRelease, "kernel release")
	case 'a':
		return c.Architecture, nil
	case 'o':
		return c.OSRelease["ID"], nil
	case 'w':
		return c.OSRelease["VERSION_ID"], nil
	case 'B':
		return c.OSRelease["BUILD_ID"], nil
	case 'W':
		return c.OSRelease["VARIANT_ID"], nil
	case 'M':
		return c.OSRelease["IMAGE_ID"], nil
	case 'A':
		return c.OSRelease["IMAGE_VERSION"], nil
	case 'y':
		return required(c.FragmentPath, "fragment path")
	case 'Y':
		p, err := required(c.FragmentPath, "fragment path")
		if err != nil {
			return "", err
		}
		return path.Dir(p), nil
	}
	return "", ErrUnknownSpecifier
}

func required(v, what string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("%s unknown", what)
	}
	return v, nil
}

// unitPrefix is unit_name_to_prefix: the name up to the first "@", or
// without its type suffix.
func unitPrefix(name string) string {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[:i]
	}
	return unitNameStem(name)
}

// unitNameStem is the name without its type suffix ("foo@bar").
func unitNameStem(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}

// unitInstance is the text between the first "@" and the type suffix, ""
// for plain names and templates.
func unitInstance(name string) string {
	i := strings.IndexByte(name, '@')
	if i < 0 {
		return ""
	}
	rest := name[i+1:]
	if j := strings.LastIndexByte(rest, '.'); j >= 0 {
		return rest[:j]
	}
	return rest
}

func lastComponent(prefix string) string {
	if i := strings.LastIndexByte(prefix, '-'); i >= 0 {
		return prefix[i+1:]
	}
	return prefix
}

// unitNameUnescape is systemd's unit_name_unescape: "-" becomes "/", \xHH
// a byte, any other backslash is an error. (go-systemd's UnitNameUnescape
// differs: it keeps bad escapes and does not decode bytes >= 0x80.)
func unitNameUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '-':
			b.WriteByte('/')
		case '\\':
			if i+3 >= len(s) || s[i+1] != 'x' || unhex(s[i+2]) < 0 || unhex(s[i+3]) < 0 {
				return "", fmt.Errorf("invalid escape in unit name part %q", s)
			}
			b.WriteByte(byte(unhex(s[i+2])<<4 | unhex(s[i+3])))
			i += 3
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// unitNamePathUnescape is systemd's unit_name_path_unescape: "-" alone is
// "/", otherwise the unescaped text must not start or end with "/" and
// gets a leading "/"; the result must be a normalized path.
func unitNamePathUnescape(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty path in unit name")
	}
	if s == "-" {
		return "/", nil
	}
	w, err := unitNameUnescape(s)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(w, "/") || strings.HasSuffix(w, "/") {
		return "", fmt.Errorf("unit name part %q is not an escaped path", s)
	}
	p := "/" + w
	for _, c := range strings.Split(p[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("unit name part %q is not a normalized path", s)
		}
	}
	return p, nil
}
