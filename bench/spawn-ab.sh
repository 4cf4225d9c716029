#!/usr/bin/env bash
# spawn-ab.sh: Accept=yes spawn rate and CPU per connection of sockd
# binaries side by side (interleaved), with tcpserver beside them.
#
#   bench/spawn-ab.sh [-r ROUNDS] [-c CONC] [-n N] [-3] BIN... [tcpserver]
#
# Each BIN is a sockd binary, optionally prefixed with environment
# assignments and a label: "label=ENV=V,ENV2=V2:/path/to/sockd" (or just
# /path/to/sockd; values cannot contain commas). "tcpserver" adds
# ucspi-tcp's tcpserver. A round with a failed connection stops the script. For every round
# each peer is started fresh on 127.0.0.1, warmed with 200 connections, and
# measured over N connections at concurrency CONC with the harness's
# loadclient and static hello (../shared/bench; run its setup.sh once).
# Reported per peer: median (min-max) connections/s, the peer's own CPU per
# connection (utime+stime from /proc/PID/stat) and the whole machine's
# (/proc/stat, all cores, without idle and iowait), medians.
set -uo pipefail # no -e: lib.sh relies on commands that fail (read -t)
top=$(cd "$(dirname "$0")/.." && pwd)
harness=${HARNESS:-$top/../shared/bench}
R=5 C=8 N=3000 FD3=
while getopts r:c:n:3 o; do
	case $o in
	r) R=$OPTARG ;; c) C=$OPTARG ;; n) N=$OPTARG ;; 3) FD3=1 ;; *) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-r ROUNDS] [-c CONC] [-n N] BIN... [tcpserver]" >&2; exit 2; }
. "$harness/lib.sh" # $TMP, started peers stopped on exit
build
mkdir "$TMP/units"
PORT=23456 render "$harness/units/hello.socket" "$TMP/units/hello.socket"
render "$harness/units/hello@.service" "$TMP/units/hello@.service"
if [ -n "$FD3" ]; then
	# -3: an fd-3 service. The connection is fd 3 with LISTEN_FDS=1 and
	# LISTEN_PID (which the child writes into its environment), and also
	# stdout for the same hello to write to.
	sed -i 's/^StandardInput=socket$/StandardInput=null/' "$TMP/units/hello@.service"
	grep -q '^StandardInput=null$' "$TMP/units/hello@.service" || die "-3: hello@.service has no StandardInput=socket line"
fi
ports_free 23456 23457

mach() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
self() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for ((r = 0; r < R; r++)); do
	for peer in "$@"; do
		label=${peer##*/} envs=() bin=$peer port=23456
		if [ "$peer" = tcpserver ]; then
			port=23457
			start "$TMP/tcpserver.log" "$TCPSERVER_BIN" -R -H -l 0 -c 1000 -b 128 127.0.0.1 "$port" "$HELLO"
		else
			if [[ $peer == *:* ]]; then
				label=${peer%%:*} bin=${peer#*:}
				if [[ $label == *=* ]]; then
					IFS=, read -ra envs <<<"${label#*=}"
					label=${label%%=*}
				fi
			fi
			rm -f "$TMP/units/control.sock"
			start "$TMP/$label.log" env "${envs[@]}" "$bin" run --units "$TMP/units" --config /dev/null \
				--control "$TMP/units/control.sock" --log-level warn
		fi
		pid=$STARTED
		wait_listen "$pid" "$port" "$port" 1 10 >/dev/null || die "$label: not listening on $port: $(tail -c 300 "$TMP/$label.log")"
		"$LOADCLIENT" -addr "127.0.0.1:$port" -n 200 -c "$C" >/dev/null
		m0=$(mach) s0=$(self "$pid")
		out=$("$LOADCLIENT" -addr "127.0.0.1:$port" -n "$N" -c "$C")
		m1=$(mach) s1=$(self "$pid")
		stop_pid "$pid"
		ok=$(kv ok "$out")
		if [ "$(kv errors "$out")" != 0 ] || [ "${ok:-0}" -eq 0 ]; then
			die "$label: connections failed: $out"
		fi
		echo "$label $(kv conn_per_s "$out") $(((s1 - s0) * 1000000 / hz / ok)) $(((m1 - m0) * 1000000 / hz / ok))" >>"$TMP/results"
	done
done
awk -v c="$C" -v n="$N" '
	{ k = $1; if (!(k in seen)) { seen[k] = 1; order[++np] = k }
	  cnt[k]++; rate[k, cnt[k]] = $2; selfus[k, cnt[k]] = $3; machus[k, cnt[k]] = $4 }
	function med(a, k, m,   i, j, t, v) {
		for (i = 1; i <= m; i++) v[i] = a[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		lo = v[1]; hi = v[m]
		return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	END {
		printf "C=%s N=%s, medians of %d rounds\n", c, n, cnt[order[1]]
		printf "%-14s %-24s %-12s %s\n", "peer", "conns/s (min-max)", "own us/conn", "machine us/conn"
		for (p = 1; p <= np; p++) {
			k = order[p]; m = cnt[k]
			r = med(rate, k, m); rl = lo; rh = hi
			printf "%-14s %-24s %-12d %d\n", k, sprintf("%.0f (%.0f-%.0f)", r, rl, rh), med(selfus, k, m), med(machus, k, m)
		}
	}' "$TMP/results"
