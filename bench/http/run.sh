#!/usr/bin/env bash
# bench/http/run.sh: baton::http's hello benchmark, side by side with nginx.
# A measurement, not a test: it prints medians and ratios and never fails on a
# missed target. One command; builds what it needs with the release preset.
#
#   ROUNDS=3 DURATION=10s CONNECTIONS=128 IDLE=1000 HS_SECONDS=10 HS_CONNECTIONS=16 \
#   TLS=1 IDLE_CLIENTS=build/release/bin/idle_clients bench/http/run.sh
#
# Each round, interleaved (the order alternates from round to round):
#   req/s   baton (hello_bench_server, 1 event-loop thread) and nginx (worker_processes 1),
#           each pinned to core 0 (taskset -c 0), `wrk -t1 -c$CONNECTIONS -d$DURATION` keep-alive
#           pinned to core 1; the body is "Hello, world!" (13 bytes)
#   CPU     user + system CPU of the server process (the nginx worker) from /proc/PID/stat
#           across each wrk run, per request
#   ceiling the same wrk run against bench/http/bare_keepalive (one recv and one send per
#           request, no parser, no library: the least a server can do), on core 0 too; and
#           beside every wrk run, how busy wrk's own core was (its user + system time over the
#           run): a wrk at ~100 % with the probe is the machine's limit, not a server's
#   RSS     VmRSS of a fresh baton server (and of a fresh nginx's worker) holding $IDLE open idle
#           keep-alive connections, each having served one request
#   drain   `hello_bench_server drain $CONNECTIONS`: from the last response the clients read to
#           shutdown() returning, with $CONNECTIONS connections whose requests were in flight
# and with TLS=1 (the default) the same over HTTPS, both servers pinned to TLS 1.3 and
# TLS_AES_128_GCM_SHA256, one RSA 2048 certificate (tls_material.sh, with openssl), one 80-byte
# session-ticket key file (nginx's ssl_session_ticket_key format) given to both:
#   req/s   `wrk` over https as above, and the CPU per request
#   hs/s    tls_handshakes (bench/http/tls_handshakes.cpp, $HS_CONNECTIONS threads, on core 1):
#           connect, handshake, one request, the answer, close, for $HS_SECONDS s; full, then
#           resumed (each connection offers its thread's previous ticket; how many the server
#           resumed is counted); the server's CPU per handshake
#   RSS     as above with $IDLE idle TLS connections (`idle_clients --tls`), a fresh baton
#           server and a fresh nginx each round (skipped when idle_clients has no --tls)
# Every process it starts is stopped by pid on exit; every wait is bounded. Loopback only.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-128}
IDLE=${IDLE:-1000}
HS_SECONDS=${HS_SECONDS:-10}
HS_CONNECTIONS=${HS_CONNECTIONS:-16}
TLS=${TLS:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/build/release/bin
# another idle_clients (e.g. another branch's build, for its --tls) may be given
idle_clients=${IDLE_CLIENTS:-$bin/idle_clients}

die() { echo "bench/http: $*" >&2; exit 1; }
for tool in wrk taskset nginx openssl; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
        die "$tool not found (scripts/deps.sh installs it)"
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

echo "bench/http: building (release preset)" >&2
(cd "$root" && cmake --preset release >/dev/null &&
    cmake --build --preset release -j2 --target hello_bench_server idle_clients tls_handshakes \
        bare_keepalive >/dev/null) ||
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
# user + system CPU of PID, in clock ticks (the comm field of our servers has no space)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
us_per() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.2f\n", t / hz * 1e6 / n; else print "nan" }'; }

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# The TLS material both servers get (RSA 2048: tls_material.sh says why).
tls_args=()
if [ "$TLS" = 1 ]; then
    "$root/bench/http/tls_material.sh" "$tmp" || die "no TLS material"
    tls_args=(--tls-cert="$tmp/cert.pem" --tls-key="$tmp/key.pem" --tls-min=1.3
        --tls-ciphersuites=TLS_AES_128_GCM_SHA256 --tls-ciphers=ECDHE-RSA-AES128-GCM-SHA256
        --tls-ticket-keys="$tmp/ticket.key")
fi

start_port_printer() { # start_port_printer NAME PROGRAM ARGS...: PROGRAM on core 0, which
    # prints "port N" once it listens; sets started_pid, started_port
    local name=$1 out=$tmp/$1.out i
    shift
    : >"$out" # before the awk below reads it, whether or not the server has begun
    taskset -c 0 "$@" >"$out" 2>"$tmp/$name.err" &
    started_pid=$!
    pids+=("$started_pid")
    for ((i = 0; i < 200; i++)); do
        started_port=$(awk '/^port / { print $2 }' "$out")
        [ -n "$started_port" ] && return 0
        kill -0 "$started_pid" 2>/dev/null || break
        sleep 0.05
    done
    die "${1##*/} did not start: $(cat "$tmp/$name.err")"
}

start_baton() { # start_baton NAME [SERVE OPTIONS...]: sets baton_pid, baton_port
    local name=$1
    shift
    start_port_printer "$name" "$bin/hello_bench_server" serve 0 "$@"
    baton_pid=$started_pid baton_port=$started_port
}

start_probe() { # start_probe NAME: bare_keepalive; sets probe_pid, probe_port
    start_port_printer "$1" "$bin/bare_keepalive" 0
    probe_pid=$started_pid probe_port=$started_port
}

start_nginx() { # start_nginx NAME plain|tls|both: nginx in $tmp/NAME with a plain listener, a
    # TLS one or both (a memory step gets only what it measures: a TLS server block alone
    # costs the worker ~2-3 MB); sets ng_pid, ng_port, ng_tls_port, ng_worker
    local dir=$tmp/$1 mode=$2 attempt i servers
    mkdir -p "$dir/logs"
    for ((attempt = 0; attempt < 10; attempt++)); do
        ng_port=$((20000 + RANDOM % 20000))
        ng_tls_port=$((20000 + RANDOM % 20000))
        [ "$ng_port" != "$ng_tls_port" ] || continue
        servers=
        if [ "$mode" != tls ]; then
            servers+="server {
        listen 127.0.0.1:$ng_port;
        location / { return 200 \"Hello, world!\"; }
    }
"
        fi
        if [ "$mode" != plain ]; then
            servers+="server {
        listen 127.0.0.1:$ng_tls_port ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.3;
        ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
        ssl_session_ticket_key $tmp/ticket.key;
        location / { return 200 \"Hello, world!\"; }
    }
"
        fi
        cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    $servers
}
CONF
        taskset -c 0 "$nginx_bin" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" \
            2>>"$tmp/nginx.err" &
        ng_pid=$!
        pids+=("$ng_pid")
        for ((i = 0; i < 100; i++)); do
            kill -0 "$ng_pid" 2>/dev/null || break
            if { [ "$mode" = tls ] || curl -s -m 1 -o /dev/null "http://127.0.0.1:$ng_port/"; } &&
                { [ "$mode" = plain ] || curl -sk -m 1 -o /dev/null "https://127.0.0.1:$ng_tls_port/"; }; then
                ng_worker=$(ps -o pid= --ppid "$ng_pid" | head -n 1 | tr -d ' ')
                [ -n "$ng_worker" ] && return 0
            fi
            sleep 0.05
        done
        stop "$ng_pid"
    done
    die "nginx did not start: $(tail -n 3 "$dir/logs/error.log" 2>/dev/null)"
}

