#!/usr/bin/env bash
# `make test`: every test of the project, in the order CI runs them.
#   1. the dev build (Debug, assertions on, warnings as errors) and all its tests;
#   2. the asan build (AddressSanitizer + UndefinedBehaviorSanitizer) and all its tests;
#   3. the tsan build and the tests labelled `tsan` (threaded code), when there are any;
#   4. the format check;
#   5. clang-tidy over src/, tools/, examples/ and bench/ (scripts/tidy.sh);
#   6. the tree's rules: every source has its test or a reason, no file over 600 lines
#      (scripts/source_check.sh).
# Exits non-zero if any step fails; the last line sums the test counts of every build.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=${BATON_JOBS:-$(nproc)}
passed=0
failed=0
status=0
log_dir=build/check
mkdir -p "$log_dir"

# run_suite PRESET [ctest args...]: configure, build and test one preset.
run_suite() {
    local preset=$1
    shift
    echo "== $preset: configure and build"
    if ! cmake --preset "$preset" >"$log_dir/$preset-configure.log" 2>&1; then
        cat "$log_dir/$preset-configure.log"
        echo "== $preset: configure FAILED"
        status=1
        failed=$((failed + 1))
        return
    fi
    if ! cmake --build --preset "$preset" -j "$jobs" >"$log_dir/$preset-build.log" 2>&1; then
        grep -E -B2 -A12 'error|FAILED' "$log_dir/$preset-build.log" | head -n 120
        echo "== $preset: build FAILED (full log: $log_dir/$preset-build.log)"
        status=1
        failed=$((failed + 1))
        return
    fi
    echo "== $preset: test"
    ctest --preset "$preset" "$@" 2>&1 | tee "$log_dir/$preset-test.log"
    local rc=${PIPESTATUS[0]}
    local line total nfail
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log_dir/$preset-test.log" | tail -n 1)
    if [ -n "$line" ]; then
        nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
        passed=$((passed + total - nfail))
        failed=$((failed + nfail))
    fi
    if [ "$rc" -ne 0 ]; then
        [ -n "$line" ] || failed=$((failed + 1))
        status=1
    fi
}

start=$(date +%s)
run_suite dev
run_suite asan
if ctest --test-dir build/dev -N -L tsan 2>/dev/null | grep -q 'Total Tests: [1-9]'; then
    run_suite tsan -L tsan
fi

echo "== format check"
if ! scripts/format.sh --check; then
    status=1
    failed=$((failed + 1))
fi

echo "== clang-tidy"
if ! BATON_JOBS=$jobs scripts/tidy.sh; then
    status=1
    failed=$((failed + 1))
fi

echo "== source check"
if ! scripts/source_check.sh; then
    status=1
    failed=$((failed + 1))
fi

echo "== make test took $(( $(date +%s) - start )) s"
echo "check: $passed passed, $failed failed"
exit $status
