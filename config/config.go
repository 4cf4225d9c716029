// Package config loads sockd's own configuration, /etc/sockd/sockd.toml
// (or $XDG_CONFIG_HOME/sockd/sockd.toml in --user mode).
//
// Every key is optional; a missing file means the defaults. Unknown keys are
// errors that name the key, so a typo never silently falls back to a default.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sockd/sockd/units"
)

// Config is sockd's configuration. The zero value is not useful: start from
// Default.
type Config struct {
	// Units lists the unit directories, highest priority first: a unit in
	// an earlier directory hides one of the same name in a later one.
	Units []string `toml:"units"`
	// ControlSocket is the path of the control API socket.
	ControlSocket string `toml:"control_socket"`
	// ControlGroup names a group whose members may use the control API
	// besides root and sockd's own user. Empty: nobody else.
	ControlGroup string `toml:"control_group"`
	// MetricsAddress, when set, serves /metrics on this numeric TCP address
	// as well as on the control socket.
	MetricsAddress string `toml:"metrics_address"`

	Log      Log      `toml:"log"`
	Defaults Defaults `toml:"defaults"`
}

// Log configures sockd's own log.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // console or json
}

// Defaults are the manager-wide defaults systemd keeps in system.conf.
type Defaults struct {
	TimeoutStartSec       Duration `toml:"timeout_start_sec"`
	TimeoutStopSec        Duration `toml:"timeout_stop_sec"`
	RestartSec            Duration `toml:"restart_sec"`
	StartLimitIntervalSec Duration `toml:"start_limit_interval_sec"`
	StartLimitBurst       int      `toml:"start_limit_burst"`
}

// Duration is a systemd time span in TOML ("90s", "1min 30s", "infinity").
type Duration struct{ time.Duration }

// UnmarshalText parses a systemd time span.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := units.ParseTimespan(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText prints the span in Go's notation, which ParseTimespan reads back.
func (d Duration) MarshalText() ([]byte, error) {
	if d.Duration == units.Infinity {
		return []byte("infinity"), nil
	}
	return []byte(d.Duration.String()), nil
}

// Default returns the built-in configuration. userMode selects the per-user
// paths ($XDG_CONFIG_HOME, $XDG_RUNTIME_DIR), as systemd --user does.
func Default(userMode bool) *Config {
	c := &Config{
		Units:         []string{"/etc/sockd/units", "/run/sockd/units", "/usr/lib/sockd/units"},
		ControlSocket: "/run/sockd/control.sock",
		Log:           Log{Level: "info", Format: "console"},
		Defaults: Defaults{
			TimeoutStartSec:       Duration{90 * time.Second},
			TimeoutStopSec:        Duration{90 * time.Second},
			RestartSec:            Duration{100 * time.Millisecond},
			StartLimitIntervalSec: Duration{10 * time.Second},
			StartLimitBurst:       5,
		},
	}
	if userMode {
		c.Units = []string{filepath.Join(configHome(), "sockd", "units")}
		c.ControlSocket = filepath.Join(RuntimeDir(true), "sockd", "control.sock")
	}
	return c
}

// DefaultPath is where Load looks when no --config is given.
func DefaultPath(userMode bool) string {
	if userMode {
		return filepath.Join(configHome(), "sockd", "sockd.toml")
	}
	return "/etc/sockd/sockd.toml"
}

// RuntimeDir is /run, or $XDG_RUNTIME_DIR (falling back to
// /run/user/UID) in user mode.
func RuntimeDir(userMode bool) string {
	if !userMode {
		return "/run"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d
	}
	return fmt.Sprintf("/run/user/%d", os.Getuid())
}

func configHome() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".config")
	}
	return "/"
}

// Load reads path over the defaults. A missing file is not an error when
// optional is true (the default path); an explicitly named file must exist.
func Load(path string, userMode, optional bool) (*Config, error) {
	c := Default(userMode)
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return c, nil
		}
		var perr toml.ParseError
		if errors.As(err, &perr) {
			if perr.LastKey != "" {
				return nil, fmt.Errorf("%s:%d: %s: %s", path, perr.Position.Line, perr.LastKey, perr.Message)
			}
			return nil, fmt.Errorf("%s:%d: %s", path, perr.Position.Line, perr.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		return fmt.Errorf("log.format: %q is not console or json", c.Log.Format)
	}
	if len(c.Units) == 0 {
		return errors.New("units: at least one unit directory is needed")
	}
	for _, d := range c.Units {
		if !filepath.IsAbs(d) {
			return fmt.Errorf("units: %q is not an absolute path", d)
		}
	}
	if c.Defaults.StartLimitBurst < 0 {
		return fmt.Errorf("defaults.start_limit_burst: %d is negative", c.Defaults.StartLimitBurst)
	}
	return nil
}
