// Package control is sockd's control API: HTTP+JSON over an AF_UNIX
// socket (so `curl --unix-socket` works), the client the CLI uses, a
// bounded in-memory log per unit, and Prometheus metrics.
//
// Every request is authorised by the peer's credentials (SO_PEERCRED and
// SO_PEERGROUPS): root, sockd's own uid, and members of the configured
// control group may use the API; anyone else gets 403 and is logged.
//
// Endpoints (all JSON unless noted):
//
//	GET  /v1/units                    every unit with state and counters
//	GET  /v1/units/{name}             one unit, with its recent log
//	POST /v1/units/{name}/{action}    start, stop, restart
//	POST /v1/reload                   re-read the unit files
//	POST /v1/reset-failed             body {"units": [...]}; empty means all
//	GET  /v1/units/{name}/log?n=N&follow=1   log entries, one JSON object a line
//	GET  /metrics                     Prometheus text format
package control
