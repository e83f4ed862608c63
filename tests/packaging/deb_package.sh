#!/usr/bin/env bash
# Makes the Debian packages from the build tree (CPack), extracts them into a scratch root
# (dpkg-deb -x: nothing is installed on this machine), then runs the extracted start_server,
# builds tests/packaging/consumer.cpp against the extracted headers and libraries with
# pkg-config alone, and renders every extracted man page without a warning.
# Usage: deb_package.sh BUILD_DIR WORK_DIR CXX; exit 77 (skip) without dpkg-deb or cpack.
set -euo pipefail
build=$1 work=$2 cxx=$3
here=$(cd "$(dirname "$0")" && pwd)
for tool in dpkg-deb dpkg-shlibdeps cpack man pkg-config; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "skipped: $tool is not installed (scripts/deps.sh installs it)"
        exit 77
    fi
done
rm -rf "$work" && mkdir -p "$work/root"
(cd "$build" && cpack -G DEB -B "$work/packages" >"$work/cpack.log" 2>&1) ||
    { cat "$work/cpack.log" >&2; exit 1; }
debs=("$work"/packages/*.deb)
[ ${#debs[@]} -eq 2 ] || { echo "expected 2 packages, got: ${debs[*]}" >&2; exit 1; }
for deb in "${debs[@]}"; do
    echo "== $(basename "$deb")"
    dpkg-deb -f "$deb" Package Version Depends
    # The version names the commit: 0.1.0+git20261202.abc1234.
    dpkg-deb -f "$deb" Version | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(\+git[0-9]{8}\.[0-9a-f]{7,}(\.dirty)?)?$' ||
        { echo "unexpected version in $deb" >&2; exit 1; }
    dpkg-deb -x "$deb" "$work/root"
done
tool=$(ls "$work"/packages/baton_*.deb)
dpkg-deb -f "$tool" Depends | grep -q 'libc6' ||
    { echo "baton's Depends: lacks libc6 (dpkg-shlibdeps did not run?)" >&2; exit 1; }

version=$("$work/root/usr/bin/start_server" --version)
[ "$version" = "0.35" ] || { echo "start_server --version said '$version'" >&2; exit 1; }
echo "extracted start_server --version: $version"

"$here/build_consumer.sh" "$work/root/usr/lib" "$work/consumer" "$cxx"

pages=$(find "$work/root/usr/share/man" -type f -name '*.gz')
[ -n "$pages" ] || { echo "no man pages in the packages" >&2; exit 1; }
for page in $pages; do
    if ! err=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || [ -n "$err" ]; then
        echo "man -l $page:"$'\n'"$err" >&2
        exit 1
    fi
    echo "man -l $(basename "$page"): renders"
done
