#!/usr/bin/env bash
# `systemd-analyze verify` accepts every unit in examples/systemd/, as shipped but for the
# binary paths, which point at the build's (verify checks that each ExecStart= program
# exists and is executable, and that each Documentation= man page is found).
# Usage: systemd_verify.sh SOURCE_DIR BIN_DIR WORK_DIR; exit 77 (skip) without systemd-analyze.
set -euo pipefail
src=$1 bin=$2 work=$3
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze is not installed (Debian package systemd)"
    exit 77
fi
rm -rf "$work" && mkdir -p "$work/units" "$work/man/man1"
cp "$src/man/start_server.1" "$work/man/man1/"
units=()
for unit in "$src"/examples/systemd/*.service "$src"/examples/systemd/*.socket; do
    name=$(basename "$unit")
    sed -e "s|/usr/bin/start_server|$bin/start_server|g" \
        -e "s|/usr/libexec/baton/hello|$bin/hello|g" "$unit" >"$work/units/$name"
    # A template is verified through an instance of it.
    case $name in *@.service) name=${name/@./@hello.} && cp "$work/units/${name/@hello./@.}" "$work/units/$name" ;; esac
    units+=("$work/units/$name")
done
cd "$work/units"
if ! out=$(MANPATH="$work/man" systemd-analyze verify "${units[@]}" 2>&1) || [ -n "$out" ]; then
    echo "systemd-analyze verify:"$'\n'"$out" >&2
    exit 1
fi
echo "systemd-analyze verify: ${#units[@]} units clean"