wrk_run() { # wrk_run URL PID -> "REQ/S REQUESTS CPU_TICKS WRK_BUSY%" (PID's CPU across the run;
    # wrk's own user + system time, from the shell's `times`, over the run's length)
    local c0 c1 out
    c0=$(cpu_ticks "$2")
    out=$(
        taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$1" 2>&1
        times
    )
    c1=$(cpu_ticks "$2")
    echo "$out" >>"$tmp/wrk.log"
    if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
        echo "bench/http: wrk $1: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr '\n' ' ')" >&2
    fi
    awk -v d=$((c1 - c0)) '/^Requests\/sec:/ { r = $2 } / requests in / { n = $1; s = $4 + 0 }
        function sec(t) { split(t, a, "m"); return a[1] * 60 + a[2] }
        /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ { w = sec($1) + sec($2) } # the last: the children
        END { print (r == "" ? "nan" : r), (n == "" ? 0 : n), d, (s > 0 ? sprintf("%.0f", 100 * w / s) : "nan") }' <<<"$out"
}

hs_run() { # hs_run PORT PID [--resume] -> "PER_S HANDSHAKES RESUMED FAILED CPU_TICKS"
    local port=$1 pid=$2 c0 c1 out
    shift 2
    c0=$(cpu_ticks "$pid")
    out=$(taskset -c 1 "$bin/tls_handshakes" "$port" --connections="$HS_CONNECTIONS" \
        --seconds="$HS_SECONDS" "$@" 2>&1)
    c1=$(cpu_ticks "$pid")
    echo "$out" >>"$tmp/hs.log"
    awk -v d=$((c1 - c0)) '/^handshakes / { print $10, $2, $4, $6, d; f = 1 }
        END { if (!f) print "nan 0 0 0", d }' <<<"$out"
}

