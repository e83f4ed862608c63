#!/usr/bin/env bash
# The man page renders without a warning, and its OPTIONS section lists exactly the
# options `start_server --help` lists (the `--name` words of each).
# Usage: man_options.sh START_SERVER MAN_PAGE
set -euo pipefail
start_server=$1 page=$2
rendered=$(MANWIDTH=80 man --warnings -l "$page" 2>"${TMPDIR:-/tmp}/man_options.$$.err")
warnings=$(cat "${TMPDIR:-/tmp}/man_options.$$.err"); rm -f "${TMPDIR:-/tmp}/man_options.$$.err"
if [ -n "$warnings" ]; then
    echo "man --warnings -l $page:"$'\n'"$warnings" >&2
    exit 1
fi
# Option entries: a line indented 7 columns (man) or 2 (--help) that starts with --name.
from_man=$(sed -n '/^OPTIONS$/,/^[A-Z]/p' <<<"$rendered" |
    sed -nE 's/^ {7}(--[a-z][a-z-]*).*/\1/p' | sort -u)
from_help=$("$start_server" --help | sed -nE 's/^ {2}(--[a-z][a-z-]*).*/\1/p' | sort -u)
[ -n "$from_help" ] || { echo "no options in --help" >&2; exit 1; }
if [ "$from_man" != "$from_help" ]; then
    echo "man page options differ from --help's (< man, > --help):" >&2
    diff <(echo "$from_man") <(echo "$from_help") >&2 || true
    exit 1
fi
echo "$(wc -l <<<"$from_help") options, the same in both"
