package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/control"
	"github.com/sockd/sockd/supervisor"
)

// Exit codes, as systemctl's (LSB for status).
const (
	exitFailure  = 1
	exitUsage    = 2
	exitInactive = 3 // status: a unit is not active
	exitUnknown  = 4 // status: no such unit
	exitNotFound = 5 // start/stop/restart: no such unit
)

// ctlFlags are the options every client command shares.
type ctlFlags struct {
	fs      *flag.FlagSet
	control *string
	user    *bool
	json    *bool
	stderr  io.Writer
	name    string
}

func newCtlFlags(name, args string, stderr io.Writer) *ctlFlags {
	fs := flag.NewFlagSet("sockd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &ctlFlags{fs: fs, stderr: stderr, name: name,
		control: fs.String("control", os.Getenv("SOCKD_CONTROL"), "control socket path (default from sockd.toml)"),
		user:    fs.Bool("user", false, "talk to the per-user sockd ($XDG_RUNTIME_DIR/sockd/control.sock)"),
		json:    fs.Bool("json", false, "print JSON instead of a table"),
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sockd %s [--control PATH] [--user] [--json]%s\n\n", name, args)
		fs.PrintDefaults()
	}
	return c
}

// parse parses flags wherever they appear among the arguments (as
// systemctl does), up to a "--".
func (c *ctlFlags) parse(args []string) ([]string, int, bool) {
	var rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, 0, false
			}
			return nil, exitUsage, false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *ctlFlags) client() *control.Client {
	path := *c.control
	if path == "" {
		cfg, err := config.Load(config.DefaultPath(*c.user), *c.user, true)
		if err != nil {
			// An unreadable sockd.toml (non-root) should not stop a
			// client: fall back to the default path.
			cfg = config.Default(*c.user)
		}
		path = cfg.ControlSocket
	}
	return control.NewClient(path)
}

// fail prints err as one line and returns the exit code for it.
func (c *ctlFlags) fail(err error) int {
	switch {
	case errors.Is(err, control.ErrNotRunning):
		fmt.Fprintf(c.stderr, "sockd %s: %v\n", c.name, err)
	case errors.Is(err, control.ErrAccessDenied):
		fmt.Fprintf(c.stderr, "sockd %s: %v (run as root, sockd's user, or a member of control_group)\n", c.name, err)
	default:
		fmt.Fprintf(c.stderr, "sockd %s: %v\n", c.name, err)
	}
	return exitFailure
}

func ctlContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// unitName completes a bare name to a service, as systemctl does.
func unitName(n string) string {
	if strings.HasSuffix(n, ".socket") || strings.HasSuffix(n, ".service") {
		return n
	}
	return n + ".service"
}

