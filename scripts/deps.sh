#!/usr/bin/env bash
# Installs, from Debian's packages and only when missing, what baton's build, tests and
# benchmarks need. Non-interactive and idempotent; silent when there is nothing to do.
set -euo pipefail

packages=(
    # build
    g++ cmake ninja-build make libboost1.81-dev libfmt-dev googletest libgtest-dev libgmock-dev
    libssl-dev
    clang-format
    # scripts/tidy.sh (make test) and scripts/coverage.sh (make coverage)
    clang-tidy-15 gcovr
    # fuzz preset (libFuzzer) and LeakSanitizer runtime
    clang libclang-rt-14-dev
    # tests and benchmarks
    openssl python3 apache2-utils wrk nginx-light haproxy libserver-starter-perl golang-go curl procps iproute2 systemd gnuplot-nox
    # packaging: make package (CPack DEB, dpkg-shlibdeps), lintian, man -l, pkg-config
    dpkg-dev lintian man-db pkgconf
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Use-Pty=0 --no-install-recommends)
# The package lists may be empty or stale on a fresh machine: update once, then install.
if ! "${sudo[@]}" apt-get install "${apt_opts[@]}" "${missing[@]}" </dev/null >/tmp/baton-deps.log 2>&1; then
    "${sudo[@]}" apt-get update -q </dev/null >>/tmp/baton-deps.log 2>&1
    if ! "${sudo[@]}" apt-get install "${apt_opts[@]}" "${missing[@]}" </dev/null >>/tmp/baton-deps.log 2>&1; then
        tail -n 20 /tmp/baton-deps.log >&2
        echo "deps: apt-get install failed (full log: /tmp/baton-deps.log)" >&2
        exit 1
    fi
fi