tls_check() { # tls_check PORT -> what a default client negotiates: "TLSv1.3 CIPHER GROUP"
    timeout 5 openssl s_client -connect "127.0.0.1:$1" -brief </dev/null 2>&1 |
        awk -F': *' '/^Protocol version/ { p = $2 } /^Ciphersuite/ { c = $2 }
            /^(Server Temp Key|Negotiated TLS1.3 group)/ { k = $2 }
            END { print (p == "" ? "no-handshake" : p), c, k }'
}

idle_rss() { # idle_rss PID PORT [--tls] -> VmRSS in kB of PID with $IDLE idle connections open
    local pid=$1 port=$2 out=$tmp/idle.out cpid i
    shift 2
    : >"$out"
    taskset -c 1 "$idle_clients" "$@" "$port" "$IDLE" >"$out" &
    cpid=$!
    pids+=("$cpid")
    for ((i = 0; i < 600; i++)); do
        grep -q '^open' "$out" && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.05
    done
    grep -q "^open $IDLE ok $IDLE" "$out" || echo "bench/http: idle clients $*: $(cat "$out")" >&2
    rss_kb "$pid"
    stop "$cpid"
}

# idle_clients learns `--tls` on another branch; until then the TLS memory step is skipped.
idle_tls=0
if [ "$TLS" = 1 ]; then
    if grep -qaF -- '--tls' "$idle_clients"; then
        idle_tls=1
    else
        echo "bench/http: TLS memory skipped: this idle_clients has no --tls" >&2
    fi
fi

start_nginx nginx "$([ "$TLS" = 1 ] && echo both || echo plain)"
nginx_pid=$ng_pid nginx_port=$ng_port nginx_tls_port=$ng_tls_port nginx_worker=$ng_worker
echo "bench/http: nginx $("$nginx_bin" -v 2>&1 | sed 's/.*: //') on port $nginx_port (worker pid $nginx_worker)" >&2

record() { # record FILE VALUE...: append a line
    local f=$1
    shift
    echo "$*" >>"$tmp/$f"
}

wrk_pair() { # wrk_pair PREFIX SCHEME NGINX_PORT WHO...: wrk against each server in the order
    # given, recorded in PREFIXrps.WHO, PREFIXcpu.WHO (µs per request) and PREFIXwrk.WHO (wrk's
    # core busy, %)
    local prefix=$1 scheme=$2 nport=$3 who port pid rps n ticks busy
    shift 3
    for who in "$@"; do
        case $who in
        baton) port=$baton_port pid=$baton_pid ;;
        ceiling) port=$probe_port pid=$probe_pid ;;
        *) port=$nport pid=$nginx_worker ;;
        esac
        read -r rps n ticks busy < <(wrk_run "$scheme://127.0.0.1:$port/" "$pid")
        record "${prefix}rps.$who" "$rps"
        record "${prefix}cpu.$who" "$(us_per "$ticks" "$n")"
        record "${prefix}wrk.$who" "$busy"
        echo "bench/http: round $round $scheme $who ${rps:-?} req/s, $(us_per "$ticks" "$n") µs CPU/request, wrk's core ${busy}% busy" >&2
    done
}

