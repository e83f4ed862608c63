#!/usr/bin/env bash
# `make coverage`: the line coverage of src/ by the unit and integration tests.
# Builds the `coverage` preset (Debug, --coverage, build/coverage), clears the counters of
# any earlier run, runs the tests labelled unit or integration, and prints gcovr's report of
# src/ (per file, then the total). Not part of `make test`: a measurement, not a check. A
# failing test is reported but the figure is still printed (it covers what ran).
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=${BATON_JOBS:-$(nproc)}
build=build/coverage
command -v gcovr >/dev/null 2>&1 || { echo "coverage: no gcovr (make deps installs it)"; exit 1; }

cmake --preset coverage >/dev/null || { echo "coverage: configure failed"; exit 1; }
if ! cmake --build --preset coverage -j "$jobs" >"$build/coverage-build.log" 2>&1; then
    grep -E -B2 -A12 'error|FAILED' "$build/coverage-build.log" | head -n 80
    echo "coverage: build FAILED (full log: $build/coverage-build.log)"
    exit 1
fi
find "$build" -name '*.gcda' -delete
ctest --preset coverage -L 'unit|integration' -j "$jobs" >"$build/coverage-test.log" 2>&1
rc=$?
grep -E 'tests passed|tests? failed|\*\*\*Failed|Failed +[0-9.]+ sec' "$build/coverage-test.log"

# gcov of GCC 12 reads GCC 12's counters; only src/ is reported (not tests, Boost, tools).
gcovr --root . --filter 'src/' --object-directory "$build" -j "$jobs" \
    --exclude-directories "$build/CMakeFiles" --exclude-unreachable-branches --print-summary \
    "$build"
[ "$rc" -eq 0 ] || echo "coverage: some tests failed (log: $build/coverage-test.log)"
exit $rc