func writeJSONOut(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// List is `sockd list`, like `systemctl list-sockets`: one line per
// listener.
func List(args []string, stdout, stderr io.Writer) int {
	c := newCtlFlags("list", "", stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "sockd list: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	ctx, cancel := ctlContext()
	defer cancel()
	u, err := c.client().Units(ctx)
	if err != nil {
		return c.fail(err)
	}
	if *c.json {
		writeJSONOut(stdout, u.Sockets)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTEN\tUNIT\tACTIVATES\tSTATE\tCONNS")
	for _, s := range u.Sockets {
		for _, l := range s.Listen {
			state := s.State
			if l.Paused && state != "paused" {
				state += " (paused)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", l.Address, s.Name, s.Service, state, s.Connections)
		}
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%d sockets listed.\n", len(u.Sockets))
	return 0
}

// Status is `sockd status [UNIT...]`, like `systemctl status`. Exit 0 when
// every named unit is active, 3 when one is not, 4 when one is unknown;
// without names it shows every unit and exits 0, as systemctl does.
func Status(args []string, stdout, stderr io.Writer) int {
	c := newCtlFlags("status", " [-n N] [UNIT...]", stderr)
	lines := c.fs.Int("n", 10, "log lines to show per unit")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	ctx, cancel := ctlContext()
	defer cancel()
	cl := c.client()
	if len(pos) == 0 {
		// Every unit, in one request (one per unit would make the daemon
		// build its whole status once per unit).
		all, err := cl.Status(ctx, *lines)
		if err != nil {
			return c.fail(err)
		}
		if *c.json {
			writeJSONOut(stdout, all)
			return 0
		}
		for i, u := range all {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			printStatus(stdout, u, time.Now())
		}
		return 0
	}
	var out []control.Unit
	code = 0
	for i, name := range pos {
		name = unitName(name)
		u, err := cl.Unit(ctx, name, *lines)
		if errors.Is(err, supervisor.ErrNoSuchUnit) {
			fmt.Fprintf(stderr, "Unit %s could not be found.\n", name)
			code = exitUnknown
			continue
		}
		if err != nil {
			return c.fail(err)
		}
		if !u.Active() && code == 0 {
			code = exitInactive
		}
		if *c.json {
			out = append(out, u)
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printStatus(stdout, u, time.Now())
	}
	if *c.json {
		if out == nil {
			out = []control.Unit{}
		}
		writeJSONOut(stdout, out)
	}
	return code
}

func bullet(u control.Unit) string {
	if u.Active() {
		return "●"
	}
	if (u.Socket != nil && u.Socket.State == "failed") || (u.Service != nil && u.Service.State == supervisor.ServiceFailed) {
		return "×"
	}
	return "○"
}

// activeLine is systemctl's "Active:" value.
func activeLine(u control.Unit, now time.Time) string {
	var state, sub string
	var since time.Time
	if s := u.Socket; s != nil {
		since = s.Since
		switch s.State {
		case "listening", "running", "paused":
			state, sub = "active", s.State
		case "failed":
			state, sub = "failed", "Result: "+s.Result
		default:
			state, sub = "inactive", "dead"
		}
	} else if s := u.Service; s != nil {
		since = s.Since
		switch s.State {
		case supervisor.ServiceActive:
			state, sub = "active", "running"
			if s.MainPID == 0 {
				sub = "exited"
			}
		case supervisor.ServiceActivating:
			state, sub = "activating", "start"
			if s.Result == "auto-restart" {
				sub = "auto-restart"
			}
		case supervisor.ServiceDeactivating:
			state, sub = "deactivating", "stop-sigterm"
		case supervisor.ServiceFailed:
			state, sub = "failed", "Result: "+s.Result
		default:
			state, sub = "inactive", "dead"
		}
	}
	line := fmt.Sprintf("%s (%s)", state, sub)
	if !since.IsZero() {
		line += fmt.Sprintf(" since %s; %s ago", since.Local().Format("Mon 2006-01-02 15:04:05 MST"), ago(now.Sub(since)))
	}
	return line
}

func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dmin %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dmin", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func printStatus(w io.Writer, u control.Unit, now time.Time) {
	fmt.Fprintf(w, "%s %s\n", bullet(u), u.Name())
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "%12s: %s\n", k, fmt.Sprintf(format, a...)) }
	row("Loaded", "loaded")
	row("Active", "%s", activeLine(u, now))
	if s := u.Socket; s != nil {
		if s.Reason != "" {
			row("Reason", "%s", s.Reason)
		}
		row("Triggers", "%s", s.Service)
		for _, l := range s.Listen {
			fd := "not bound"
			if l.FD >= 0 {
				fd = fmt.Sprintf("fd %d", l.FD)
			}
			if l.Paused {
				fd += ", paused"
			}
			row("Listen", "%s (%s)", l.Address, fd)
		}
		if s.Accept {
			row("Accepted", "%d; Connected: %d; Refused: %d", s.Accepted, s.Connections, s.Refused)
		} else {
			row("Activations", "%d; Refused: %d", s.Activations, s.Refused)
		}
		if s.TriggerLimitHits > 0 {
			row("Trigger hits", "%d", s.TriggerLimitHits)
		}
	}
	if s := u.Service; s != nil {
		if s.MainPID != 0 {
			row("Main PID", "%d", s.MainPID)
		}
		if s.StatusText != "" {
			row("Status", "%q", s.StatusText)
		}
		if s.Restarts > 0 {
			row("Restarts", "%d", s.Restarts)
		}
		if s.LastExit != "" {
			row("Last exit", "%s", s.LastExit)
		}
	}
	if len(u.Log) > 0 {
		fmt.Fprintln(w)
		for _, e := range u.Log {
			fmt.Fprintln(w, formatEntry(e))
		}
	}
}

// formatEntry prints a log entry like journalctl: a service's own output
// under its unit and pid, sockd's events with their fields.
func formatEntry(e control.Entry) string {
	ts := e.Time.Local().Format("Jan 02 15:04:05.000")
	if e.Stream != "" {
		return fmt.Sprintf("%s %s[%d]: %s", ts, e.Unit, e.PID, e.Message)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sockd: %s: ", ts, e.Unit)
	if e.Level != "info" {
		b.WriteString(strings.ToUpper(e.Level) + " ")
	}
	b.WriteString(e.Message)
	if e.PID != 0 {
		fmt.Fprintf(&b, " pid=%d", e.PID)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, e.Fields[k])
	}
	return b.String()
}

// actionCommand builds start, stop and restart.
func actionCommand(action string) func([]string, io.Writer, io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		c := newCtlFlags(action, " UNIT...", stderr)
		pos, code, ok := c.parse(args)
		if !ok {
			return code
		}
		if len(pos) == 0 {
			fmt.Fprintf(stderr, "sockd %s: no unit given\n", action)
			return exitUsage
		}
		ctx, cancel := ctlContext()
		defer cancel()
		cl := c.client()
		code = 0
		for _, name := range pos {
			name = unitName(name)
			err := cl.Action(ctx, action, name)
			switch {
			case err == nil:
			case errors.Is(err, supervisor.ErrNoSuchUnit):
				fmt.Fprintf(stderr, "Failed to %s %s: Unit %s not found.\n", action, name, name)
				code = exitNotFound
			case errors.Is(err, control.ErrNotRunning), errors.Is(err, control.ErrAccessDenied):
				return c.fail(err)
			default:
				fmt.Fprintf(stderr, "Failed to %s %s: %v\n", action, name, err)
				if code == 0 {
					code = exitFailure
				}
			}
		}
		return code
	}
}

// Reload is `sockd reload`: re-read every unit file (like SIGHUP, or
// systemctl daemon-reload); `sockd reload UNIT...` runs the services'
// ExecReload= instead, like systemctl reload UNIT.
func Reload(args []string, stdout, stderr io.Writer) int {
	c := newCtlFlags("reload", " [UNIT...]", stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	ctx, cancel := ctlContext()
	defer cancel()
	if len(pos) == 0 {
		if err := c.client().Reload(ctx); err != nil {
			return c.fail(err)
		}
		return 0
	}
	for _, name := range pos {
		if err := c.client().Action(ctx, "reload", unitName(name)); err != nil {
			return c.fail(err)
		}
	}
	return 0
}

// ResetFailed is `sockd reset-failed [UNIT...]`.
func ResetFailed(args []string, stdout, stderr io.Writer) int {
	c := newCtlFlags("reset-failed", " [UNIT...]", stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	for i := range pos {
		pos[i] = unitName(pos[i])
	}
	ctx, cancel := ctlContext()
	defer cancel()
	if err := c.client().ResetFailed(ctx, pos...); err != nil {
		if errors.Is(err, supervisor.ErrNoSuchUnit) {
			fmt.Fprintf(stderr, "Failed to reset failed state: %v\n", err)
			return exitFailure
		}
		return c.fail(err)
	}
	return 0
}

// Logs is `sockd logs [-f] [-n N] UNIT`: the unit's recent output and
// events (a template name shows all its instances).
func Logs(args []string, stdout, stderr io.Writer) int {
	c := newCtlFlags("logs", " [-f] [-n N] UNIT", stderr)
	follow := c.fs.Bool("f", false, "follow: keep printing new entries")
	n := c.fs.Int("n", -1, "show the last N entries (default all kept; 10 with -f)")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "sockd logs: exactly one unit expected\n")
		return exitUsage
	}
	if *follow && *n < 0 {
		*n = 10
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if !*follow {
		var tcancel context.CancelFunc
		ctx, tcancel = context.WithTimeout(ctx, 60*time.Second)
		defer tcancel()
	}
	enc := json.NewEncoder(stdout)
	err := c.client().Log(ctx, unitName(pos[0]), *n, *follow, func(e control.Entry) error {
		if *c.json {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintln(stdout, formatEntry(e))
		return err
	})
	if err != nil && ctx.Err() == nil {
		if errors.Is(err, supervisor.ErrNoSuchUnit) {
			fmt.Fprintf(stderr, "Unit %s could not be found.\n", unitName(pos[0]))
			return exitUnknown
		}
		return c.fail(err)
	}
	return 0
}