for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then order="baton nginx"; else order="nginx baton"; fi
    start_baton "baton$round"
    start_probe "ceiling$round"
    # the probe first, then last, round by round
    if ((round % 2)); then wrk_pair "" http "$nginx_port" ceiling $order; else wrk_pair "" http "$nginx_port" $order ceiling; fi
    stop "$probe_pid"
    stop "$baton_pid"

    if [ "$TLS" = 1 ]; then
        start_baton "tls$round" "${tls_args[@]}"
        if ((round == 1)); then
            echo "bench/http: TLS negotiated: baton $(tls_check "$baton_port"); nginx $(tls_check "$nginx_tls_port")" >&2
        fi
        wrk_pair tls_ https "$nginx_tls_port" $order
        for mode in full resumed; do
            flag=()
            [ "$mode" = resumed ] && flag=(--resume)
            for who in $order; do
                if [ "$who" = baton ]; then port=$baton_port pid=$baton_pid; else port=$nginx_tls_port pid=$nginx_worker; fi
                read -r per_s n resumed failed ticks < <(hs_run "$port" "$pid" "${flag[@]}")
                record "hs_$mode.$who" "$per_s"
                record "hs_cpu_$mode.$who" "$(us_per "$ticks" "$n")"
                record "hs_busy_$mode.$who" "$(awk -v t="$ticks" -v hz="$hz" -v s="$HS_SECONDS" 'BEGIN { printf "%.0f\n", 100 * t / hz / s }')"
                record "hs_reused_$mode.$who" "$(awk -v r="$resumed" -v n="$n" 'BEGIN { printf "%.1f\n", (n > 0 ? 100 * r / n : 0) }')"
                echo "bench/http: round $round handshakes $mode $who $per_s/s ($n, $resumed resumed, $failed failed), $(us_per "$ticks" "$n") µs CPU each" >&2
            done
        done
        stop "$baton_pid"
    fi

    start_baton "idle$round"
    r0=$(rss_kb "$baton_pid")
    r=$(idle_rss "$baton_pid" "$baton_port")
    stop "$baton_pid"
    # a fresh nginx for each memory step: the worker keeps the high-water mark of the others
    start_nginx "nginx-idle$round" plain
    n0=$(rss_kb "$ng_worker")
    r2=$(idle_rss "$ng_worker" "$ng_port")
    stop "$ng_pid"
    record rss0.baton "$r0"
    record rss.baton "$r"
    record conn.baton $(((r - r0) * 1024 / IDLE))
    record rss0.nginx "$n0"
    record rss.nginx "$r2"
    record conn.nginx $(((r2 - n0) * 1024 / IDLE))
    echo "bench/http: round $round RSS at $IDLE idle: baton $r kB, nginx worker $r2 kB" >&2

    if [ "$idle_tls" = 1 ]; then
        start_baton "tlsidle$round" "${tls_args[@]}"
        r0=$(rss_kb "$baton_pid")
        r=$(idle_rss "$baton_pid" "$baton_port" --tls)
        stop "$baton_pid"
        start_nginx "nginx-tlsidle$round" tls
        n0=$(rss_kb "$ng_worker")
        r2=$(idle_rss "$ng_worker" "$ng_tls_port" --tls)
        stop "$ng_pid"
        record tls_rss.baton "$r"
        record tls_conn.baton $(((r - r0) * 1024 / IDLE))
        record tls_rss.nginx "$r2"
        record tls_conn.nginx $(((r2 - n0) * 1024 / IDLE))
        echo "bench/http: round $round RSS at $IDLE idle TLS: baton $r kB, nginx worker $r2 kB" >&2
    fi

    d=$(taskset -c 0 "$bin/hello_bench_server" drain "$CONNECTIONS" 2>&1 | tee -a "$tmp/drain.log")
    echo "$d" | awk '{ print $2 }' >>"$tmp/drain"
    echo "$d" | awk '{ print $4 }' >>"$tmp/shutdown"
    echo "bench/http: round $round drain: $d" >&2
