#!/bin/bash
# SPDX-License-Identifier: MIT
# A measurement, not a test: start_server's in-place upgrade (SIGUSR2), from the moment the
# signal is sent to the new image's `start_server upgraded in N ms, M workers kept` line (it
# has resumed every worker by then), over ROUNDS upgrades of one start_server with one
# worker; then descriptors and VmRSS after them, against before.
#
#   bench/starter/upgrade_latency.sh [BIN_DIR] [ROUNDS]
#
# Every log line is time-stamped as it arrives, by a reader blocked on the pipe (as in
# restart_latency.sh). Prints median and p99 in ms (3 decimals), fds and VmRSS (kB).
# Requests/s under wrk during a series of upgrades: upgrade_throughput.sh.
set -euo pipefail
bin=${1:-$(dirname "$0")/../../build/release/bin}
rounds=${2:-100}
bin=$(cd "$bin" && pwd)
worker=$bin/starter_fixture_worker
[ -x "$worker" ] || worker=$(cd "$(dirname "$0")/../../build/dev/bin" && pwd)/starter_fixture_worker
[ -x "$worker" ] || { echo "no starter_fixture_worker: build the dev preset first" >&2; exit 1; }
work=$(mktemp -d /tmp/baton-bench-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; rm -rf "$work"' EXIT

stamp() { while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }

"$bin/start_server" --port=127.0.0.1:0 --interval=0 -- "$worker" 2> >(stamp >"$work/log") &
pid=$!
# bounded waits: 10 s for the worker, 5 s for each upgrade
for _ in $(seq 1000); do grep -q "starting new worker" "$work/log" 2>/dev/null && break; sleep 0.01; done
grep -q "starting new worker" "$work/log" || { echo "start_server did not start" >&2; exit 1; }
fds_before=$(ls "/proc/$pid/fd" | wc -l)
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
: >"$work/times"
for i in $(seq "$rounds"); do
    sent=$EPOCHREALTIME
    kill -USR2 "$pid"
    for _ in $(seq 5000); do
        [ "$(grep -c 'start_server upgraded in' "$work/log")" -ge "$i" ] && break
        sleep 0.001
    done
    line=$(grep 'start_server upgraded in' "$work/log" | sed -n "${i}p")
    [ -n "$line" ] || { echo "upgrade $i did not complete" >&2; exit 1; }
    echo "${line%% *} $sent" | awk '{printf "%.3f\n", ($1 - $2) * 1000}' >>"$work/times"
done
fds_after=$(ls "/proc/$pid/fd" | wc -l)
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
sort -n "$work/times" | awk -v n="$rounds" '{a[NR]=$1} END {
    printf "upgrades %d: median %.3f ms, p99 %.3f ms\n", n, a[int((n+1)/2)], a[int(n*0.99+0.5)]}'
echo "descriptors: $fds_before before, $fds_after after; VmRSS kB: $rss_before before, $rss_after after"
