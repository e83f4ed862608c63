#!/usr/bin/env bash
# Builds the anchor pair's Go worker (../shared/anchors/go18http) into build/anchor/ with
# Debian's golang-go, offline. The source is read where it is; nothing is copied into the repo.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
shared=${BATON_SHARED:-$repo/../shared}
src=$shared/anchors/go18http
dst=$repo/build/anchor
[ -f "$src/main.go" ] || { echo "build-anchor: no $src/main.go (set BATON_SHARED)" >&2; exit 1; }
mkdir -p "$dst"
if [ ! -x "$dst/go18http" ] || [ "$src/main.go" -nt "$dst/go18http" ]; then
    # the source folder may be read-only: build from a copy inside the build tree
    rm -rf "$dst/src" && cp -r "$src" "$dst/src" && chmod -R u+w "$dst/src"
    (cd "$dst/src" && GOPATH=$dst/gopath GOCACHE=$dst/gocache GOPROXY=off GOFLAGS=-mod=mod \
        go build -o "$dst/go18http" .)
fi
