#!/usr/bin/env bash
# clang-tidy over the project's own sources with the checks of .clang-tidy; any finding fails.
#   scripts/tidy.sh            every .cpp of src/, tools/, examples/ and bench/ (not tests/)
#   scripts/tidy.sh FILE...    only these
# Compile flags come from the dev build's compile_commands.json (configured here if absent);
# bench/ is not in the dev build, so its files get the http library's flags by hand.
# Findings kept on purpose are listed in .clang-tidy-allow, one `PATH CHECK  reason` a line
# (every finding of CHECK in PATH is accepted), or marked in the code with
# `// NOLINT(check): reason`. Parallel: BATON_JOBS (default: nproc) clang-tidy processes.
set -uo pipefail
cd "$(dirname "$0")/.."

# clang-tidy 15 (Debian 12's clang-tidy-15): it parses GCC 12's libstdc++ and Asio's
# coroutines, runs the tree in about a minute on 2 cores, and does not crash on machine.cpp
# as 16 does; 14 (Debian's default clang-tidy) is the fallback. BATON_TIDY overrides.
tidy=
for t in ${BATON_TIDY:-} clang-tidy-15 clang-tidy-14 clang-tidy; do
    if command -v "$t" >/dev/null 2>&1; then
        tidy=$t
        break
    fi
done
[ -n "$tidy" ] || { echo "tidy: no clang-tidy (make deps installs clang-tidy-15)"; exit 1; }

build=build/dev
if [ ! -f "$build/compile_commands.json" ]; then
    cmake --preset dev >/dev/null || { echo "tidy: configure of the dev preset failed"; exit 1; }
fi

if [ $# -gt 0 ]; then
    files=("$@")
else
    # boost_src.cpp only compiles Boost's own sources: its findings are Boost's, and it is
    # the slowest file to parse.
    mapfile -t files < <(git ls-files -- 'src/*.cpp' 'tools/*.cpp' 'examples/*.cpp' \
        'bench/*.cpp' | grep -v '^src/http/boost_src\.cpp$')
fi
[ ${#files[@]} -gt 0 ] || { echo "tidy: no files"; exit 0; }

out=build/tidy
rm -rf "$out"
mkdir -p "$out"
export tidy build out
# One file: its diagnostics, one per line, to $out/<path with / as __>.log. Clang must not
# turn its own warnings into errors (-Werror from the presets) nor reject GCC-only flags.
tidy_one() {
    local f=$1 log
    log=$out/${f//\//__}.log
    local extra=(--extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-error)
    if [[ $f == bench/* ]]; then
        "$tidy" --quiet "${extra[@]}" "$f" -- -std=c++20 -Iinclude -Isrc -Ibench/http \
            -DBOOST_BEAST_SEPARATE_COMPILATION -DBOOST_ASIO_SEPARATE_COMPILATION \
            -DBOOST_ASIO_NO_DEPRECATED >"$log" 2>&1
    else
        "$tidy" --quiet "${extra[@]}" -p "$build" "$f" >"$log" 2>&1
    fi
    echo "$? $f" >>"$out/status"
}
export -f tidy_one

start=$(date +%s)
printf '%s\n' "${files[@]}" | xargs -P "${BATON_JOBS:-$(nproc)}" -I{} bash -c 'tidy_one "$1"' _ {}

# A header's finding is reported once per file that includes it: keep one of each.
root=$(pwd)/
allow=.clang-tidy-allow
cat "$out"/*.log |
    grep -E '^[^ ]+:[0-9]+:[0-9]+: (fatal )?(warning|error): ' |
    sed "s|^$root||" | sort -u >"$out/all.txt"
# Drop what the allow-list accepts (PATH CHECK, comments and blank lines ignored).
touch "$out/allowed.txt"
if [ -f "$allow" ]; then
    grep -vE '^\s*(#|$)' "$allow" | awk '{print $1 " " $2}' >"$out/allowed.txt"
fi
awk 'FILENAME == ARGV[1] { ok[$1 " " $2] = 1; next }
     {
         path = $0; sub(/:.*/, "", path)
         check = $0; sub(/.*\[/, "", check); sub(/[],].*/, "", check)
         if (!((path " " check) in ok)) print
     }' "$out/allowed.txt" "$out/all.txt" >"$out/findings.txt"

# A file clang-tidy could not parse is a failure even without a check's finding.
broken=$(awk '$1 != 0 && $1 != 1 { print $2 }' "$out/status")
n=$(wc -l <"$out/findings.txt")
if [ "$n" -gt 0 ]; then
    cat "$out/findings.txt"
    echo "== tidy findings per file and check"
    awk '{ path = $0; sub(/:.*/, "", path)
           check = $0; sub(/.*\[/, "", check); sub(/[],].*/, "", check)
           print path "  " check }' "$out/findings.txt" | sort | uniq -c
fi
for f in $broken; do
    echo "tidy: $tidy failed on $f (log: $out/${f//\//__}.log)"
done
took=$(($(date +%s) - start))
if [ "$n" -gt 0 ] || [ -n "$broken" ]; then
    echo "tidy: FAILED: $n findings in ${#files[@]} files ($tidy, ${took} s; allow-list: $allow)"
    exit 1
fi
echo "tidy: ${#files[@]} files clean ($tidy, ${took} s)"
