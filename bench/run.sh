#!/bin/sh
# run.sh - the kernel benchmarks behind `make bench`.
#
# For each model: instructions per call of every score kernel (callgrind,
# libm included, the average over REPS calls), the ratio to the score's,
# and wall-clock nanoseconds per call.  Then the size of the emitted C for
# node_euler at H=50 and at H=500 (the file must not grow with H).
# Targets (issue 2): gradient <= 4x, Hessian-vector product <= 6x, mixed
# theta product <= 6x the score.
#
# Then (issue 8) M2 emitted by dilc against M2 by hand at each size of
# M2_SIZES (bench/m2.c: microseconds per call, thread CPU time, and the
# ratio dil / hand), and one training step of the Van der Pol neural ODE:
# dil on 1 and 2 threads (bench/vdp_step.c) against PyTorch on one
# (bench/vdp_step.py, /usr/bin/python3 with Debian's python3-torch;
# skipped with a message when torch is missing).  Ratios come from one run:
# the machine is shared, so compare figures of the same run only.
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
echo "== M2: dil against hand-written C (us per call, thread CPU time, fastest of 5)"
printf '%-12s  %-20s %12s %12s %8s\n' "(D, H)" kernel dil hand "dil/hand"
for sz in ${M2_SIZES:-2_50 2_500 200_200 1000_1000}; do
    nice -n 10 "$B/bench/m2_$sz/m2"
done
echo "-- the same, dil's kernels for the baseline ISA only (-DDIL_NO_CLONES: no AVX2 version)"
for sz in ${M2_SIZES:-2_50 2_500 200_200 1000_1000}; do
    nice -n 10 "$B/bench/m2_$sz/m2_base"
done
echo "== Van der Pol training step (107 pairs, H = 500): ms per step, fastest of 7"
echo "   (wall clock, then process CPU time: the figure robust to a loaded machine)"
"$B/bench/vdp_step" "$B/bench/vdp_step.bin" > "$B/bench/vdp_step.txt"
t1=$(awk '$1 == 1 {print $2}' "$B/bench/vdp_step.txt")
c1=$(awk '$1 == 1 {print $3}' "$B/bench/vdp_step.txt")
t2=$(awk '$1 == 2 {print $2}' "$B/bench/vdp_step.txt")
echo "dil, 1 thread:  $t1 ms wall, $c1 ms CPU"
echo "dil, 2 threads: $t2 ms wall  (1 thread / 2 threads = $(echo "$t1 $t2" | awk '{printf "%.2f", $1/$2}'))"
"$B/bench/vdp_step_native" "$B/bench/vdp_step_native.bin" > "$B/bench/vdp_step_native.txt"
n1=$(awk '$1 == 1 {print $2}' "$B/bench/vdp_step_native.txt")
nc1=$(awk '$1 == 1 {print $3}' "$B/bench/vdp_step_native.txt")
echo "dil, 1 thread, model compiled -march=native: $n1 ms wall, $nc1 ms CPU"
"$B/bench/vdp_step_base" "$B/bench/vdp_step_base.bin" > "$B/bench/vdp_step_base.txt"
b1=$(awk '$1 == 1 {print $2}' "$B/bench/vdp_step_base.txt")
bc1=$(awk '$1 == 1 {print $3}' "$B/bench/vdp_step_base.txt")
echo "dil, 1 thread, model compiled -DDIL_NO_CLONES (baseline ISA only): $b1 ms wall, $bc1 ms CPU"
set +e
py=$(/usr/bin/python3 bench/vdp_step.py "$B/bench/vdp_step.bin" 2>&1)
rc=$?
set -e
case $rc in
0)
    tt=$(echo "$py" | awk '$1 == "torch" {print $2}')
    tc=$(echo "$py" | awk '$1 == "torch" {print $3}')
    echo "PyTorch, 1 thread: $tt ms wall, $tc ms CPU  (PyTorch / dil 1 thread: wall $(echo "$tt $t1" | awk '{printf "%.2f", $1/$2}'), CPU $(echo "$tc $c1" | awk '{printf "%.2f", $1/$2}'); -march=native: wall $(echo "$tt $n1" | awk '{printf "%.2f", $1/$2}'), CPU $(echo "$tc $nc1" | awk '{printf "%.2f", $1/$2}'); baseline ISA: wall $(echo "$tt $b1" | awk '{printf "%.2f", $1/$2}'), CPU $(echo "$tc $bc1" | awk '{printf "%.2f", $1/$2}'))"
    ;;
77) echo "PyTorch: skipped ($py)" ;;
*) echo "PyTorch: failed: $py"; exit 1 ;;
esac
