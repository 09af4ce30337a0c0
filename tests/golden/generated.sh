#!/bin/sh
# generated.sh - fails when the committed generated/ code is stale.
#
# For every model in models/, compares what dilc emits now
# ($BUILD/gen/NAME.c and NAME.h, built by `make`) with the committed copy
# in generated/, byte for byte: dilc is deterministic, so any difference
# means generated/ was not refreshed after a change to a model or to the
# compiler.  Run from the repository root; BUILD names the build
# directory (default build).  Fix with `make generated` and commit.
set -u
BUILD=${BUILD:-build}
status=0
checked=0
for dil in models/*.dil; do
    [ -f "$dil" ] || continue
    name=$(basename "$dil" .dil)
    for ext in c h; do
        new=$BUILD/gen/$name.$ext
        old=generated/$name.$ext
        if [ ! -f "$new" ]; then
            echo "generated.sh: $new is missing (make BUILD=$BUILD $BUILD/gen/$name.c)"
            status=1
        elif [ ! -f "$old" ]; then
            echo "generated.sh: $old is missing (make BUILD=$BUILD generated, then commit)"
            status=1
        elif ! cmp -s "$old" "$new"; then
            echo "generated.sh: $old differs from what dilc emits now ($new);" \
                 "run make generated and commit"
            diff -u "$old" "$new" | head -n 20
            status=1
        fi
        checked=$((checked + 1))
    done
done
if [ "$checked" -eq 0 ]; then
    echo "generated.sh: no models found (run from the repository root)"
    status=1
fi
exit $status
