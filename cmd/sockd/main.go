// Command sockd is a systemd-style socket activation daemon: it binds the
// listeners of systemd .socket units and starts the matching .service units
// on demand, passing the sockets with systemd's LISTEN_FDS protocol.
//
// Usage:
//
//	sockd run [--config FILE] [--units DIR]... [--user]
//	sockd verify [--strict] [--json] PATH...
//	sockd list|status|start|stop|restart|reload|reset-failed|logs [--control PATH] [--json] ...
//	sockd version
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sockd/sockd/spawner"
)

// version is set by the Makefile (-ldflags -X main.version=...).
var version = "dev"

type command struct {
	name  string
	usage string
	run   func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the daemon: bind every socket unit and activate services on demand", Run},
		{"verify", "check unit files and report problems as file:line: messages", Verify},
		{"list", "list socket units with their listeners, like systemctl list-sockets", List},
		{"status", "show units' state, counters and recent log, like systemctl status", Status},
		{"start", "start units", actionCommand("start")},
		{"stop", "stop units", actionCommand("stop")},
		{"restart", "restart units", actionCommand("restart")},
		{"reload", "re-read every unit file (like SIGHUP)", Reload},
		{"reset-failed", "clear the failed state of units (all when none named)", ResetFailed},
		{"logs", "show a unit's recent output and events (-f to follow)", Logs},
		{"activate", "listen on sockets and start a command on connection, like systemd-socket-activate", Activate},
		{"version", "print sockd's version", func([]string, io.Writer, io.Writer) int {
			fmt.Println("sockd", version)
			return 0
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: sockd COMMAND [ARGS...]\n\nsystemd-style socket activation daemon.\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.usage)
	}
	fmt.Fprintf(w, "\nRun 'sockd COMMAND --help' for a command's options.\n")
}

func main() {
	// The spawner's helper modes must run before anything else: they
	// replace this process with the service being started.
	spawner.MaybeRunHelper()

	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "-h", "--help", "help":
		usage(os.Stdout)
		return
	case "--version":
		os.Args[1] = "version"
	}
	for _, c := range commands() {
		if c.name == os.Args[1] {
			os.Exit(c.run(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	fmt.Fprintf(os.Stderr, "sockd: unknown command %q\n\n", os.Args[1])
	usage(os.Stderr)
	os.Exit(2)
}
