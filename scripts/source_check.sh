#!/usr/bin/env bash
# The tree's own rules, run by `make test`:
#   1. every src/**/*.cpp has tests/unit/<component>/<name>_test.cpp, or a line in
#      tests/coverage-map.txt saying what covers it;
#   2. no C++ source (include/ src/ tools/ tests/ examples/ bench/ fuzz/) is over 600 lines,
#      unless tests/coverage-map.txt lists it as `long: PATH — reason`;
#   3. no entry of the map is stale (file gone, unit test now there, no longer long).
# Untracked files count too (a new file is checked before it is added).
set -uo pipefail
cd "$(dirname "$0")/.."

map=tests/coverage-map.txt
max_lines=600
status=0
fail() {
    echo "source_check: $*"
    status=1
}

# The map's entries: the first word (after `long:`) is the path; a reason must follow.
declare -A covered long
if [ -f "$map" ]; then
    while IFS= read -r line; do
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        kind=covered
        if [[ $line == long:* ]]; then
            kind=long
            line=${line#long:}
        fi
        read -r path reason <<<"$line"
        reason=${reason#—}
        reason=${reason#-}
        [[ $reason =~ [^[:space:]] ]] || fail "$map: $path has no reason"
        if [ "$kind" = long ]; then long[$path]=1; else covered[$path]=1; fi
    done <"$map"
fi

mapfile -t sources < <({ git ls-files; git ls-files --others --exclude-standard; } |
    grep -E '^(include|src|tools|tests|examples|bench|fuzz)/.*\.(cpp|hpp|h)$' | sort -u)

checked=0
for f in "${sources[@]}"; do
    [ -f "$f" ] || continue
    checked=$((checked + 1))
    if [[ $f =~ ^src/([^/]+)/(.*/)?([^/]+)\.cpp$ ]]; then
        test=tests/unit/${BASH_REMATCH[1]}/${BASH_REMATCH[3]}_test.cpp
        if [ -f "$test" ]; then
            [ -n "${covered[$f]:-}" ] && fail "$map: $f has $test now: remove its line"
        elif [ -z "${covered[$f]:-}" ]; then
            fail "$f has no $test and no line in $map saying what covers it"
        fi
    fi
    n=$(wc -l <"$f")
    if [ "$n" -gt "$max_lines" ] && [ -z "${long[$f]:-}" ]; then
        fail "$f has $n lines (limit $max_lines): split it, or list it in $map as long: with why"
    elif [ "$n" -le "$max_lines" ] && [ -n "${long[$f]:-}" ]; then
        fail "$map: $f has $n lines now: remove its long: line"
    fi
done
for f in "${!covered[@]}" "${!long[@]}"; do
    [ -f "$f" ] || fail "$map: $f does not exist: remove its line"
done

if [ "$status" -eq 0 ]; then
    echo "source_check: $checked files: each source has its test or a reason, none over $max_lines lines unlisted"
fi
exit $status
