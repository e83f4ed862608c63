#!/usr/bin/env bash
# bench/http/run.sh: baton::http's hello benchmark, side by side with nginx.
# A measurement, not a test: it prints medians and ratios and never fails on a
# missed target. One command; builds what it needs with the release preset.
#
#   ROUNDS=3 DURATION=10s CONNECTIONS=128 IDLE=1000 bench/http/run.sh
#
# Each round, interleaved (the order alternates from round to round):
#   req/s   baton (hello_bench_server, 1 event-loop thread) and nginx (worker_processes 1),
#           each pinned to core 0 (taskset -c 0), `wrk -t1 -c$CONNECTIONS -d$DURATION` keep-alive
#           pinned to core 1; the body is "Hello, world!" (13 bytes)
#   RSS     VmRSS of a fresh baton server (and of the nginx worker) holding $IDLE open idle
#           keep-alive connections, each having served one request
#   drain   `hello_bench_server drain $CONNECTIONS`: from the last response the clients read to
#           shutdown() returning, with $CONNECTIONS connections whose requests were in flight
# Every process it starts is stopped by pid on exit; every wait is bounded. Loopback only.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-128}
IDLE=${IDLE:-1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/build/release/bin

die() { echo "bench/http: $*" >&2; exit 1; }
for tool in wrk taskset nginx; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
        die "$tool not found (scripts/deps.sh installs it)"
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

echo "bench/http: building (release preset)" >&2
(cd "$root" && cmake --preset release >/dev/null &&
    cmake --build --preset release -j2 --target hello_bench_server idle_clients >/dev/null) ||
    die "build failed"

tmp=$(mktemp -d /tmp/baton-bench-http.XXXXXX)
pids=()
cleanup() {
    local p i
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop() { # stop one pid we started and forget it
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    local keep=() q
    for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    pids=("${keep[@]}")
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

start_baton() { # start_baton NAME: sets baton_pid, baton_port
    local out=$tmp/$1.out i
    taskset -c 0 "$bin/hello_bench_server" serve 0 >"$out" 2>"$tmp/$1.err" &
    baton_pid=$!
    pids+=("$baton_pid")
    for ((i = 0; i < 200; i++)); do
        baton_port=$(awk '/^port / { print $2 }' "$out")
        [ -n "$baton_port" ] && return 0
        kill -0 "$baton_pid" 2>/dev/null || break
        sleep 0.05
    done
    die "hello_bench_server did not start: $(cat "$tmp/$1.err")"
}

start_nginx() { # sets nginx_pid, nginx_port
    local attempt i
    mkdir -p "$tmp/nginx/logs"
    for ((attempt = 0; attempt < 10; attempt++)); do
        nginx_port=$((20000 + RANDOM % 20000))
        cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { return 200 "Hello, world!"; }
    }
}
CONF
        taskset -c 0 "$nginx_bin" -p "$tmp/nginx" -e "$tmp/nginx/logs/error.log" \
            -c "$tmp/nginx/nginx.conf" 2>>"$tmp/nginx.err" &
        nginx_pid=$!
        pids+=("$nginx_pid")
        for ((i = 0; i < 100; i++)); do
            kill -0 "$nginx_pid" 2>/dev/null || break
            if curl -s -m 1 -o /dev/null "http://127.0.0.1:$nginx_port/"; then return 0; fi
            sleep 0.05
        done
        stop "$nginx_pid"
    done
    die "nginx did not start: $(tail -n 3 "$tmp/nginx/logs/error.log" 2>/dev/null)"
}

wrk_rps() { # wrk_rps PORT -> requests/s
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$1/" 2>&1 |
        tee -a "$tmp/wrk.log" | awk '/^Requests\/sec:/ { print $2 }'
}

idle_rss() { # idle_rss PID PORT -> VmRSS in kB of PID with $IDLE idle connections open
    local pid=$1 port=$2 out=$tmp/idle.out cpid i
    : >"$out"
    taskset -c 1 "$bin/idle_clients" "$port" "$IDLE" >"$out" &
    cpid=$!
    pids+=("$cpid")
    for ((i = 0; i < 600; i++)); do
        grep -q '^open' "$out" && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.05
    done
    grep -q "^open $IDLE ok $IDLE" "$out" || echo "bench/http: idle clients: $(cat "$out")" >&2
    rss_kb "$pid"
    stop "$cpid"
}

start_nginx
nginx_worker=$(ps -o pid= --ppid "$nginx_pid" | head -n 1 | tr -d ' ')
echo "bench/http: nginx $("$nginx_bin" -v 2>&1 | sed 's/.*: //') on port $nginx_port (worker pid $nginx_worker)" >&2

for ((round = 1; round <= ROUNDS; round++)); do
    start_baton "baton$round"
    if ((round % 2)); then order="baton nginx"; else order="nginx baton"; fi
    for who in $order; do
        if [ "$who" = baton ]; then port=$baton_port; else port=$nginx_port; fi
        rps=$(wrk_rps "$port")
        echo "$rps" >>"$tmp/rps.$who"
        echo "bench/http: round $round $who ${rps:-?} req/s" >&2
    done
    stop "$baton_pid"

    start_baton "idle$round"
    echo "$(rss_kb "$baton_pid")" >>"$tmp/rss0.baton"
    r=$(idle_rss "$baton_pid" "$baton_port")
    echo "$r" >>"$tmp/rss.baton"
    stop "$baton_pid"
    r2=$(idle_rss "$nginx_worker" "$nginx_port")
    echo "$r2" >>"$tmp/rss.nginx"
    echo "bench/http: round $round RSS at $IDLE idle: baton $r kB, nginx worker $r2 kB" >&2

    d=$(taskset -c 0 "$bin/hello_bench_server" drain "$CONNECTIONS" 2>&1 | tee -a "$tmp/drain.log")
    echo "$d" | awk '{ print $2 }' >>"$tmp/drain"
    echo "$d" | awk '{ print $4 }' >>"$tmp/shutdown"
    echo "bench/http: round $round drain: $d" >&2
done

b=$(median <"$tmp/rps.baton")
n=$(median <"$tmp/rps.nginx")
rss=$(median <"$tmp/rss.baton")
rss0=$(median <"$tmp/rss0.baton")
rssn=$(median <"$tmp/rss.nginx")
dr=$(median <"$tmp/drain")
sh=$(median <"$tmp/shutdown")
echo
echo "baton::http hello benchmark: $ROUNDS rounds, medians (wrk -t1 -c$CONNECTIONS -d$DURATION; server on core 0, wrk on core 1)"
awk -v b="$b" -v n="$n" -v rss="$rss" -v rss0="$rss0" -v rssn="$rssn" -v dr="$dr" -v sh="$sh" \
    -v idle="$IDLE" -v c="$CONNECTIONS" 'BEGIN {
    printf "| %-34s | %14s | %-40s |\n", "measure", "baton", "vs"
    printf "|%s|%s|%s|\n", "------------------------------------", "----------------", "------------------------------------------"
    printf "| %-34s | %14.0f | nginx %.0f: %.2fx (target >= 1.0x) %s |\n", "requests/s (hello, keep-alive)", b, n, b / n, (b >= n ? "met" : "MISSED")
    printf "| %-34s | %11.1f MB | target <= 8 MB %s; Go 31-46 MB; nginx worker %.1f MB |\n", "RSS at " idle " idle connections", rss / 1024, (rss <= 8192 ? "met" : "MISSED"), rssn / 1024
    printf "| %-34s | %11.1f MB | (before any connection)                  |\n", "RSS idle server", rss0 / 1024
    printf "| %-34s | %11.2f ms | target <= 5 ms %s; Go ~138 ms (%.0fx)     |\n", "drain (" c " in flight)", dr, (dr <= 5 ? "met" : "MISSED"), 138 / (dr > 0 ? dr : 0.001)
    printf "| %-34s | %11.2f ms | (includes the 20 ms handlers)            |\n", "shutdown() call to return", sh
}'
echo "raw: rps baton [$(paste -sd' ' "$tmp/rps.baton")] nginx [$(paste -sd' ' "$tmp/rps.nginx")]; rss kB [$(paste -sd' ' "$tmp/rss.baton")]; drain ms [$(paste -sd' ' "$tmp/drain")]"