done

med() { if [ -s "$tmp/$1" ]; then median <"$tmp/$1"; else echo nan; fi; }
raw() { if [ -s "$tmp/$1" ]; then paste -sd' ' "$tmp/$1"; fi; }
per_round() { # per_round A B: A / B for each round
    [ -s "$tmp/$1" ] && [ -s "$tmp/$2" ] || return 0
    paste -d' ' "$tmp/$1" "$tmp/$2" | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), ($2 > 0 ? $1 / $2 : 0) } END { print "" }'
}
# row MEASURE BATON NGINX UNIT [OP TARGET]: one line of the table, the ratio baton / nginx and,
# given a target (>= or <= a multiple of nginx), whether it was met
row() {
    awk -v m="$1" -v b="$2" -v n="$3" -v u="$4" -v op="${5:-}" -v t="${6:-}" '
    function num(v) { return v == "" ? "" : v !~ /^[0-9.]+$/ ? v : (v >= 100 ? sprintf("%.0f", v) : sprintf("%.1f", v)) u }
    BEGIN {
        r = (n ~ /^[0-9.]+$/ && n + 0 > 0 && b ~ /^[0-9.]+$/) ? b / n : -1
        if (op == "") verdict = ""
        else if (r < 0) verdict = sprintf("; target %s %sx: n/a", op, t)
        else verdict = sprintf("; target %s %sx: %s", op, t, (op == ">=" ? r >= t : r <= t) ? "met" : "MISSED")
        printf "| %-38s | %12s | %12s | %s |\n", m, num(b), num(n), (r < 0 ? "" : sprintf("%.2fx", r)) verdict
    }'
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "baton::http hello benchmark: $ROUNDS rounds, medians (wrk -t1 -c$CONNECTIONS -d$DURATION;" \
    "tls_handshakes ${HS_CONNECTIONS} threads ${HS_SECONDS}s; server on core 0, clients on core 1)"
printf '| %-38s | %12s | %12s | %s |\n' measure baton nginx "baton / nginx"
echo "|----------------------------------------|--------------|--------------|----------------------------|"
row "requests/s (hello, keep-alive)" "$(med rps.baton)" "$(med rps.nginx)" "" ">=" 1.25
row "CPU per request (user+sys)" "$(med cpu.baton)" "$(med cpu.nginx)" " µs"
row "  wrk's core busy" "$(med wrk.baton)" "$(med wrk.nginx)" " %"
if [ "$TLS" = 1 ]; then
    row "TLS 1.3 requests/s (keep-alive)" "$(med tls_rps.baton)" "$(med tls_rps.nginx)" "" ">=" 1.0
    row "TLS CPU per request (user+sys)" "$(med tls_cpu.baton)" "$(med tls_cpu.nginx)" " µs"
    row "TLS full handshakes/s (RSA 2048)" "$(med hs_full.baton)" "$(med hs_full.nginx)" "" ">=" 0.9
    row "  server CPU per full handshake" "$(med hs_cpu_full.baton)" "$(med hs_cpu_full.nginx)" " µs"
    row "  server core busy" "$(med hs_busy_full.baton)" "$(med hs_busy_full.nginx)" " %"
    row "TLS resumed handshakes/s (tickets)" "$(med hs_resumed.baton)" "$(med hs_resumed.nginx)" "" ">=" 0.9
    row "  server CPU per resumed handshake" "$(med hs_cpu_resumed.baton)" "$(med hs_cpu_resumed.nginx)" " µs"
    row "  server core busy" "$(med hs_busy_resumed.baton)" "$(med hs_busy_resumed.nginx)" " %"
    row "  offered tickets resumed" "$(med hs_reused_resumed.baton)" "$(med hs_reused_resumed.nginx)" " %"
fi
row "RSS at $IDLE idle connections" "$(mb "$(med rss.baton)")" "$(mb "$(med rss.nginx)")" " MB" "<=" 1.0
row "  per connection" "$(med conn.baton)" "$(med conn.nginx)" " B"
row "  RSS before any connection" "$(mb "$(med rss0.baton)")" "$(mb "$(med rss0.nginx)")" " MB"
if [ "$idle_tls" = 1 ]; then
    row "RSS at $IDLE idle TLS connections" "$(mb "$(med tls_rss.baton)")" "$(mb "$(med tls_rss.nginx)")" " MB" "<=" 1.2
    row "  per TLS connection" "$(med tls_conn.baton)" "$(med tls_conn.nginx)" " B"
elif [ "$TLS" = 1 ]; then
    row "RSS at $IDLE idle TLS connections" skipped skipped "" && echo "(idle_clients has no --tls yet)"
fi
row "drain ($CONNECTIONS in flight)" "$(med drain)" "" " ms"
row "  shutdown() call to return" "$(med shutdown)" "" " ms"
echo "(drain: target <= 5 ms, Go ~138 ms; shutdown() includes the 20 ms handlers)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }
echo "ceiling (bare_keepalive: one recv + one send per request): $(med rps.ceiling) req/s," \
    "$(med cpu.ceiling) µs CPU/request, wrk's core $(med wrk.ceiling) % busy;" \
    "baton $(ratio "$(med rps.baton)" "$(med rps.ceiling)") and nginx $(ratio "$(med rps.nginx)" "$(med rps.ceiling)") of it;" \
    "ceiling / nginx $(ratio "$(med rps.ceiling)" "$(med rps.nginx)") (with wrk's core ~100 % busy against the probe, the most baton / nginx can be);" \
    "CPU per request baton / ceiling $(ratio "$(med cpu.baton)" "$(med cpu.ceiling)")"
echo "raw: rps baton [$(raw rps.baton)] nginx [$(raw rps.nginx)] per round [$(per_round rps.baton rps.nginx)]; cpu us baton [$(raw cpu.baton)] nginx [$(raw cpu.nginx)]"
echo "raw: ceiling rps [$(raw rps.ceiling)] cpu us [$(raw cpu.ceiling)]; baton / ceiling per round [$(per_round rps.baton rps.ceiling)]; wrk busy % baton [$(raw wrk.baton)] nginx [$(raw wrk.nginx)] ceiling [$(raw wrk.ceiling)]"
echo "raw: rss kB baton [$(raw rss.baton)] nginx [$(raw rss.nginx)]; B/connection baton [$(raw conn.baton)] nginx [$(raw conn.nginx)]; drain ms [$(raw drain)]"
if [ "$TLS" = 1 ]; then
    echo "raw: TLS rps baton [$(raw tls_rps.baton)] nginx [$(raw tls_rps.nginx)] per round [$(per_round tls_rps.baton tls_rps.nginx)]; cpu us baton [$(raw tls_cpu.baton)] nginx [$(raw tls_cpu.nginx)]"
    echo "raw: full hs/s baton [$(raw hs_full.baton)] nginx [$(raw hs_full.nginx)] per round [$(per_round hs_full.baton hs_full.nginx)]; cpu us baton [$(raw hs_cpu_full.baton)] nginx [$(raw hs_cpu_full.nginx)]"
    echo "raw: resumed hs/s baton [$(raw hs_resumed.baton)] nginx [$(raw hs_resumed.nginx)] per round [$(per_round hs_resumed.baton hs_resumed.nginx)]; cpu us baton [$(raw hs_cpu_resumed.baton)] nginx [$(raw hs_cpu_resumed.nginx)]; resumed % baton [$(raw hs_reused_resumed.baton)] nginx [$(raw hs_reused_resumed.nginx)]"
    if [ "$idle_tls" = 1 ]; then
        echo "raw: TLS rss kB baton [$(raw tls_rss.baton)] nginx [$(raw tls_rss.nginx)]; B/connection baton [$(raw tls_conn.baton)] nginx [$(raw tls_conn.nginx)]"
    fi
fi
exit 0
