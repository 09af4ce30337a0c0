#!/bin/sh
# plot_control.sh - the plots of the control experiments (Figure 3 and
# Figure 4 of the paper, docs/results/control.md), drawn from the CSV files
# that build/repro/control/table2 and .../dare write.  Usage:
#   sh scripts/plot_control.sh table2|dare RESULTS_DIR
# Needs /usr/bin/python3 with matplotlib; without it, says so and succeeds
# (the CSV files are the results; the plots only show them).
set -u
what=$1 dir=$2
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import matplotlib' 2>/dev/null; then
    echo "plot_control: python3 with matplotlib not found; $what plots skipped (CSV files are in $dir)"
    exit 0
fi
exec "$py" "$(dirname "$0")/plot_control.py" "$what" "$dir"
