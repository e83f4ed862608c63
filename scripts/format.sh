#!/usr/bin/env bash
# Formats (or with --check, verifies) every tracked C++ file with the project's .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' 2>/dev/null)
if [ ${#files[@]} -eq 0 ]; then
    mapfile -t files < <(find include src tools tests fuzz examples bench \
        \( -name '*.cpp' -o -name '*.hpp' \) 2>/dev/null)
fi
[ ${#files[@]} -gt 0 ] || { echo "format: no C++ files"; exit 0; }
if [ "${1:-}" = --check ]; then
    if clang-format --dry-run --Werror "${files[@]}"; then
        echo "format: ${#files[@]} files clean"
    else
        echo "format: FAILED (fix with: make format)"
        exit 1
    fi
else
    clang-format -i "${files[@]}"
fi
