#!/usr/bin/env bash
# bench/fleet/run.sh [options]: a rolling deploy of a three-host fleet behind a real load
# balancer, under load, and what the clients and the balancer saw (docs/fleet.md).
#
# Hosts h2, h3, h4: `start_server --port 127.0.0.N:P [--health=127.0.0.N:HP]
# [--drain-delay=S] -- worker` on 127.0.0.2-4; the balancer on 127.0.0.1 (HAProxy 2.6 with
# examples/haproxy/haproxy.cfg, or nginx with examples/nginx/nginx.conf). Load: ab -k GET,
# ab GET (a connection a request) and ab -p POST, all at once. Phase "hup": each host in
# turn restarted in place (start_server --restart); phase "stop": each host in turn stopped
# (start_server --stop) and started again, the next only once the balancer has it UP.
# Per phase: requests, failed, non-2xx per load, the balancer's retries and redispatches
# (a zero hidden by a retry is not a zero) and how long each host was out of the pool.
#
# Variants (--variants, default all):
#   strict   HAProxy, retries 0, no redispatch: every dropped request shows
#   default  HAProxy with its own defaults (retries 3 on conn-failure)
#   nginx    nginx-light, upstream keepalive, passive checks only
#   go       strict HAProxy, the Go anchor worker (../shared/anchors/go18http) on each host
#   nodelay  strict HAProxy, no --drain-delay: today's stop, for the difference
# --health and --drain-delay are each used when `start_server --help` lists them (--health
# off: neither); without --health HAProxy checks the worker's own GET /, which stays 200
# through a drain delay, so only both together take a stopping host out in time.
#
# Options: --bin DIR (start_server and hello; default build/release/bin), --drain-delay S
# (default 2), --requests N (each load's cap, default 1000000), --concurrency C (each load,
# default 16), --variants "strict default ...", --health auto|off, --keep (keep the temp dir).
# Loopback only; every process it starts is ended by its pid; each wait is bounded.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/bench/fleet
bin=$repo/build/release/bin
drain=2
requests=1000000
conc=16
variants="strict default nginx go nodelay"
health_mode=auto
keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --bin) bin=$2; shift 2 ;;
    --drain-delay) drain=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --concurrency) conc=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --health) health_mode=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done
for tool in ab perl ss; do
    command -v $tool >/dev/null || { echo "run.sh: $tool is not installed (make deps)" >&2; exit 1; }
done
[ -x "$bin/start_server" ] && [ -x "$bin/hello" ] ||
    { echo "run.sh: no start_server/hello in $bin (make build, or --bin)" >&2; exit 1; }

# Each option is used once start_server's --help lists it (--health off: neither).
help=$("$bin/start_server" --help 2>&1 || true)
has_health=0 has_delay=0
if [ "$health_mode" = auto ]; then
    grep -qE '^ +--health[= ]' <<<"$help" && has_health=1
    grep -qE '^ +--drain-delay[= ]' <<<"$help" && has_delay=1
fi

dir=$(mktemp -d /tmp/baton-fleet.XXXXXX)
pids=()         # every process started here, ended by pid at exit
declare -A host_pid
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
}
finish() {
    cleanup
    if [ $keep = 1 ]; then echo "run.sh: kept $dir"; else rm -rf "$dir"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# A port free on 127.0.0.1-4 now (a bench may pick; tests bind port 0 and read it back).
free_port() {
    local p n
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 30000))
        n=$(ss -Htan "sport = :$p" | wc -l)
        [ "$n" = 0 ] && { echo $p; return; }
    done
    echo "run.sh: no free port" >&2; exit 1
}

