#!/bin/sh
# clones.sh - the AVX2 and baseline versions of the emitted kernels give the
# same bits (compiler/emit.c, "target_clones").  Models of generated/ are
# compiled twice, as emitted and with -DDIL_NO_CLONES, linked with
# tests/clones_dump.c, and the two dumps of every kernel's outputs at three
# points must be byte for byte the same.  On a CPU without AVX2 (or a
# compiler that does not clone) both builds run the baseline, and the
# script says so.  In check, a set that covers every vectorised function
# of compiler/vmath.h (elementwise), long sums and the linearise-once
# kernels (node_vdp), logsumexp (softmax_layer) and rolled loops
# (mpc_linear); CLONES_ALL=1 takes every model (a minute and a half of
# compiling here; all 20 gave the same bits at 5219ed0).
set -u
BUILD=${BUILD:-build}
CC=${CC:-cc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
avx2=no
grep -qw avx2 /proc/cpuinfo 2>/dev/null && avx2=yes
status=0 n=0 cloned=0
models="elementwise node_vdp softmax_layer mpc_linear"
[ "${CLONES_ALL:-0}" = 1 ] && models=$(for c in generated/*.c; do basename "$c" .c; done)
for name in $models; do
    c=generated/$name.c
    for v in clones plain; do
        def=; [ $v = plain ] && def=-DDIL_NO_CLONES
        $CC -std=c99 -O2 $def -Iruntime -Igenerated -c "$c" -o "$T/$name.$v.o" &&
        $CC -std=c99 -O2 -Iruntime -DMODEL="${name}_model" tests/clones_dump.c \
            "$T/$name.$v.o" -lm -o "$T/$name.$v" &&
        "$T/$name.$v" > "$T/$name.$v.out" || { echo "clones.sh: $name ($v) failed"; status=1; continue 2; }
    done
    if ! cmp -s "$T/$name.clones.out" "$T/$name.plain.out"; then
        echo "clones.sh: $name: the AVX2 and baseline kernels differ"
        status=1
        continue
    fi
    n=$((n + 1))
    nm "$T/$name.clones.o" | grep -q '\.avx2' && cloned=$((cloned + 1))
done
echo "clones.sh: $n models the same bits with and without clones ($cloned cloned, AVX2 on this CPU: $avx2)"
exit $status
