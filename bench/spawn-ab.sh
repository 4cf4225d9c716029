#!/usr/bin/env bash
# spawn-ab.sh: Accept=yes spawn rate and CPU per connection of sockd
# binaries side by side (interleaved), with tcpserver beside them.
#
#   bench/spawn-ab.sh [-r ROUNDS] [-c CONC] [-n N] BIN... [tcpserver]
#
# Each BIN is a sockd binary, optionally prefixed with environment
# assignments and a label: "label=ENV=V,ENV2=V2:/path/to/sockd" (or just
# /path/to/sockd). "tcpserver" adds ucspi-tcp's tcpserver. For every round
# each peer is started fresh on 127.0.0.1, warmed with 200 connections, and
# measured over N connections at concurrency CONC with the harness's
# loadclient and static hello (../shared/bench; run its setup.sh once).
# Reported per peer: median (min-max) connections/s, the peer's own CPU per
# connection (utime+stime from /proc/PID/stat) and the whole machine's
# (/proc/stat, all cores, without idle and iowait), medians.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
harness=${HARNESS:-$top/../shared/bench}
R=5 C=8 N=3000
while getopts r:c:n: o; do
	case $o in
	r) R=$OPTARG ;; c) C=$OPTARG ;; n) N=$OPTARG ;; *) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-r ROUNDS] [-c CONC] [-n N] BIN... [tcpserver]" >&2; exit 2; }
. "$harness/lib.sh"
build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PORT=23456 render "$harness/units/hello.socket" "$tmp/hello.socket"
render "$harness/units/hello@.service" "$tmp/hello@.service"

mach() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
self() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for ((r = 0; r < R; r++)); do
	for peer in "$@"; do
		label=$peer envs=() bin=$peer port=23456
		if [ "$peer" = tcpserver ]; then
			tcpserver -R -H -l 0 -c 1000 -b 128 127.0.0.1 23457 "$HELLO" & pid=$!
			port=23457
		else
			if [[ $peer == *:* ]]; then
				label=${peer%%:*} bin=${peer#*:}
				if [[ $label == *=* ]]; then
					IFS=, read -ra envs <<<"${label#*=}"
					label=${label%%=*}
				fi
			fi
			rm -f "$tmp/control.sock"
			env "${envs[@]}" "$bin" run --units "$tmp" --config /dev/null --control "$tmp/control.sock" --log-level warn & pid=$!
		fi
		sleep 0.4
		"$LOADCLIENT" -addr "127.0.0.1:$port" -n 200 -c "$C" >/dev/null
		m0=$(mach) s0=$(self "$pid")
		out=$("$LOADCLIENT" -addr "127.0.0.1:$port" -n "$N" -c "$C")
		m1=$(mach) s1=$(self "$pid")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		echo "$label $(kv conn_per_s "$out") $(((s1 - s0) * 1000000 / hz / N)) $(((m1 - m0) * 1000000 / hz / N))"
	done
done | awk -v c="$C" -v n="$N" '
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
	}'
