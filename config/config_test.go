package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{name: "example", file: "../contrib/sockd.toml", check: func(t *testing.T, c *Config) {
			if c.Defaults.TimeoutStopSec.Duration != 90*time.Second {
				t.Errorf("timeout_stop_sec = %v", c.Defaults.TimeoutStopSec)
			}
		}},
		{name: "overrides", file: "testdata/overrides.toml", check: func(t *testing.T, c *Config) {
			if got := strings.Join(c.Units, ","); got != "/srv/units,/etc/sockd/units" {
				t.Errorf("units = %s", got)
			}
			if c.Log.Format != "json" || c.Log.Level != "debug" {
				t.Errorf("log = %+v", c.Log)
			}
			if c.Defaults.TimeoutStartSec.Duration != 90*time.Second+500*time.Millisecond {
				t.Errorf("timeout_start_sec = %v", c.Defaults.TimeoutStartSec)
			}
			// Keys not in the file keep their defaults.
			if c.ControlSocket != "/run/sockd/control.sock" {
				t.Errorf("control_socket = %s", c.ControlSocket)
			}
		}},
		{name: "unknown key", file: "testdata/unknown-key.toml", wantErr: "unknown key log.colour"},
		{name: "syntax", file: "testdata/syntax.toml", wantErr: "syntax.toml:2:"},
		{name: "bad span", file: "testdata/bad-span.toml", wantErr: "timeout_stop_sec"},
		{name: "bad level", file: "testdata/bad-level.toml", wantErr: `log.level: "loud"`},
		{name: "relative unit dir", file: "testdata/relative.toml", wantErr: "not an absolute path"},
		{name: "missing explicit", file: "testdata/nope.toml", wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.file, false, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestMissingDefaultIsOptional(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "sockd.toml"), false, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Defaults.StartLimitBurst != 5 {
		t.Errorf("defaults not applied: %+v", c.Defaults)
	}
}

func TestUserMode(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "cfg"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	c := Default(true)
	if want := filepath.Join(dir, "cfg", "sockd", "units"); c.Units[0] != want {
		t.Errorf("units = %v, want %s", c.Units, want)
	}
	if want := filepath.Join(dir, "run", "sockd", "control.sock"); c.ControlSocket != want {
		t.Errorf("control socket = %s, want %s", c.ControlSocket, want)
	}
	if got := DefaultPath(true); got != filepath.Join(dir, "cfg", "sockd", "sockd.toml") {
		t.Errorf("DefaultPath = %s", got)
	}
	os.Unsetenv("XDG_RUNTIME_DIR")
	if got := RuntimeDir(true); !strings.HasPrefix(got, "/run/user/") {
		t.Errorf("RuntimeDir fallback = %s", got)
	}
}
