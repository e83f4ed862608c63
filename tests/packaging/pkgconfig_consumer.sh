#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds and runs tests/packaging/
# consumer.cpp with nothing but `pkg-config --cflags --libs baton` from that prefix.
# Usage: pkgconfig_consumer.sh BUILD_DIR WORK_DIR CXX
set -euo pipefail
build=$1 work=$2 cxx=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/stage" >/dev/null
pc=$(find "$work/stage" -name baton.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || { echo "no baton.pc under $work/stage" >&2; exit 1; }
# PKG_CONFIG_LIBDIR, not _PATH: only the staged baton.pc may answer.
flags=$(PKG_CONFIG_LIBDIR=$(dirname "$pc") pkg-config --cflags --libs baton)
echo "pkg-config --cflags --libs baton: $flags"
# shellcheck disable=SC2086 # the flags are words
"$cxx" -std=c++20 "$here/consumer.cpp" -o "$work/consumer" $flags
"$work/consumer"
