#!/usr/bin/env bash
# Worker CPU per request under the seed load, A/B: two builds of examples/hello side by side
# with bench/seed/bare_worker (the floor), interleaved over rounds, on loopback only.
#
#   bench/seed/cpu_per_request.sh [--base DIR] [--rounds N] [-n N] [-c C] [-- HELLO_ARGS...]
#
#   --base DIR   bin directory of the reference build (A), e.g. a release build of main;
#                without it only B (this tree's build/release/bin) and bare run
#   --bin DIR    bin directory of B                          (build/release/bin)
#   --rounds N   rounds, the order rotating from round to round                   (5)
#   -n N / -c C  ab requests / concurrency per measurement               (20000 / 500)
#   HELLO_ARGS   passed to both hellos (`--threads 1`, `--no-flush`, ...)
#   A_ARGS, B_ARGS (environment): more arguments for A or B only, split at blanks; with
#                `--base` the same as `--bin`, `A_ARGS='--threads 1'` compares loop counts
#
# Each measurement starts the worker alone on a free port, warms it (ab -n 2000 -c 100),
# reads utime+stime of the process (/proc/PID/stat: every thread's), runs `ab -r -n N -c C`,
# reads them again and prints (ticks * 10^6 / CLK_TCK) / completed requests as µs per
# request. A run with a failed request is reported and counts as missing. The worker is
# stopped by its pid. Medians of the rounds and the ratios (B/A, A/bare, B/bare) at the end.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin_b=$repo/build/release/bin
bin_a=
rounds=5 n=20000 c=500
die() { echo "cpu_per_request.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --base) bin_a=$2; shift ;;
    --bin) bin_b=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    -n) n=$2; shift ;;
    -c) c=$2; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
    esac
    shift
done
hello_args=("$@")
read -r -a a_args <<<"${A_ARGS:-}"
read -r -a b_args <<<"${B_ARGS:-}"
command -v ab >/dev/null || die "ab not found (apache2-utils: scripts/deps.sh)"
[ -x "$bin_b/hello" ] || die "$bin_b/hello not built (cmake --build --preset release --target hello)"
[ -x "$bin_b/bare_worker" ] || die "$bin_b/bare_worker not built (--target bare_worker)"
[ -z "$bin_a" ] || [ -x "$bin_a/hello" ] || die "$bin_a/hello not found"
ulimit -n 4096 2>/dev/null || true
tck=$(getconf CLK_TCK)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cpu_ticks() { # utime + stime of the process $1
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

worker_pid=
stop_worker() {
    [ -n "$worker_pid" ] || return 0
    kill -TERM "$worker_pid" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$worker_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$worker_pid" 2>/dev/null
    wait "$worker_pid" 2>/dev/null
    worker_pid=
}
trap stop_worker EXIT

# measure NAME PROGRAM ARGS...: prints "NAME µs/request" (or "NAME failed ...")
measure() {
    local name=$1 port
    shift
    port=$(free_port)
    "$@" "127.0.0.1:$port" >/dev/null 2>"$tmp/$name.err" &
    worker_pid=$!
    local up=0
    for _ in $(seq 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/"; then up=1; break; fi
        sleep 0.1
    done
    if [ "$up" = 0 ]; then
        echo "$name failed: not serving on $port" >&2
        stop_worker
        return
    fi
    ab -q -r -n 2000 -c 100 "http://127.0.0.1:$port/" >/dev/null 2>&1
    local before after
    before=$(cpu_ticks "$worker_pid")
    ab -q -r -n "$n" -c "$c" "http://127.0.0.1:$port/" >"$tmp/$name.ab" 2>&1
    after=$(cpu_ticks "$worker_pid")
    stop_worker
    local done_n failed
    done_n=$(awk '/^Complete requests:/ { print $3 }' "$tmp/$name.ab")
    failed=$(awk '/^Failed requests:/ { print $3 }' "$tmp/$name.ab")
    if [ -z "$done_n" ] || [ "$done_n" = 0 ] || [ "${failed:-1}" != 0 ]; then
        echo "$name failed: complete=${done_n:-?} failed=${failed:-?}" >&2
        return
    fi
    awk -v name="$name" -v t=$((after - before)) -v tck="$tck" -v r="$done_n" \
        'BEGIN { printf "%s %.1f\n", name, t * 1e6 / tck / r }'
}

tmp=$(mktemp -d)
variants=(bare B)
[ -n "$bin_a" ] && variants=(bare A B)
results=$tmp/results
for ((round = 1; round <= rounds; round++)); do
    # rotate the order: every variant runs first, middle and last in turn
    k=$(((round - 1) % ${#variants[@]}))
    order=("${variants[@]:k}" "${variants[@]:0:k}")
    line="round $round:"
    for v in "${order[@]}"; do
        case $v in
        bare) r=$(measure bare "$bin_b/bare_worker") ;;
        A) r=$(measure A "$bin_a/hello" "${hello_args[@]}" "${a_args[@]}") ;;
        B) r=$(measure B "$bin_b/hello" "${hello_args[@]}" "${b_args[@]}") ;;
        esac
        [ -n "$r" ] && echo "$r" >>"$results" && line+=" $r µs"
    done
    echo "$line"
done

median() { # median of the values of variant $1
    awk -v v="$1" '$1 == v { print $2 }' "$results" | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
echo "medians over $rounds rounds (ab -n $n -c $c, hello ${hello_args[*]:-default}${A_ARGS:+, A: $A_ARGS}${B_ARGS:+, B: $B_ARGS}), µs of worker CPU per request:"
declare -A med
for v in "${variants[@]}"; do
    med[$v]=$(median "$v")
    echo "  $v ${med[$v]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
[ -n "$bin_a" ] && echo "  A/bare $(ratio "${med[A]}" "${med[bare]}")  B/A $(ratio "${med[B]}" "${med[A]}")"
echo "  B/bare $(ratio "${med[B]}" "${med[bare]}")"
rm -rf "$tmp"
