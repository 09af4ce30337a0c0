#!/bin/sh
# fuzz_diff_replay.sh - the differential check of fuzz/fuzz_diff.c (emit,
# compile with cc -Wall -Wextra -Wpedantic -Werror, load, compare every
# kernel with the hyper-dual reference at random points) on every model
# in the tree (the seeds of `make fuzz-diff`) and every input of
# tests/fuzz-regress/, with the target built without libFuzzer
# ($BUILD/tests/fuzz_diff_replay).  Inputs dilc rejects are passed over;
# a mismatch or C that does not compile aborts.  Emitted C over 256 KB is
# not compiled here, to keep `make check` short.
set -u
BUILD=${BUILD:-build}
R=$BUILD/tests/fuzz_diff_replay
[ -x "$R" ] || { echo "fuzz_diff_replay.sh: $R not built"; exit 1; }
n=0
for f in models/*.dil tests/minimum/*.dil tests/rolled/*.dil bench/*.dil \
         python/tests/models/*.dil tests/fuzz-regress/*; do
    case $f in *.err) continue ;; esac
    [ -f "$f" ] || continue
    n=$((n + 1))
    if ! DIL_FUZZ_VERBOSE=1 DIL_FUZZ_MAX_C=262144 "$R" "$f" >/dev/null 2>"$BUILD/tests/fuzz_diff_replay.log"; then
        echo "fuzz_diff_replay.sh: $f:"
        head -n 30 "$BUILD/tests/fuzz_diff_replay.log"
        exit 1
    fi
done
echo "fuzz_diff_replay.sh: $n inputs compiled and compared"
