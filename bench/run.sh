#!/bin/sh
# run.sh - the kernel benchmarks behind `make bench`.
#
# For each model: instructions per call of every score kernel (callgrind,
# libm included, the average over REPS calls), the ratio to the score's,
# and wall-clock nanoseconds per call.  Then the size of the emitted C for
# node_euler at H=50 and at H=500 (the file must not grow with H).
# Targets (issue 2): gradient <= 4x, Hessian-vector product <= 6x, mixed
# theta product <= 6x the score.
set -eu
B=${BUILD:-build}
REPS=${REPS:-20}
kernels="score score_grad_y score_hvp_yy score_vjp_xy score_vjp_thetay"
for model in "$@"; do
    bin=$B/bench/kernels_$model
    echo "== $model"
    printf '%-18s %14s %8s %12s\n' kernel "instr/call" "x score" "ns/call"
    base=
    for k in $kernels; do
        out=$B/bench/cg.$model.$k
        valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
            --toggle-collect="${model}_$k" "$bin" "$k" "$REPS" >/dev/null 2>&1
        ir=$(sed -n 's/^summary: *//p' "$out" | awk '{print $1}')
        per=$((ir / REPS))
        [ -n "$base" ] || base=$per
        ns=$("$bin" "$k" 20000)
        printf '%-18s %14d %8.2f %12s\n' "$k" "$per" "$(echo "$per $base" | awk '{printf "%.2f", $1/$2}')" "$ns"
    done
done
echo "== emitted file size, node_euler at H=50 and H=500"
sed 's/H = 50/H = 500/' models/node_euler.dil > $B/bench/node_euler_500.dil
$B/dilc models/node_euler.dil -o $B/bench/h50.c
$B/dilc $B/bench/node_euler_500.dil -o $B/bench/h500.c
s50=$(wc -c < $B/bench/h50.c); s500=$(wc -c < $B/bench/h500.c)
echo "H=50: $s50 bytes, H=500: $s500 bytes ($(echo "$s500 $s50" | awk '{printf "%+.1f%%", 100*($1-$2)/$2}'))"
