#!/bin/sh
# determinism.sh - dilc's output does not depend on the C compiler that
# built dilc.  Node ids name the emitted temporaries, and C leaves the
# evaluation order of function arguments unspecified (gcc and clang differ),
# so a builder call nested in another's arguments could change the output.
# Builds a second dilc with the other compiler (clang for a gcc build and
# the reverse) and checks that it emits generated/ byte for byte.  Skipped,
# saying so, when the other compiler is not installed or under sanitizers.
set -u
BUILD=${BUILD:-build}
case "$BUILD" in *san*) echo "determinism.sh: skipped under sanitizers"; exit 0 ;; esac
other=clang
if "${CC:-cc}" --version 2>/dev/null | grep -qi clang; then other=gcc; fi
if ! command -v $other >/dev/null 2>&1; then
    echo "determinism.sh: $other not installed, skipped"
    exit 0
fi
OB=$BUILD/other-$other
make --no-print-directory -s BUILD="$OB" CC=$other "$OB/dilc" >/dev/null || {
    echo "determinism.sh: building dilc with $other failed"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
status=0 n=0
for dil in models/*.dil; do
    name=$(basename "$dil" .dil)
    "$OB/dilc" "$dil" -o "$T/$name.c" || { status=1; continue; }
    same=1
    for ext in c h; do
        cmp -s "$T/$name.$ext" "generated/$name.$ext" || {
            echo "determinism.sh: dilc built with $other emits a different $name.$ext"
            same=0 status=1
        }
    done
    n=$((n + same))
done
echo "determinism.sh: $n models emitted identically by a dilc built with $other"
exit $status
