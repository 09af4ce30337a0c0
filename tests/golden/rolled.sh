#!/bin/sh
# rolled.sh - rolled loops against unrolled ones, in emitted C.
#
# Each model below is compiled by dilc as usual (its `for` loops and
# `sum(t in ...)` rolled into C loops) and with --unroll, under two
# prefixes, and tests/rolled/compare.c calls every kernel of both at
# random points (work filled with NaN) and requires agreement to 1e-13
# relative to each output's largest magnitude.  Models: every model of
# models/ with a loop, the cart-pole at T = 1, 2 and 12, the linear MPC at
# T = 200 (a long horizon, cheap to unroll), and tests/rolled/features.dil
# (lags, t as a value, chained loops, mean, a residual).  Also checks that
# the default form did roll its loops and --unroll did not.  The unrolled
# C is compiled at -O0 (gcc takes seconds per thousand unrolled steps at
# -O2); the rolled C at -O2, as users build it.  Run from the repository
# root; BUILD names the build directory.
set -u
BUILD=${BUILD:-build}
CC=${CC:-cc}
D=$BUILD/rolled
mkdir -p "$D"
status=0
n=0

fail() {
    echo "rolled.sh: $*"
    status=1
}

# compare NAME FILE.dil
compare() {
    name=$1 dil=$2
    if ! "$BUILD/dilc" "$dil" --prefix "r_$name" -o "$D/r_$name.c" --stats >"$D/$name.stats"; then
        fail "$dil does not compile"
        return
    fi
    if ! grep -q ': rolled$' "$D/$name.stats"; then
        fail "$dil: no loop rolled"
        return
    fi
    "$BUILD/dilc" --unroll "$dil" --prefix "u_$name" -o "$D/u_$name.c" --stats >"$D/$name.ustats" ||
        { fail "$dil does not compile with --unroll"; return; }
    if grep -q ': rolled$' "$D/$name.ustats"; then
        fail "$dil: a loop rolled under --unroll"
        return
    fi
    # -Wno-missing-field-initializers: until dilc emits the linearise-once
    # members of dil_model (as the Makefile's GEN_WARN_EMITTED)
    $CC -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers \
        -Iruntime -I"$D" -c "$D/r_$name.c" -o "$D/r_$name.o" && \
    $CC -std=c99 -O0 -Iruntime -I"$D" -c "$D/u_$name.c" -o "$D/u_$name.o" && \
    $CC -std=c99 -O2 -Wall -Wextra -Werror -Iruntime -DROLLED="r_${name}_model" \
        -DUNROLLED="u_${name}_model" tests/rolled/compare.c "$D/r_$name.o" "$D/u_$name.o" \
        -lm -o "$D/cmp_$name" || { fail "$name: build failed"; return; }
    "$D/cmp_$name" || fail "$name: rolled and unrolled kernels differ"
    n=$((n + 1))
}

for dil in models/*.dil; do
    grep -qE '^[[:space:]]*for[[:space:]]|sum\([a-z_][a-z_0-9]* in' "$dil" || continue
    compare "$(basename "$dil" .dil)" "$dil"
done
for T in 1 2 12; do
    sed "s/T = 100,/T = $T,/" models/cartpole_nmpc.dil >"$D/cartpole_$T.dil"
    compare "cartpole_$T" "$D/cartpole_$T.dil"
done
sed "s/T = 10,/T = 200,/" models/mpc_linear.dil >"$D/mpc_linear_200.dil"
compare mpc_linear_200 "$D/mpc_linear_200.dil"
compare features tests/rolled/features.dil
[ "$n" -ge 7 ] || fail "only $n models compared"
exit $status
