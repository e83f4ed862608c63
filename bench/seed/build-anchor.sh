#!/usr/bin/env bash
# build-anchor.sh [DEST]: builds the anchor pair's Go worker (../shared/anchors/go18http) into
# DEST (default build/anchor) with Debian's golang-go, offline. The source is only read; the
# build happens on a copy inside DEST. CMake calls this too (target anchor_go18http).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
shared=${BATON_SHARED:-$repo/../shared}
src=$shared/anchors/go18http
dst=${1:-$repo/build/anchor}
[ -f "$src/main.go" ] || { echo "build-anchor: no $src/main.go (set BATON_SHARED)" >&2; exit 1; }
command -v go >/dev/null || { echo "build-anchor: go is not installed (make deps)" >&2; exit 1; }
mkdir -p "$dst"
if [ ! -x "$dst/go18http" ] || [ "$src/main.go" -nt "$dst/go18http" ]; then
    # the source folder may be read-only: build from a copy inside the build tree
    rm -rf "$dst/src" && cp -r "$src" "$dst/src" && chmod -R u+w "$dst/src"
    (cd "$dst/src" && GOPATH=$dst/gopath GOCACHE=$dst/gocache GOPROXY=off GOFLAGS=-mod=mod \
        go build -o "$dst/go18http" .)
fi
