#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A measurement, not a test: requests/s of a wrk load against start_server + examples/hello
# (`--readiness=notify`) without upgrades, and with a SIGUSR2 (an in-place upgrade of
# start_server) every PERIOD seconds during the load; keep-alive and non-keep-alive
# (`Connection: close`) clients. Rounds alternate the order of the variants; it prints the
# medians, the ratio with/without, the upgrades done and failed, and wrk's non-2xx responses
# and socket errors summed over the rounds (the target: 0).
#
#   ROUNDS=5 DURATION=10s CONNECTIONS=64 PERIOD=0.2 URL_PATH=/ bench/starter/upgrade_throughput.sh [BIN_DIR]
#
# URL_PATH=/ is the seed handler (100 ms per request: the load is bounded by the wait, not
# the CPU); URL_PATH=/readyz is hello's readiness answer, at once: a CPU-bound load on
# start_server's core, where each upgrade's fork and exec compete with the worker.
#
# BIN_DIR (default build/release/bin) holds start_server and hello (release preset:
# `cmake --build --preset release --target start_server hello`). start_server and its
# workers run on core 0 (taskset -c 0), wrk on core 1, as bench/http/run.sh does. Every
# process it starts is stopped by pid on exit; every wait is bounded. Loopback only.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
PERIOD=${PERIOD:-0.2}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "${1:-$root/build/release/bin}" && pwd)

die() { echo "bench/starter: $*" >&2; exit 1; }
for tool in wrk taskset curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/deps.sh installs it)"
done
for prog in start_server hello; do
    [ -x "$bin/$prog" ] || die "no $bin/$prog: cmake --build --preset release --target start_server hello"
done

tmp=$(mktemp -d /tmp/baton-bench-upgrade.XXXXXX)
server=
sender=
cleanup() {
    local p i
    for p in $sender $server; do
        kill -TERM "$p" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# One start_server for the whole run, on a free port (a few tries: another may take it).
for ((attempt = 0; attempt < 10; attempt++)); do
    port=$((20000 + RANDOM % 20000))
    taskset -c 0 "$bin/start_server" --port="127.0.0.1:$port" --readiness=notify \
        --pid-file="$tmp/pid" -- "$bin/hello" 2>"$tmp/log" &
    server=$!
    for ((i = 0; i < 200; i++)); do
        kill -0 "$server" 2>/dev/null || break
        curl -s -m 1 -o /dev/null "http://127.0.0.1:$port/" && break 2
        sleep 0.05
    done
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
done
[ -n "$server" ] || die "start_server did not serve: $(tail -n 3 "$tmp/log")"

# wrk_run NAME [wrk args]: one run; appends "rps non2xx errors" to $tmp/NAME.
wrk_run() {
    local name=$1 out
    shift
    out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$@" "http://127.0.0.1:$port${URL_PATH:-/}" 2>&1)
    echo "$out" >>"$tmp/wrk.log"
    echo "$out" | awk '
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
        END { printf "%s %d %d\n", rps, non2xx, errors }' >>"$tmp/$name"
}

count() { grep -c -- "$1" "$tmp/log" || true; }

# upgrading NAME [wrk args]: the same run with a SIGUSR2 every PERIOD seconds meanwhile.
upgrading() {
    local done_before failed_before
    done_before=$(count 'start_server upgraded in')
    failed_before=$(count 'upgrade failed')
    (
        end=$((SECONDS + ${DURATION%s} + 1))
        while [ "$SECONDS" -lt "$end" ]; do
            kill -USR2 "$server" 2>/dev/null || exit 0
            sleep "$PERIOD"
        done
    ) &
    sender=$!
    wrk_run "$@"
    kill -TERM "$sender" 2>/dev/null || true
    wait "$sender" 2>/dev/null || true
    sender=
    echo "$(($(count 'start_server upgraded in') - done_before)) $(($(count 'upgrade failed') - failed_before))" >>"$tmp/$1.upgrades"
}

for ((r = 1; r <= ROUNDS; r++)); do
    echo "bench/starter: round $r of $ROUNDS" >&2
    if ((r % 2)); then
        wrk_run ka_plain
        upgrading ka_upgrading
        wrk_run close_plain -H 'Connection: close'
        upgrading close_upgrading -H 'Connection: close'
    else
        upgrading ka_upgrading
        wrk_run ka_plain
        upgrading close_upgrading -H 'Connection: close'
        wrk_run close_plain -H 'Connection: close'
    fi
done
kill -0 "$server" 2>/dev/null || die "start_server died: $(tail -n 3 "$tmp/log")"

col() { awk -v c="$2" '{ print $c }' "$tmp/$1"; }
sum() { awk -v c="$2" '{ s += $c } END { print s + 0 }' "$tmp/$1"; }
echo "upgrade throughput: $ROUNDS rounds, medians (wrk -t1 -c$CONNECTIONS -d$DURATION; start_server + hello --readiness=notify on core 0, wrk on core 1; USR2 every ${PERIOD} s)"
for kind in ka close; do
    plain=$(col "${kind}_plain" 1 | median)
    up=$(col "${kind}_upgrading" 1 | median)
    label=$([ "$kind" = ka ] && echo "keep-alive" || echo "Connection: close")
    awk -v l="$label" -v p="$plain" -v u="$up" \
        -v ud="$(sum "${kind}_upgrading.upgrades" 1)" -v uf="$(sum "${kind}_upgrading.upgrades" 2)" \
        -v n2="$(($(sum "${kind}_plain" 2) + $(sum "${kind}_upgrading" 2)))" \
        -v se="$(($(sum "${kind}_plain" 3) + $(sum "${kind}_upgrading" 3)))" \
        'BEGIN { printf "%-18s without %10.1f req/s, upgrading %10.1f req/s, ratio %.4f; upgrades %d done, %d failed; non-2xx %d, socket errors %d\n", l, p, u, u / p, ud, uf, n2, se }'
done
echo "per round (rps non2xx errors):"
for f in ka_plain ka_upgrading close_plain close_upgrading; do
    echo "  $f: $(tr '\n' ';' <"$tmp/$f")"
done
