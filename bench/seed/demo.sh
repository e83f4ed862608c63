#!/usr/bin/env bash
# `make demo`: the seed experiment, once, with baton. start_server + examples/hello on a
# loopback port the kernel picks, a SIGHUP every second, and `ab -r -n 100000 -c 1000`.
# Prints ab's results and a summary from start_server's log; exits non-zero if any
# request failed. Every process it starts is stopped by pid, also on Ctrl-C.
#   DEMO_N, DEMO_C, DEMO_HUP: requests, concurrency, seconds between HUPs (100000, 1000, 1)
set -u -o pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
n=${DEMO_N:-100000} c=${DEMO_C:-1000} hup=${DEMO_HUP:-1}

"$repo/scripts/deps.sh" || exit 1
echo "== building (release preset)"
cmake --preset release >/dev/null && cmake --build --preset release | tail -n 1 || exit 1

out=$repo/build/demo
rm -rf "$out"
echo "== start_server + hello, a SIGHUP every ${hup} s, ab -r -n $n -c $c (logs: $out)"
line=$("$here/case.sh" --pair baton --readiness notify -n "$n" -c "$c" --hup "$hup" --name demo --out "$out")
rc=$?
echo
sed -n '/^Server Software/,$p' "$out/load.out"
[ $rc -eq 0 ] || { echo "demo: the run did not complete (exit $rc)"; exit 1; }

get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
echo "== summary"
printf '  %-34s %s\n' \
    "requests completed / failed" "$(get complete) / $(get failed) (non-2xx: $(get non2xx))" \
    "throughput" "$(get rps) req/s (ceiling: $c / 0.1 s = $((c * 10)) req/s)" \
    "latency p50 / p99 / max" "$(get p50) / $(get p99) / $(get max) ms" \
    "HUPs sent / restarts done" "$(get hups_sent) / $(get hups_handled)" \
    "worker generations started" "$(get gens) (failed starts: $(get failed_starts))" \
    "restart latency (HUP to old TERM)" "median $(get restart_ms_med) ms, max $(get restart_ms_max) ms" \
    "old worker drain" "median $(get drain_ms_med) ms, max $(get drain_ms_max) ms" \
    "resident memory" "start_server $(get starter_rss_kb) kB, one worker up to $(get worker_rss_kb) kB" \
    "processes left behind" "$(get leftover)"
failed=$(get failed)
if [ "${failed:-1}" != 0 ] || [ "$(get complete)" != "$n" ]; then
    echo "demo: FAILED: $failed failed requests"
    exit 1
fi
echo "demo: 0 failed requests"