# wait_for SECONDS COMMAND...: poll every 50 ms until COMMAND succeeds; 1 on timeout.
wait_for() {
    local end=$(($(date +%s%N) / 1000000 + $1 * 1000)); shift
    until "$@"; do
        [ $(($(date +%s%N) / 1000000)) -lt $end ] || return 1
        sleep 0.05
    done
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

stat() { perl "$here/haproxy_stat.pl" "$@"; }
# UP with no failed check pending ("UP 1/2" is one failure from DOWN)
is_up() { [ "$(stat status "$dir/admin.sock" "h$1")" = UP ]; }
is_listening() { [ "$(ss -Htln "src 127.0.0.$1 and sport = :$port" | wc -l)" != 0 ]; }
# nginx has no pool: a host is "back" once it answers directly.
answers() { curl -fs -o /dev/null -m 2 "http://127.0.0.$1:$port/"; }
in_pool() { if [ $lb = nginx ]; then answers "$1"; else is_up "$1"; fi; }

start_host() {
    local n=$1 args
    args=(--port "127.0.0.$n:$port" --pid-file "$dir/h$n.pid" --status-file "$dir/h$n.status"
        --shutdown-timeout=10 "${readiness[@]}")
    [ $has_health = 0 ] || args+=(--health="127.0.0.$n:$health_port")
    [ "$delay" = 0 ] || args+=(--drain-delay="$delay")
    "$bin/start_server" "${args[@]}" -- "${worker[@]}" >>"$dir/h$n.log" 2>&1 &
    host_pid[$n]=$!
    pids+=($!)
    wait_for 20 is_listening "$n" || { echo "run.sh: h$n did not start:" >&2; cat "$dir/h$n.log" >&2; exit 1; }
}

stop_host() {
    local n=$1
    "$bin/start_server" --stop --pid-file "$dir/h$n.pid" >>"$dir/h$n.log" 2>&1 || true
    wait "${host_pid[$n]}" 2>/dev/null || true
}

start_lb() {
    export FLEET_DIR=$dir FLEET_FRONT=127.0.0.1:$front
    export FLEET_H2=127.0.0.2:$port FLEET_H3=127.0.0.3:$port FLEET_H4=127.0.0.4:$port
    if [ $lb = nginx ]; then
        mkdir -p "$dir/client_body" "$dir/proxy"
        chmod 755 "$dir" # nginx's workers run as nobody when it starts as root
        sed "s|@FLEET_DIR@|$dir|g; s|@FLEET_FRONT@|$FLEET_FRONT|; s|@FLEET_H2@|$FLEET_H2|;
             s|@FLEET_H3@|$FLEET_H3|; s|@FLEET_H4@|$FLEET_H4|" \
            "$repo/examples/nginx/nginx.conf" >"$dir/nginx.conf"
        nginx -e "$dir/nginx-error.log" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' \
            >>"$dir/lb.log" 2>&1 &
    else
        if [ $has_health = 1 ]; then
            export FLEET_CHECK_PATH=/readyz FLEET_CHECK_PORT=$health_port
        else
            export FLEET_CHECK_PATH=/ FLEET_CHECK_PORT=$port
        fi
        if [ $lb = strict ]; then export FLEET_STRICT=1; else unset FLEET_STRICT; fi
        haproxy -db -f "$repo/examples/haproxy/haproxy.cfg" >>"$dir/lb.log" 2>&1 &
    fi
    lb_pid=$!
    pids+=($lb_pid)
    for n in 2 3 4; do
        wait_for 20 in_pool $n || { echo "run.sh: h$n never in the pool" >&2; cat "$dir/lb.log" >&2; exit 1; }
    done
}

counters() { if [ $lb = nginx ]; then echo "- -"; else stat counters "$dir/admin.sock"; fi; }

# start_load PHASE: the three loads in the background, until stop_load.
start_load() {
    local url=http://127.0.0.1:$front/ common
    common=(-r -s 30 -c "$conc" -t 600 -n "$requests")
    ab "${common[@]}" -k "$url" >"$dir/$1.ab-k" 2>&1 &
    load_pids=($!)
    ab "${common[@]}" "$url" >"$dir/$1.ab" 2>&1 &
    load_pids+=($!)
    ab "${common[@]}" -p "$dir/body" -T application/octet-stream "$url" >"$dir/$1.ab-p" 2>&1 &
    load_pids+=($!)
    pids+=("${load_pids[@]}")
}

# stop_load: ab prints its results on SIGINT.
stop_load() {
    local p
    for p in "${load_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${load_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

ab_field() { # FILE "Field name": its number, 0 when ab did not print it
    local v
    v=$(sed -n "s/^$2: *\([0-9]*\).*/\1/p" "$1" | head -1)
    echo "${v:-0}"
}

report_phase() { # PHASE FROM_MS TO_MS WRETR0 WREDIS0
    local phase=$1 f out w1 r1 name req
    for f in ab-k ab ab-p; do
        case $f in ab-k) name="GET keep-alive" ;; ab) name="GET close" ;; *) name="POST" ;; esac
        req=$(ab_field "$dir/$phase.$f" "Complete requests")
        [ "$req" -lt "$requests" ] || echo "  (the $name load hit --requests before the deploy ended)"
        printf '  %-6s %-15s %9s %7s %8s\n' "$phase" "$name" "$req" \
            "$(ab_field "$dir/$phase.$f" "Failed requests")" \
            "$(ab_field "$dir/$phase.$f" "Non-2xx responses")"
    done
    if [ $lb = nginx ]; then
        # nginx OSS counts no retries: a request that tried two hosts logs "a, b"
        printf '  %-6s retried (access log): %s; out of the pool: n/a (passive checks)\n' "$phase" \
            "$(tail -n +"$log_from" "$dir/nginx-access.log" | grep -c ', 127\.' || true)"
        return
    fi
    read -r w1 r1 <<<"$(counters)"
    out=$(stat out "$dir/pool.log" "$2" "$3")
    printf '  %-6s wretr %s  wredis %s  ms out of the pool: %s\n' "$phase" $(($w1 - $4)) \
        $(($r1 - $5)) "$out"
}

