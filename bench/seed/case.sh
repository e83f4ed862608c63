#!/usr/bin/env bash
# One run of the seed experiment, on loopback only, printing one summary line:
#
#   start_server --port 127.0.0.1:PORT --pid-file F --status-file F [OPTS] -- WORKER
#   a SIGHUP to the starter every --hup seconds while the load runs (bounded)
#   ab -r -n N -c C URL   (or ab -k, or wrk -c C -d D; over HTTPS with --tls)
#
# then stops every process it started, by pid, and analyses the logs (analyze.pl).
#
#   --pair baton|anchor   baton: build/release/bin/start_server + hello;
#                         anchor: Perl's start_server 0.35 + the Go worker (build/anchor)
#                         bare: start_server + bare_worker, the least a seed worker can
#                         do (the ceiling the load generator allows on this machine)
#   --hup SECS            seconds between HUPs, 0 = none                 (1)
#   --tool ab|wrk         load generator                                 (ab)
#   -k                    keep-alive (ab -k); wrk always keeps alive
#   -n N / -c C           ab requests / concurrency                      (100000 / 1000)
#   --duration D          wrk -d                                         (15s)
#   --readiness MODE      baton only: interval | notify                  (notify)
#   --noflush             workers answer with Content-Length (HTTP/1.0 keep-alive possible)
#   --threads N           baton only: hello's event-loop threads (default: one per core)
#   --tls                 baton only: hello over HTTPS (--tls-cert, --tls-key and
#                         --tls-ticket-keys: bench/http/tls_material.sh's RSA 2048
#                         certificate and ticket key), the load `ab -f TLS1.2` (or wrk)
#   --name NAME           label of the summary line                      (case)
#   --out DIR             keep the logs there                            (a new temp dir)
#   --quiet               no progress on stderr
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${BATON_BIN:-$repo/build/release/bin}

pair=baton hup=1 tool=ab keepalive=0 n=100000 c=1000 duration=15s readiness=notify
noflush=0 name=case out= quiet=0 threads= tls=0
die() { echo "case.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --pair) pair=$2; shift ;;
    --hup) hup=$2; shift ;;
    --tool) tool=$2; shift ;;
    -k) keepalive=1 ;;
    -n) n=$2; shift ;;
    -c) c=$2; shift ;;
    --duration) duration=$2; shift ;;
    --readiness) readiness=$2; shift ;;
    --noflush) noflush=1 ;;
    --threads) threads=$2; shift ;;
    --tls) tls=1 ;;
    --name) name=$2; shift ;;
    --out) out=$2; shift ;;
    --quiet) quiet=1 ;;
    *) die "unknown argument: $1" ;;
    esac
    shift
done
[ "$tool" = wrk ] && keepalive=1
progress() { [ "$quiet" = 1 ] || echo "  [$name/$pair] $*" >&2; }

case $pair in
baton)
    starter=("$bin/start_server" "--readiness=$readiness")
    worker=("$bin/hello")
    [ "$noflush" = 1 ] && worker+=(--no-flush)
    [ -n "$threads" ] && worker+=(--threads "$threads")
    worker_env=()
    ;;
anchor)
    starter=(/usr/bin/start_server)
    worker=("$repo/build/anchor/go18http")
    worker_env=(GO18HTTP_NOFLUSH=$([ "$noflush" = 1 ] && echo 1 || echo 0))
    ;;
bare)
    starter=("$bin/start_server" "--readiness=$readiness")
    worker=("$bin/bare_worker")
    [ "$noflush" = 1 ] && die "--noflush: bare_worker always flushes"
    worker_env=()
    ;;
*) die "--pair must be baton, anchor or bare" ;;
esac
[ "$tls" = 1 ] && [ "$pair" != baton ] && die "--tls: baton only (the anchor and bare_worker have no TLS)"
[ -x "${starter[0]}" ] || die "missing ${starter[0]} (make build; bench/seed/run.sh builds everything)"
[ -x "${worker[0]}" ] || die "missing ${worker[0]} (bench/seed/build-anchor.sh builds the Go worker)"

