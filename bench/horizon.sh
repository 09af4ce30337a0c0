#!/bin/sh
# horizon.sh - the horizon sweep of `make bench` (issue 7, rolled loops).
#
# models/cartpole_nmpc.dil (nonlinear cart-pole MPC) at T = 10, 25, 100 and
# 1000, as dilc emits it (its `for` and `sum(t in ...)` rolled into C
# loops), and with --unroll where that still compiles in reasonable time
# (T = 10, 25; T = 100 takes a minute of gcc, T = 1000 is refused).  Per
# form and horizon: emitted bytes of the .c, dilc's and gcc -O2 -c's CPU
# time (user + system) and gcc's peak memory (/usr/bin/time -v), and the
# CPU time per horizon step of the score, the gradient and the
# Hessian-vector product (bench/horizon_time.c: the least of 7 rounds,
# and of PASSES runs).  CPU times, not wall times: the machine may be
# shared.
#
# Acceptance (issue 7): T = 1000 compiles; its .c within 10% of T = 10's;
# gcc -O2 under 3 s and dilc under 0.2 s; kernel time per step at
# T = 1000 within 1.2x of T = 100, and the rolled T = 25 within 1.2x of
# the unrolled T = 25.
set -eu
B=${BUILD:-build}
CC=${CC:-cc}
D=$B/bench/horizon
mkdir -p "$D"
HORIZONS=${HORIZONS-10 25 100 1000}
UNROLLED=${UNROLLED-10 25}

# cpu FILE: user + system seconds from a /usr/bin/time -v report
cpu() {
    awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$1"
}

# Build every form first, then time them in PASSES interleaved passes
# (each figure the least over the passes), so that a burst of load on a
# shared machine does not fall on one form only.
PASSES=${PASSES:-3}
runs=
for form in rolled unrolled; do
    if [ $form = rolled ]; then list=$HORIZONS; flag=; else list=$UNROLLED; flag=--unroll; fi
    for T in $list; do
        name=cp_${form}_$T
        sed "s/T = 100,/T = $T,/" models/cartpole_nmpc.dil >"$D/$name.dil"
        /usr/bin/time -v "$B/dilc" $flag "$D/$name.dil" -o "$D/$name.c" 2>"$D/$name.dilc"
        /usr/bin/time -v $CC -std=c99 -O2 -Iruntime -I"$D" -c "$D/$name.c" -o "$D/$name.o" \
            2>"$D/$name.gcc"
        $CC -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -Iruntime -I"$D" \
            -DMODEL_DESC=cartpole_nmpc_model -DMODEL_HEADER="\"$name.h\"" bench/horizon_time.c \
            "$D/$name.o" -lm -o "$D/time_$name"
        : >"$D/$name.times"
        runs="$runs $form:$T"
    done
done
p=0
while [ $p -lt "$PASSES" ]; do
    for r in $runs; do
        name=cp_${r%%:*}_${r#*:}
        "$D/time_$name" >>"$D/$name.times"
    done
    p=$((p + 1))
done
printf '%-9s %5s %9s %8s %8s %8s %12s %12s %12s\n' form T "C bytes" "dilc s" "gcc s" \
    "gcc MB" "score ns/T" "grad ns/T" "hvp ns/T"
for r in $runs; do
    form=${r%%:*} T=${r#*:}
    name=cp_${form}_$T
    mb=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$D/$name.gcc")
    per=$(awk -v T="$T" 'NR == 1 || $1 < a {a = $1} NR == 1 || $2 < b {b = $2}
                         NR == 1 || $3 < c {c = $3}
                         END {printf "%12.1f %12.1f %12.1f", a / T, b / T, c / T}' "$D/$name.times")
    printf '%-9s %5d %9d %8s %8s %8s %s\n' "$form" "$T" "$(wc -c <"$D/$name.c")" \
        "$(cpu "$D/$name.dilc")" "$(cpu "$D/$name.gcc")" "$mb" "$per"
done
