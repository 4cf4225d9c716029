// Package units loads systemd .socket and .service unit files the way
// systemd 252 does, into the typed model that sockd's activator and
// spawner use.
//
// # Loading
//
// [Load] reads every *.socket and *.service file of a list of directories
// (in priority order, like systemd's search path: the first directory wins
// for a unit name), applies drop-ins (NAME.d/*.conf, the template's and the
// dash-prefix directories, and the type-wide socket.d/ and service.d/,
// merged by file name), checks every unit and pairs each socket with the
// service it activates. The result is a [Set] and the [Diagnostics] found on
// the way. A broken unit never prevents the others from loading.
//
// Per-connection services of Accept=yes sockets come from
// [Set.Instance], which never touches the file system.
//
// # Syntax
//
// [Lex] splits a file exactly as systemd's config_parse(): comments are
// whole lines starting with '#' or ';' (also inside continued values, which
// they do not end); a line ending in an odd number of backslashes continues;
// there are no inline comments. Value syntax (booleans, time spans, sizes,
// addresses, command lines, specifiers) is parsed by the Parse* functions of
// this package.
//
// # What warns and what refuses
//
// As in systemd, a value that does not parse is reported as a Warning and
// the setting is ignored; a Listen*= line that does not parse is dropped. A
// unit is refused (an Error) only for what systemd refuses: a broken section
// header or invalid UTF-8 in the unit file, a fatal Exec*= syntax error,
// and the load-time checks of socket_verify()/service_verify() (no
// listeners left, Accept=yes on non-stream listeners or with Service=,
// Symlinks= without exactly one file-system node, a service without
// ExecStart=, ...). Problems inside a drop-in only stop that drop-in.
//
// # Directives
//
// [Directives] lists every directive with its sockd status; it is the
// source of docs/directives.md and of `sockd verify --list-directives`.
// Directives that systemd knows but sockd cannot honour are accepted with
// the warning "not supported by sockd, ignoring".
package units