# run_phase PHASE: load, the rolling action over h2..h4, load off, report.
run_phase() {
    local phase=$1 n w0 r0 from to
    read -r w0 r0 <<<"$(counters)"
    log_from=1 # nginx: this phase's first access log line
    [ ! -f "$dir/nginx-access.log" ] || log_from=$(($(wc -l <"$dir/nginx-access.log") + 1))
    start_load "$phase"
    sleep 1 # load reaches steady state before the first host moves
    from=$(now_ms)
    for n in 2 3 4; do
        if [ "$phase" = hup ]; then
            "$bin/start_server" --restart --pid-file "$dir/h$n.pid" \
                --status-file "$dir/h$n.status" >>"$dir/h$n.log" 2>&1 ||
                echo "  (restart of h$n failed; see $dir/h$n.log)"
        else
            stop_host $n
            start_host $n
            sleep 0.6 # HAProxy checks it (rise + 1) x inter afresh before it counts as back
        fi
        wait_for 30 in_pool $n || echo "  (h$n not back in the pool after 30 s)"
    done
    to=$(now_ms)
    sleep 1 # and a tail of load over the whole fleet
    stop_load
    printf '  %-6s %s ms for the three hosts\n' "$phase" $((to - from))
    report_phase "$phase" "$from" "$to" "${w0:-0}" "${r0:-0}"
}

run_variant() {
    local v=$1
    lb=strict delay=$drain worker=("$bin/hello" --no-flush) readiness=(--readiness=notify)
    local wname=hello
    case $v in
    strict) ;;
    default) lb=default ;;
    nginx) lb=nginx; command -v nginx >/dev/null || { echo "== nginx: not installed"; return; } ;;
    go)
        "$repo/bench/seed/build-anchor.sh" "$repo/build/anchor" >/dev/null
        worker=(env GO18HTTP_QUIET=1 GO18HTTP_NOFLUSH=1 "$repo/build/anchor/go18http")
        wname=go18http
        readiness=(--readiness=interval --interval=1) ;; # the Go worker sends no READY=1
    nodelay) delay=0 ;;
    *) echo "run.sh: unknown variant $v" >&2; exit 2 ;;
    esac
    [ $lb = nginx ] || command -v haproxy >/dev/null || { echo "== $v: haproxy not installed"; return; }
    [ $has_delay = 1 ] || delay=0
    port=$(free_port) health_port=$(free_port) front=$(free_port)
    echo "== $v: $([ $lb = nginx ] && echo nginx || echo "HAProxy $lb"), worker $wname, \
drain delay ${delay} s, check $([ $has_health = 1 ] && echo "/readyz on --health" || echo "GET / on the worker")"
    for n in 2 3 4; do start_host $n; done
    start_lb
    if [ $lb != nginx ]; then
        perl "$here/haproxy_stat.pl" watch "$dir/admin.sock" "$dir/pool.log" &
        pids+=($!)
    fi
    printf '  %-6s %-15s %9s %7s %8s\n' phase load requests failed non-2xx
    run_phase hup
    run_phase stop
    cleanup
    rm -f "$dir"/*.pid "$dir"/*.status* "$dir/pool.log" "$dir/admin.sock"
}

head -c 4096 /dev/zero | tr '\0' x >"$dir/body"
[ $has_health = 1 ] || echo "note: $bin/start_server has no --health: HAProxy checks the worker's GET /"
[ $has_delay = 1 ] || echo "note: $bin/start_server has no --drain-delay: every variant stops at once"
for v in $variants; do run_variant "$v"; done
