#!/usr/bin/env bash
# start_server as a container's entrypoint: PID 1 of a new pid namespace (what a container
# runtime gives it), its worker leaving an orphan that exits (a zombie unless PID 1 reaps
# it) and one that lives on. Requests run through a USR2 (start_server upgrades in place:
# the same pid, the same worker), a HUP and a TERM sent from outside the namespace, as a
# runtime sends them; none may fail, no zombie may stay, and start_server must exit 0 after
# the drain. The listener is a unix socket in the scratch directory.
# Usage: pid1.sh BIN_DIR WORK_DIR; exit 77 (skip) where it cannot run.
set -euo pipefail
bin=$1 work=$2
skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root for a pid namespace"
for tool in unshare curl; do command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"; done

rm -rf "$work" && mkdir -p "$work"
sock=$work/app.sock
cat >"$work/worker.sh" <<WORKER
#!/bin/sh
(sleep 0.2 &)     # an orphan that exits soon: reparented to PID 1, a zombie unless reaped
(sleep 300 &)     # an orphan that outlives its worker
exec "$bin/hello"
WORKER
chmod +x "$work/worker.sh"

unshare --pid --fork --mount-proc "$bin/start_server" --path="$sock" --readiness=notify \
    --ready-timeout=10 --shutdown-timeout=10 -- "$work/worker.sh" >"$work/start_server.log" 2>&1 &
unshare_pid=$!
pid1=""
cleanup() {
    if [ -n "$pid1" ]; then kill -KILL "$pid1" 2>/dev/null || true; fi # ends the namespace
    kill -KILL "$unshare_pid" 2>/dev/null || true
    wait "$unshare_pid" 2>/dev/null || true
}
trap cleanup EXIT

# wait_for WHAT COMMAND...: polls COMMAND for at most 10 s.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 100); do
        if "$@"; then return 0; fi
        sleep 0.1 # polling another process's state: nothing to wait on instead
    done
    echo "timed out waiting for $what" >&2
    cat "$work/start_server.log" >&2
    exit 1
}
child_of_unshare() { pid1=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | awk '{print $1}'); [ -n "$pid1" ]; }
wait_for "PID 1 of the namespace" child_of_unshare
[ "$(awk '/^NSpid/ {print $3}' "/proc/$pid1/status")" = 1 ] || { echo "start_server is not PID 1" >&2; exit 1; }
get() { curl -sS --max-time 5 --unix-socket "$sock" http://localhost/; }
serving() { [ "$(get 2>/dev/null)" = "Hello, baton!" ]; }
wait_for "the first generation" serving

# zombies: how many children of PID 1 are zombies.
zombies() { local n=0 c; for c in $(cat "/proc/$pid1/task/"*/children 2>/dev/null); do
    [ "$(awk '/^State/ {print $2}' "/proc/$c/status" 2>/dev/null)" = Z ] && n=$((n + 1)); done; echo $n; }
no_zombie() { [ "$(zombies)" -eq 0 ]; }
# children_with ARGS: the live children of PID 1 whose command line is ARGS, one a line.
children_with() { local c want; want=$(printf '%s\\0' "$@"); for c in $(cat "/proc/$pid1/task/"*/children 2>/dev/null); do
    if [ "$(sed 's/\x0/\\0/g' "/proc/$c/cmdline" 2>/dev/null)" = "$want" ]; then echo "$c"; fi; done; }
# children_running ARGS: how many live children of PID 1 have the command line ARGS.
children_running() { children_with "$@" | wc -l; }
short_orphans_gone() { [ "$(children_running sleep 0.2)" -eq 0 ]; }
# load STEP: requests one after another until the file stop-STEP appears (at most 30 s),
# the count so far in done-STEP. A refused connection (curl 7: the listener is closed, as
# it is once a stop has begun) is counted apart; any other error is a failed request.
load() {
    local n=0 failed=0 refused=0 rc deadline=$((SECONDS + 30))
    while [ ! -e "$work/stop-$1" ] && [ $SECONDS -lt $deadline ]; do
        rc=0
        get >/dev/null 2>>"$work/load-$1.err" || rc=$?
        n=$((n + 1))
        case $rc in 0) ;; 7) refused=$((refused + 1)) ;; *) failed=$((failed + 1)) ;; esac
        echo "$n" >"$work/done-$1.new" && mv "$work/done-$1.new" "$work/done-$1" # never read half-written
    done
    echo "$n $failed $refused" >"$work/load-$1.result"
}
# done_so_far STEP: how many requests the load has made.
done_so_far() { cat "$work/done-$1" 2>/dev/null || echo 0; }
# busy STEP [N]: the load has made N requests, 20 by default (a signal then lands mid-load).
busy() { [ "$(done_so_far "$1")" -ge "${2:-20}" ]; }
# finish STEP LOADER: stops the load and checks that no request failed.
finish() {
    touch "$work/stop-$1" && wait "$2"
    read -r n failed refused <"$work/load-$1.result"
    echo "$1: $n requests, $failed failed, $refused refused once the listener closed"
    [ "$failed" -eq 0 ] || { cat "$work/load-$1.err" >&2; exit 1; }
}

echo "== USR2 from outside the namespace, under load: start_server upgrades in place"
worker=$(children_with "$bin/hello")
[ "$(wc -w <<<"$worker")" -eq 1 ] || { echo "expected one worker, saw: $worker" >&2; exit 1; }
load usr2 & loader=$!
wait_for "requests under way" busy usr2
kill -USR2 "$pid1"
wait_for "the upgrade" grep -q "start_server upgraded in .* ms, 1 workers kept" "$work/start_server.log"
wait_for "requests after it" busy usr2 $(($(done_so_far usr2) + 20))
finish usr2 $loader
grep "upgrad" "$work/start_server.log"
# The same process, still PID 1, the same worker serving.
[ "$(awk '/^NSpid/ {print $3}' "/proc/$pid1/status")" = 1 ] || { echo "start_server is no longer PID 1" >&2; exit 1; }
[ "$(awk '{print $1}' "/proc/$unshare_pid/task/$unshare_pid/children")" = "$pid1" ] || { echo "PID 1 changed" >&2; exit 1; }
[ "$(children_with "$bin/hello")" = "$worker" ] || { echo "the worker changed: $(children_with "$bin/hello")" >&2; exit 1; }
echo "start_server (pid $pid1 outside, 1 inside) upgraded; worker $worker kept"

echo "== HUP from outside the namespace, under load"
load hup & loader=$!
wait_for "requests under way" busy hup
kill -HUP "$pid1"
wait_for "the new generation" grep -q "new worker is now running" "$work/start_server.log"
wait_for "the old worker's exit" grep -q "old worker .* died" "$work/start_server.log"
finish hup $loader
# The orphans were reparented to PID 1 (so the zombie check below means something) ...
long=$(children_running sleep 300)
[ "$long" -ge 2 ] || { echo "expected the 2 generations' long orphans under PID 1, saw $long" >&2; exit 1; }
# ... and the short ones, once exited, were reaped.
wait_for "the short orphans' exit" short_orphans_gone
wait_for "no zombie child of PID 1" no_zombie
echo "$long orphans reparented to PID 1; the exited ones reaped, no zombie left"

echo "== TERM from outside, under load: the workers drain, start_server exits 0"
load term & loader=$!
wait_for "requests under way" busy term
kill -TERM "$pid1"
rc=0
wait "$unshare_pid" || rc=$?
finish term $loader
cat "$work/start_server.log"
echo "start_server exited $rc"
[ "$rc" -eq 0 ]
