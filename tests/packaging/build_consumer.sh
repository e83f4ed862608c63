#!/usr/bin/env bash
# Builds and runs tests/packaging/consumer.cpp with nothing but `pkg-config --cflags --libs
# baton`, from the one baton.pc found under ROOT (an install prefix or an extracted package).
# Usage: build_consumer.sh ROOT OUTPUT CXX
set -euo pipefail
root=$1 out=$2 cxx=$3
here=$(cd "$(dirname "$0")" && pwd)
pc=$(find "$root" -name baton.pc -path '*/pkgconfig/*')
[ -n "$pc" ] && [ "$(wc -l <<<"$pc")" -eq 1 ] || { echo "not one baton.pc under $root: $pc" >&2; exit 1; }
# PKG_CONFIG_LIBDIR, not _PATH: only that baton.pc may answer, beside the system's libssl.pc
# and libcrypto.pc (its Requires:) linked into a directory of their own.
deps=$(mktemp -d)
trap 'rm -rf "$deps"' EXIT
for p in libssl libcrypto; do
    ln -s "$(pkg-config --variable=pcfiledir "$p")/$p.pc" "$deps/$p.pc"
done
flags=$(PKG_CONFIG_LIBDIR="$(dirname "$pc"):$deps" pkg-config --cflags --libs baton)
echo "pkg-config --cflags --libs baton: $flags"
# shellcheck disable=SC2086 # the flags are words
"$cxx" -std=c++20 "$here/consumer.cpp" -o "$out" $flags
"$out"
