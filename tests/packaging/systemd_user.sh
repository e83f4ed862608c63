#!/usr/bin/env bash
# The shipped socket-activated pair (examples/systemd/baton-hello.{socket,service}) under a
# real systemd: a user manager in a private mount namespace (so nothing outside it sees the
# /run/systemd/system it needs), the units as shipped but for the binary paths and the
# listener (a unix socket in the scratch directory instead of 127.0.0.1:8080: no fixed port).
# Requests run during each step; none may fail: the socket stays with systemd throughout,
# so even a restart of start_server itself only queues connections, and an upgrade of
# start_server in place (SIGUSR2) keeps its MainPID and its workers.
# Usage: systemd_user.sh SOURCE_DIR BIN_DIR WORK_DIR; exit 77 (skip) where it cannot run.
set -euo pipefail
src=$1 bin=$2 work=$3
skip() { echo "skipped: $*"; exit 77; }

if [ "${BATON_IN_NAMESPACE:-}" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace"
    for tool in unshare setpriv systemctl curl; do
        command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
    done
    [ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd (Debian package systemd)"
    BATON_IN_NAMESPACE=1 exec unshare -m --propagation private "$0" "$@"
fi

rm -rf "$work" && mkdir -p "$work/rt" "$work/cfg/systemd/user" && chmod 700 "$work/rt"
mount -t tmpfs tmpfs /run/systemd # private to this namespace; the manager needs the marker
mkdir -p /run/systemd/system
export XDG_RUNTIME_DIR=$work/rt XDG_CONFIG_HOME=$work/cfg
sock=$work/hello.sock
# The worker through a link, so one step can deploy a worker that fails to start.
ln -s "$bin/hello" "$work/worker"
printf '#!/bin/sh\nexit 1\n' >"$work/broken" && chmod +x "$work/broken"
for unit in baton-hello.socket baton-hello.service; do
    sed -e "s|/usr/bin/start_server|$bin/start_server|g" -e "s|/usr/libexec/baton/hello|$work/worker|g" \
        -e "s|^ListenStream=127.0.0.1:8080$|ListenStream=$sock|" \
        "$src/examples/systemd/$unit" >"$work/cfg/systemd/user/$unit"
done

# Killed with this script, should the test itself be killed (a CTest timeout).
setpriv --pdeathsig KILL /lib/systemd/systemd --user >"$work/manager.log" 2>&1 &
manager=$!
cleanup() {
    kill "$manager" 2>/dev/null || true # it stops its units
    wait "$manager" 2>/dev/null || true
}
trap cleanup EXIT
up=0
for _ in $(seq 100); do # 10 s at most
    if systemctl --user is-system-running >/dev/null 2>&1; then up=1 && break; fi
    sleep 0.1 # polling the manager's state: nothing to wait on instead
done
[ $up -eq 1 ] || { cat "$work/manager.log"; skip "the user manager did not come up here"; }

status_file=$XDG_RUNTIME_DIR/baton-hello/start_server.status
get() { curl -sS --max-time 5 --unix-socket "$sock" http://localhost/; }
# load STEP: N requests one after another in the background, each must succeed.
load() {
    local failed=0 deadline=$((SECONDS + 30))
    for _ in $(seq 60); do
        [ $SECONDS -lt $deadline ] || { echo "load $1: out of time" >>"$work/load-$1.err" && failed=$((failed + 1)) && break; }
        get >/dev/null 2>>"$work/load-$1.err" || failed=$((failed + 1))
    done
    echo "$failed" >"$work/load-$1.failed"
}
check_load() {
    wait "$1"
    local failed
    failed=$(cat "$work/load-$2.failed")
    echo "$2: 60 requests during it, $failed failed"
    [ "$failed" -eq 0 ] || { cat "$work/load-$2.err" >&2; exit 1; }
}
step() { echo "== $*"; }

step "start baton-hello.socket; the first request starts the service"
systemctl --user start baton-hello.socket
[ "$(get)" = "Hello, baton!" ]
systemctl --user is-active baton-hello.service
old=$(cat "$status_file")
echo "status file: $old"

step "reload: a new generation, the old one retired when the command returns"
load reload & loader=$!
timeout 60 systemctl --user reload baton-hello.service
new=$(cat "$status_file")
echo "status file: $new"
[ "$(wc -l <<<"$new")" -eq 1 ] && [ "$new" != "$old" ] || { echo "reload left: $new" >&2; exit 1; }
check_load $loader reload

step "a reload whose worker fails to start: the reload fails, the old generation serves on"
ln -sfn "$work/broken" "$work/worker"
load failed-reload & loader=$!
if timeout 60 systemctl --user reload baton-hello.service; then
    echo "the reload of a broken worker succeeded" >&2 && exit 1
fi
state=$(systemctl --user show baton-hello.service -p ActiveState -p SubState --value | tr '\n' ' ')
text=$(systemctl --user show baton-hello.service -p StatusText --value)
echo "after the failed reload: $state; StatusText: $text"
[ "$state" = "active running " ] || { echo "unit left $state" >&2; exit 1; }
[[ $text == "restart failed ("*"still serving" ]] || { echo "no reason in the status" >&2; exit 1; }
[ "$(cat "$status_file")" = "$new" ] || { echo "the generation changed" >&2; exit 1; }
check_load $loader failed-reload
ln -sfn "$bin/hello" "$work/worker"

step "restart of start_server itself: connections queue in systemd's socket"
load restart & loader=$!
timeout 60 systemctl --user restart baton-hello.service
check_load $loader restart
systemctl --user status baton-hello.service --no-pager | sed -n '1,12p'

step "upgrade of start_server in place (docs/start_server.md's recipe): the same MainPID"
main=$(systemctl --user show baton-hello.service -p MainPID --value)
gen_pid=$(cat "$status_file") # GEN:PID of the generation serving
load upgrade & loader=$!
systemctl --user kill -s USR2 --kill-whom=main baton-hello.service
# The new image sends READY=1 with its STATUS= once it has taken every worker over.
upgraded=0
for _ in $(seq 100); do # 10 s at most
    text=$(systemctl --user show baton-hello.service -p StatusText --value)
    if [[ $text == "start_server upgraded"* ]]; then upgraded=1 && break; fi
    sleep 0.1 # polling the manager's view: nothing to wait on instead
done
state=$(systemctl --user show baton-hello.service -p ActiveState -p SubState --value | tr '\n' ' ')
echo "after the upgrade: $state; StatusText: $text"
[ $upgraded -eq 1 ] || { echo "no upgrade in the status" >&2; exit 1; }
want="start_server upgraded; generation ${gen_pid%%:*} ready (pid ${gen_pid#*:}); upgraded 1 times"
[ "$text" = "$want" ] || { echo "StatusText is not: $want" >&2; exit 1; }
[ "$state" = "active running " ] || { echo "unit left $state" >&2; exit 1; }
now=$(systemctl --user show baton-hello.service -p MainPID --value)
[ "$now" = "$main" ] || { echo "MainPID changed from $main to $now" >&2; exit 1; }
[ "$(cat "$status_file")" = "$gen_pid" ] || { echo "the generation changed" >&2; exit 1; }
check_load $loader upgrade

step "stop: the workers drain, start_server exits 0"
timeout 60 systemctl --user stop baton-hello.service baton-hello.socket
result=$(systemctl --user show baton-hello.service -p Result -p ExecMainStatus --value | tr '\n' ' ')
echo "Result, ExecMainStatus: $result"
[ "$result" = "success 0 " ] || { journal=$(cat "$work/manager.log"); echo "$journal" >&2; exit 1; }
