#!/bin/bash
# SPDX-License-Identifier: MIT
# A measurement, not a test: restart latency (SIGHUP to the old generation gone from the
# status file, i.e. signalled and exited) and resident memory of the starter, for Perl's
# start_server and baton's (--readiness=interval, the default, and --readiness=notify), in
# one run with the same worker (starter_fixture_worker, which exits at once on SIGTERM).
#
#   bench/starter/restart_latency.sh [BUILD_BIN_DIR] [ROUNDS]
#
# Prints one line per starter: median / p90 restart latency in ms, and VmRSS in kB.
set -euo pipefail
bin=${1:-$(dirname "$0")/../../build/release/bin}
rounds=${2:-20}
bin=$(cd "$bin" && pwd)
worker=$bin/starter_fixture_worker
[ -x "$worker" ] || { echo "no $worker: build the dev or release preset first" >&2; exit 1; }
work=$(mktemp -d /tmp/baton-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

now_ns() { date +%s%N; }

# measure NAME STARTER [OPTIONS...]: prints NAME median p90 rss
measure() {
    local name=$1 starter=$2
    shift 2
    local status=$work/$name.status
    "$starter" --port=127.0.0.1:0 --status-file="$status" "$@" -- "$worker" --notify-ready \
        >"$work/$name.log" 2>&1 &
    local spid=$!
    local i
    for i in $(seq 1 1000); do # first generation up (bounded)
        [ -s "$status" ] && break
        sleep 0.01
    done
    local samples=()
    for r in $(seq 1 "$rounds"); do
        local old
        old=$(head -n1 "$status")
        local t0
        t0=$(now_ns)
        kill -HUP "$spid"
        i=0
        while ((i++ < 200000)); do # until the status file no longer lists the old one
            read -r -d '' st <"$status" || true
            [[ -n $st && $st != *"$old"* && ${st%$'\n'} != *$'\n'* ]] && break
        done
        samples+=($((($(now_ns) - t0) / 1000000)))
    done
    local rss
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$spid/status")
    kill -TERM "$spid"
    wait "$spid" || true
    printf '%s\n' "${samples[@]}" | sort -n | awk -v name="$name" -v rss="$rss" '
        { v[NR] = $1 }
        END { printf "%-22s median %6d ms   p90 %6d ms   rss %6d kB\n", name, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], rss }'
}

echo "rounds: $rounds, worker: $worker"
if [ -x /usr/bin/start_server ]; then
    measure perl /usr/bin/start_server
fi
measure baton-interval "$bin/start_server"
measure baton-notify "$bin/start_server" --readiness=notify --ready-timeout=5
