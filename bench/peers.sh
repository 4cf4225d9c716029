#!/usr/bin/env bash
# peers.sh: run the shared peer harness (../shared/bench) with sockd in it,
# side by side with tcpserver, xinetd, openbsd-inetd, systemd-socket-activate
# and the fork+exec limits, in one run.
#
#   bench/peers.sh [spawn-per-conn|cold-start|idle-footprint]...   (default: all three)
#
# Knobs are the harness's (N, CONC, REPS, KS, ...; see its README). Needs
# the harness's setup once: ../shared/bench/setup.sh (apt: xinetd, ucspi-tcp...).
# Reports go to stdout; progress to stderr.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
harness=${HARNESS:-$top/../shared/bench}
[ -d "$harness" ] || { echo "peers.sh: no harness at $harness" >&2; exit 1; }
make -C "$top" -s build >&2
export SOCKD_CMD="$top/bin/sockd run --units \"\$SOCKD_UNITS\" --config /dev/null --control \"\$SOCKD_UNITS/control.sock\" --log-level warn"
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(spawn-per-conn cold-start idle-footprint)
for s in "${scripts[@]}"; do
	echo "## $s" 
	"$harness/$s"
	echo
done
