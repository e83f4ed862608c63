#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds and runs tests/packaging/
# consumer.cpp against it with nothing but pkg-config (build_consumer.sh).
# Usage: pkgconfig_consumer.sh BUILD_DIR WORK_DIR CXX
set -euo pipefail
build=$1 work=$2 cxx=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/stage" >/dev/null
"$here/build_consumer.sh" "$work/stage" "$work/consumer" "$cxx"
