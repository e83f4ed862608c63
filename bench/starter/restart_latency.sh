#!/bin/bash
# SPDX-License-Identifier: MIT
# A measurement, not a test: restart latency and resident memory of the starter, for Perl's
# start_server and baton's (--readiness=interval, the default, and --readiness=notify), in one
# run with the same worker (starter_fixture_worker, which exits at once on SIGTERM).
#
#   bench/starter/restart_latency.sh [BIN_DIR] [ROUNDS] [WORKER_BIN_DIR]
#
# Two latencies per restart, both from the moment SIGHUP is sent:
#   signalled  the starter logs `killing old workers` (the target's definition: HUP to old
#              generation signalled; both starters print that line just before kill(2)).
#              Every log line is time-stamped as it arrives, by a reader blocked on the pipe.
#   gone       the starter logs `old worker PID died` (the old generation also exited and was
#              reaped; the status file is rewritten right after).
# No busy polling: the script sleeps between checks, so it does not compete for the CPU.
# Prints, per starter: median and p90 of each, in ms (3 decimals), and VmRSS in kB.
set -euo pipefail
bin=${1:-$(dirname "$0")/../../build/release/bin}
rounds=${2:-20}
bin=$(cd "$bin" && pwd)
wbin=${3:-$bin}
[ -x "$wbin/starter_fixture_worker" ] || wbin=$(dirname "$0")/../../build/dev/bin
wbin=$(cd "$wbin" && pwd)
worker=$wbin/starter_fixture_worker
[ -x "$worker" ] || { echo "no $worker: build the dev preset first" >&2; exit 1; }
work=$(mktemp -d /tmp/baton-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# stamp: prefixes each line of stdin with $EPOCHREALTIME (µs) as it is read.
stamp() { while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }

# stats NAME FILE: median and p90 of the numbers in FILE (one a line)
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 } END { printf "%9.3f %9.3f", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)] }'
}

# measure NAME STARTER [OPTIONS...]
measure() {
    local name=$1 starter=$2
    shift 2
    local status=$work/$name.status log=$work/$name.log
    "$starter" --port=127.0.0.1:0 --status-file="$status" "$@" -- "$worker" --notify-ready \
        2> >(stamp >"$log") &
    local spid=$!
    local i
    for i in $(seq 1 1000); do # first generation up (bounded)
        [ -s "$status" ] && break
        sleep 0.01
    done
    : >"$work/$name.sig"
    : >"$work/$name.gone"
    for r in $(seq 1 "$rounds"); do
        local t0 t1 t2
        t0=$EPOCHREALTIME
        kill -HUP "$spid"
        for i in $(seq 1 3000); do # this round's `old worker … died` line (bounded)
            (($(grep -c '^[0-9.]* old worker .* died' "$log" || true) >= r)) && break
            sleep 0.005
        done
        t1=$(grep 'killing old workers' "$log" | sed -n "${r}p" | cut -d' ' -f1)
        t2=$(grep '^[0-9.]* old worker .* died' "$log" | sed -n "${r}p" | cut -d' ' -f1)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$work/$name.sig"
        awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$work/$name.gone"
        sleep 0.1 # let the machine settle between rounds
    done
    local rss
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$spid/status")
    kill -TERM "$spid"
    wait "$spid" || true
    printf '%-16s %s   %s   %7d\n' "$name" "$(stats "$work/$name.sig")" \
        "$(stats "$work/$name.gone")" "$rss"
}

echo "rounds: $rounds, starter: $bin/start_server, worker: $worker"
echo "                 HUP->signalled ms   HUP->old gone ms    VmRSS"
echo "starter             median       p90    median       p90       kB"
if [ -x /usr/bin/start_server ]; then
    measure perl /usr/bin/start_server
fi
measure baton-interval "$bin/start_server"
measure baton-notify "$bin/start_server" --readiness=notify --ready-timeout=5
