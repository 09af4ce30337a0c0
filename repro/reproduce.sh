#!/bin/sh
# reproduce.sh - the body of `make reproduce-table1`: Table 1 (3 data sets x
# 2 variants x SEEDS seeds), Figure 2, the plots, docs/results/table1.md and
# docs/RESULTS.md.  Environment: BUILD (default build), SEEDS (10), JOBS
# (trainings run at once, each on one thread: 2, one per core).
# Intermediate files go to $BUILD/repro/out; what is committed goes to
# docs/results/.
set -eu
B=${BUILD:-build}
SEEDS=${SEEDS:-10}
JOBS=${JOBS:-2}
T=$B/repro/out
R=docs/results
mkdir -p "$T/traces" "$R/fig"

echo "== Table 1: $SEEDS seeds per row, $JOBS runs at once"
# the machine's load before and after: wall times mean little without it
cat /proc/loadavg >"$T/load" 2>/dev/null || :
# and every 30 s during it (the sampler is stopped right after the run)
( while :; do cut -d' ' -f1 /proc/loadavg 2>/dev/null; sleep 30; done ) >"$T/loadlog" &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || :' EXIT
set -- "$B/repro/table1" --dataset vdp,spiral01,spiral --variant 1layer,2layer \
    --seeds "$SEEDS" --jobs "$JOBS" --csv "$R/table1.csv" --runs "$T/runs.csv" \
    --traces "$T/traces"
echo "\$ $*"
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%e %U %S" -o "$T/times" "$@" | tee "$T/table1.log"
else
    start=$(date +%s)
    "$@" | tee "$T/table1.log"
    echo "$(($(date +%s) - start)) nan nan" >"$T/times"
fi
kill "$sampler" 2>/dev/null || :
cat /proc/loadavg >>"$T/load" 2>/dev/null || :
echo "== Figure 2"
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%e %U %S" -o "$T/fig2_times" "$B/repro/fig2" --out "$T/fig2.dat" \
        | tee "$T/fig2.log"
else
    rm -f "$T/fig2_times"
    "$B/repro/fig2" --out "$T/fig2.dat" | tee "$T/fig2.log"
fi
echo "== plots and report"
if command -v /usr/bin/python3 >/dev/null; then
    /usr/bin/python3 repro/plots.py "$R/table1.csv" "$T/traces" "$T/fig2.dat" "$R/fig"
    /usr/bin/python3 repro/report.py "$R/table1.csv" "$T/runs.csv" "$T/table1.log" \
        "$T/fig2.log" "$T/times" "$R/table1.md" "$T/traces"
else
    echo "reproduce.sh: /usr/bin/python3 not found: no plots, docs/results/table1.md not updated"
fi
sh scripts/results.sh
