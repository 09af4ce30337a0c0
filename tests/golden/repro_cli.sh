#!/bin/sh
# repro_cli.sh - bad input to the reproduction programs (repro/table1,
# repro/fig2) gets a clear message and a failing exit status, and a tiny
# valid run writes the CSV with issue 9's columns.
set -u
B=${BUILD:-build}
P=$B/repro/table1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
expect() {  # expect STATUS PATTERN DESCRIPTION -- command...
    want=$1 pat=$2 what=$3
    shift 4
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "repro_cli.sh: $what: exit $got, expected $want"
        fail=1
    elif [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err"; then
        echo "repro_cli.sh: $what: no message matching '$pat'; got:"
        sed 's/^/    /' "$T/err" | head -5
        fail=1
    fi
}
expect 1 "unknown dataset 'lorenz'" "unknown dataset" -- $P --dataset lorenz --seeds 1
expect 1 "unknown variant '3layer'" "unknown variant" -- $P --dataset vdp --variant 3layer
expect 2 "nothing to run" "zero seeds" -- $P --seeds 0
expect 2 "expects a non-negative integer" "negative seeds" -- $P --seeds -3
expect 2 "unknown option '--frob'" "unknown option" -- $P --frob 1
expect 2 "expects K:ITERS" "bad curriculum" -- $P --stages 4-100
expect 1 "does not fit" "window too long" -- $P --dataset spiral --stages 120:5
expect 2 "expects dense, cg or root" "bad backward" -- $P --backward lu
expect 2 "not both" "jobs and threads" -- $P --jobs 2 --threads 2
expect 2 "expects a decay in" "bad average decay" -- $P --ema 1
expect 2 "expects an integer >= 2" "fig2 inits" -- $B/repro/fig2 --inits 1
# a tiny valid run: the CSV header and one row per seed
expect 0 "" "tiny run" -- $P --dataset spiral01 --seeds 2 --stages 1:30 --csv "$T/t.csv"
if [ "$(head -1 "$T/t.csv")" != \
     "dataset,variant,seed,test_mse,val_mse,baseline_zero,baseline_hold,newton_failures,wall_s" ] \
   || [ "$(grep -c '^spiral01,1layer,' "$T/t.csv")" -ne 2 ]; then
    echo "repro_cli.sh: the tiny run's CSV is not as expected:"
    sed 's/^/    /' "$T/t.csv"
    fail=1
fi
# two runs at once write the same rows, in the same order, as one at a time
expect 0 "" "tiny run, 2 jobs" -- $P --dataset spiral01,spiral --seeds 2 --stages 1:30 \
    --jobs 2 --csv "$T/j.csv"
expect 0 "" "tiny run, 1 job" -- $P --dataset spiral01,spiral --seeds 2 --stages 1:30 \
    --csv "$T/s.csv"
# (every column but the wall time)
cut -d, -f1-8 "$T/j.csv" >"$T/j8"
cut -d, -f1-8 "$T/s.csv" >"$T/s8"
if ! cmp -s "$T/j8" "$T/s8" || [ "$(wc -l <"$T/j8")" -ne 5 ]; then
    echo "repro_cli.sh: --jobs 2 wrote other rows than one job at a time:"
    diff "$T/s8" "$T/j8" | head -10
    fail=1
fi
exit $fail