out=${out:-$(mktemp -d /tmp/baton-seed.XXXXXX)}
mkdir -p "$out"
rm -f "$out"/*.log "$out"/*.tsv "$out"/load.* "$out"/app.pid "$out"/status "$out"/hup.run

# ab -c 1000 and a worker holding 1000 connections need descriptors
want=$((2 * c + 256))
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((c + 64)) ] || die "ulimit -n $(ulimit -n) is too low for -c $c"

port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport')
url="http://127.0.0.1:$port/"
curl_opts=()
if [ "$tls" = 1 ]; then
    "$repo/bench/http/tls_material.sh" "$out" || die "no TLS material" # RSA 2048
    worker+=(--tls-cert="$out/cert.pem" --tls-key="$out/key.pem" --tls-ticket-keys="$out/ticket.key")
    url="https://127.0.0.1:$port/"
    curl_opts=(-k)
fi

starter_pid= ts_pid= hup_pid= mem_pid= load_pid=
cleanup() {
    rm -f "$out/hup.run" "$out/mem.run"
    for pid in $load_pid $hup_pid $mem_pid; do kill "$pid" 2>/dev/null; done
    if [ -n "$starter_pid" ] && kill -0 "$starter_pid" 2>/dev/null; then
        kill -TERM "$starter_pid" 2>/dev/null
        for _ in $(seq 300); do kill -0 "$starter_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$starter_pid" 2>/dev/null
    fi
    # workers the sampler saw, if any outlived their starter (checked by pid and command)
    if [ -f "$out/workers.seen" ]; then
        sort -u "$out/workers.seen" | while read -r pid; do
            if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "${worker[0]}"; then
                echo "$pid" >>"$out/leftover"
                kill -KILL "$pid" 2>/dev/null
            fi
        done
    fi
    [ -n "$ts_pid" ] && wait "$ts_pid" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. the starter, its log time-stamped line by line (epoch seconds)
mkfifo "$out/log.fifo"
perl -MTime::HiRes=time -ne '$| = 1; printf "%.6f %s", time, $_' <"$out/log.fifo" >"$out/starter.log" &
ts_pid=$!
env "${worker_env[@]}" "${starter[@]}" --port "127.0.0.1:$port" --pid-file "$out/app.pid" \
    --status-file "$out/status" -- "${worker[@]}" >"$out/log.fifo" 2>&1 </dev/null &
starter_pid=$!

# 2. wait until it answers (bounded: 10 s)
ready=0
for _ in $(seq 100); do
    if curl "${curl_opts[@]}" -s -o /dev/null -m 2 "$url"; then ready=1; break; fi
    kill -0 "$starter_pid" 2>/dev/null || break
    sleep 0.1
done
[ "$ready" = 1 ] || { cat "$out/starter.log" >&2; die "the server did not answer on $url"; }
progress "serving on $url"

# 3. memory sampler (every 0.5 s, bounded to 1 h): starter RSS, live workers' RSS
touch "$out/mem.run"
(
    end=$((SECONDS + 3600))
    while [ -e "$out/mem.run" ] && [ $SECONDS -lt $end ]; do
        s=$(awk '/^VmRSS/ {print $2}' "/proc/$starter_pid/status" 2>/dev/null)
        w=$(ps --ppid "$starter_pid" -o pid=,rss=,stat= 2>/dev/null | awk '$3 !~ /Z/')
        awk '{print $1}' <<<"$w" | grep . >>"$out/workers.seen"
        echo "$EPOCHREALTIME ${s:-0} $(awk '{n++; s+=$2; if ($2>m) m=$2} END {print n+0, s+0, m+0}' <<<"$w")" \
            >>"$out/mem.log"
        sleep 0.5
    done
) &
mem_pid=$!

# 4. the load, and a HUP every $hup seconds while it runs (bounded: flag + 1 h)
if [ "$tool" = ab ]; then
    load=(ab -r -n "$n" -c "$c" -g "$out/ab.tsv")
    [ "$keepalive" = 1 ] && load+=(-k)
    [ "$tls" = 1 ] && load+=(-f TLS1.2)
else
    load=(wrk -t2 -c "$c" -d "$duration" --timeout 2s --latency)
fi
progress "${load[*]} $url"
"${load[@]}" "$url" >"$out/load.out" 2>"$out/load.err" &
load_pid=$!
if [ "$hup" != 0 ]; then
    touch "$out/hup.run"
    (
        end=$((SECONDS + 3600))
        while [ -e "$out/hup.run" ] && [ $SECONDS -lt $end ]; do
            sleep "$hup"
            [ -e "$out/hup.run" ] || break
            kill -HUP "$starter_pid" 2>/dev/null || break
            echo "$EPOCHREALTIME" >>"$out/hup.log"
        done
    ) &
    hup_pid=$!
fi
if [ "$quiet" = 1 ]; then
    wait "$load_pid"
else
    while kill -0 "$load_pid" 2>/dev/null; do
        sleep 2
        done_n=$(grep -c '^Completed' "$out/load.err" 2>/dev/null)
        progress "$(wc -l <"$out/hup.log" 2>/dev/null || echo 0) HUPs sent${done_n:+, ab progress ${done_n}0%}"
    done
    wait "$load_pid"
fi
load_rc=$?
load_pid=
rm -f "$out/hup.run"
[ -n "$hup_pid" ] && wait "$hup_pid"
hup_pid=

# 5. stop: TERM the starter and time its exit (bounded: 30 s, then KILL)
sleep 0.6 # one more memory sample after the load
rm -f "$out/mem.run"
wait "$mem_pid"
mem_pid=
# CPU the workers used, every generation: the reaped ones are in the starter's cutime+cstime,
# the live ones in their own utime+stime (clock ticks; bounded: the live workers only)
ticks=$(getconf CLK_TCK)
read -r starter_cpu reaped_cpu reaped_faults < <(awk '{ print $14 + $15, $16 + $17, $11 }' "/proc/$starter_pid/stat" 2>/dev/null)
live_cpu=0 live_faults=0
for wpid in $(ps --ppid "$starter_pid" -o pid= 2>/dev/null); do
    read -r t f < <(awk '{ print $14 + $15, $10 }' "/proc/$wpid/stat" 2>/dev/null)
    live_cpu=$((live_cpu + ${t:-0}))
    live_faults=$((live_faults + ${f:-0}))
done
worker_faults=$((${reaped_faults:-0} + live_faults)) # minor page faults, every generation
worker_cpu_s=$(awk -v a="${reaped_cpu:-0}" -v b="$live_cpu" -v t="$ticks" 'BEGIN { printf "%.2f", (a + b) / t }')
starter_cpu_s=$(awk -v a="${starter_cpu:-0}" -v t="$ticks" 'BEGIN { printf "%.2f", a / t }')
t0=$EPOCHREALTIME
echo "$t0" >"$out/stop.t" # drain lines after this are the final stop's, not a restart's
kill -TERM "$starter_pid"
for _ in $(seq 300); do kill -0 "$starter_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$starter_pid" 2>/dev/null && kill -KILL "$starter_pid"
wait "$starter_pid"
starter_rc=$?
stop_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
starter_pid=
wait "$ts_pid"
ts_pid=
cleanup
trap - EXIT

leftover=$(sort -u "$out/leftover" 2>/dev/null | wc -l)
summary="seed name=$name pair=$pair tool=$tool tls=$tls ka=$keepalive hup=$hup readiness=$([ "$pair" = baton ] && echo "$readiness" || echo interval) noflush=$noflush"
figures=$(perl "$here/analyze.pl" "$out" "$tool")
complete=$(sed -n 's/.*\bcomplete=\([0-9][0-9]*\).*/\1/p' <<<"$figures")
worker_us=$(awk -v s="$worker_cpu_s" -v n="${complete:-0}" 'BEGIN { if (n > 0) printf "%.1f", s * 1e6 / n; else print "na" }')
summary+=" $figures worker_cpu_s=$worker_cpu_s worker_cpu_us_per_req=$worker_us worker_faults=$worker_faults starter_cpu_s=$starter_cpu_s load_rc=$load_rc starter_rc=$starter_rc stop_s=$stop_s leftover=$leftover out=$out"
echo "$summary"
