#!/bin/sh
# diff_summary.sh DIR - what a `make fuzz-diff` run did, from the files
# fuzz/fuzz_diff.c leaves in DIR: `stats` (one line per input dilc
# accepted) and `findings` (one record per mismatch, C that did not
# compile, other failed check or timeout).  Prints the inputs accepted,
# compiled and loaded, and compared with the hyper-dual reference (at
# least one kernel value checked), the values compared, and the findings
# by kind.  The inputs run in all are libFuzzer's figure (its last
# status line, "#N").
set -u
D=${1:?usage: diff_summary.sh DIR}
if [ -f "$D/stats" ]; then
    awk '{ a += $2; big += $4; c += $6; k += $8; n += $10 }
         END { printf "fuzz_diff: %d inputs accepted, %d compiled and loaded (%d with C over the size cap not compiled), %d reached the kernel check, %d values compared\n", a, c, big, k, n }' "$D/stats"
else
    echo "fuzz_diff: no input accepted ($D/stats missing)"
fi
if [ -s "$D/findings" ]; then
    echo "fuzz_diff: findings ($D/findings):"
    grep '^=== ' "$D/findings" | grep -v '^=== end$' | sort | uniq -c
else
    echo "fuzz_diff: no findings"
fi
