#!/bin/sh
# run_all.sh - runs every test program given, then the golden tests, and
# ends with one summary line "N passed, N failed".
set -u
pass=0 fail=0
for t in "$@"; do
    if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
for g in tests/golden/*.sh; do
    [ -f "$g" ] || continue
    if sh "$g"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $g"; fi
done
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
