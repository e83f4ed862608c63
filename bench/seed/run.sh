#!/usr/bin/env bash
# bench/seed: the seed experiment, baton (start_server + hello) and the anchor pair (Perl's
# start_server 0.35 + the Go worker) interleaved in each round, then a table of medians
# and ratios (summarize.pl) and a plot of throughput and latency over time (plot.sh).
# A measurement, not a test: it never fails on a figure.
#
#   --rounds N          rounds (3)
#   --variants LIST     comma-separated, from: seed interval hup0.2 hup0.05 nohup wrk abk
#                       ceiling tls tlsnohup (all)
#   -n N / -c C         ab requests / concurrency (100000 / 1000)
#   --tls-n N           ab requests of the tls variants (20000; -c is the same)
#   --duration D        wrk -d (15s)
#   --results DIR       where results.txt, table.md and the plots go (build/bench/seed-DATE)
#
# Variants (baton runs with --readiness=notify unless the variant says otherwise):
#   seed      ab, a HUP every second                    (the blog's experiment)
#   interval  as seed, baton with --readiness=interval   (baton only: notify vs interval)
#   hup0.2    ab, a HUP every 0.2 s
#   hup0.05   ab, a HUP every 0.05 s
#   nohup     ab, no HUP                                 (the baseline)
#   wrk       wrk -c C over HTTP/1.1 keep-alive, a HUP every second
#   abk       ab -k against workers that do not flush (HTTP/1.0 keep-alive), a HUP every second
#   ceiling   ab, no HUP, start_server + bare_worker only: the least a seed worker can do,
#             so the table shows what ab itself allows on this machine (at most 10,000 req/s)
#   tls       `ab -f TLS1.2` over HTTPS (a full handshake per request), a HUP every second
#             (baton only: the anchor pair has no TLS)
#   tlsnohup  as tls without HUPs: the TLS variant's ceiling (baton only)
set -u -o pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

rounds=3 variants=seed,interval,hup0.2,hup0.05,nohup,wrk,abk,ceiling,tls,tlsnohup n=100000 c=1000
duration=15s tls_n=20000
results=$repo/build/bench/seed-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift ;;
    --variants) variants=$2; shift ;;
    -n) n=$2; shift ;;
    -c) c=$2; shift ;;
    --tls-n) tls_n=$2; shift ;;
    --duration) duration=$2; shift ;;
    --results) results=$2; shift ;;
    *) echo "run.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

"$repo/scripts/deps.sh"
cmake --preset release >/dev/null && cmake --build --preset release >/dev/null || exit 1
"$here/build-anchor.sh" || exit 1
mkdir -p "$results"
echo "bench/seed: $rounds rounds of $variants; results in $results" >&2

run_case() { # VARIANT PAIR ROUND
    local v=$1 pair=$2 round=$3 args=(--pair "$pair" -n "$n" -c "$c" --duration "$duration" --quiet)
    case $v in
    seed) args+=(--hup 1) ;;
    interval) args+=(--hup 1 --readiness interval) ;;
    hup0.2) args+=(--hup 0.2) ;;
    hup0.05) args+=(--hup 0.05) ;;
    nohup | ceiling) args+=(--hup 0) ;;
    wrk) args+=(--hup 1 --tool wrk) ;;
    abk) args+=(--hup 1 -k --noflush) ;;
    tls) args+=(--hup 1 --tls -n "$tls_n") ;;
    tlsnohup) args+=(--hup 0 --tls -n "$tls_n") ;;
    *) echo "run.sh: unknown variant $v" >&2; return 1 ;;
    esac
    local out="$results/logs/$v-$pair-$round"
    echo "  round $round: $v / $pair" >&2
    "$here/case.sh" "${args[@]}" --name "$v" --out "$out" | sed "s/^seed /seed round=$round /" \
        | tee -a "$results/results.txt" | cut -c1-160 >&2
}

for round in $(seq "$rounds"); do
    for v in ${variants//,/ }; do
        pairs="baton anchor"
        case $v in interval | tls | tlsnohup) pairs=baton ;; esac
        [ "$v" = ceiling ] && pairs=bare
        # alternate which pair goes first, so neither always runs on a warmer machine
        [ $((round % 2)) = 0 ] && pairs=$(echo "$pairs" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
        for pair in $pairs; do run_case "$v" "$pair" "$round"; done
    done
done

perl "$here/summarize.pl" "$results/results.txt" | tee "$results/table.md"
"$here/plot.sh" "$results" seed || true
