#!/bin/sh
# diag.sh - golden diagnostics: every malformed model in tests/diag/.
#
# For each tests/diag/NAME.dil, `dilc --check` must exit 1 and print to
# stderr exactly tests/diag/NAME.err (GCC-style file:line:col: error:
# message, the source line, a caret).  Run from the repository root;
# BUILD names the build directory.
set -u
BUILD=${BUILD:-build}
status=0 n=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for dil in tests/diag/*.dil; do
    [ -f "$dil" ] || continue
    err=${dil%.dil}.err
    n=$((n + 1))
    "$BUILD/dilc" --check "$dil" 2>"$out" >/dev/null
    rc=$?
    if [ "$rc" -ne 1 ]; then
        echo "diag.sh: $dil: exit status $rc, expected 1"
        status=1
    fi
    if ! cmp -s "$err" "$out"; then
        echo "diag.sh: $dil: diagnostics differ from $err"
        diff -u "$err" "$out" | head -n 20
        status=1
    fi
done
[ "$n" -gt 0 ] || { echo "diag.sh: no tests/diag/*.dil found"; status=1; }
echo "diag.sh: $n malformed models checked"
exit $status
