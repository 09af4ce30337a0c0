#!/bin/sh
# theta_init.sh - parameter defaults are emitted compactly and exactly.
# A model with runs of defaults up to the limit (2^20 elements, MAX_INIT
# in sema.c) must give a small C file (repetition macros, not one literal
# per element: once `param p[2^28] = 1` wrote 1.48 GB of C) whose
# theta_init holds every default exactly, zeros included, checked
# element by element by a program linked against it.
set -u
BUILD=${BUILD:-build}
D=$BUILD/dilc
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cat >"$T/defaults.dil" <<'M'
model defaults
var y
param a[3] = 2.5
param z[7]
param b[100000] = 0.1
param c[17] = -3
param d[40000] = 0.1
param e[5]
score (y - a[0] - z[0] - b[0] - c[0] - d[0] - e[0])^2
M
$D "$T/defaults.dil" -o "$T/defaults.c" || { echo "theta_init.sh: dilc failed"; exit 1; }
size=$(wc -c <"$T/defaults.c")
[ "$size" -lt 8000 ] || { echo "theta_init.sh: $size bytes of C for the defaults"; exit 1; }
cat >"$T/main.c" <<'M'
#include "defaults.h"
#include <stdio.h>
int main(void)
{
    const double *t = defaults_model.theta_init;
    long bad = 0, i = 0, n;
    for (n = 0; n < 3; n++) bad += t[i++] != 2.5;
    for (n = 0; n < 7; n++) bad += t[i++] != 0.0;
    for (n = 0; n < 100000; n++) bad += t[i++] != 0.1;
    for (n = 0; n < 17; n++) bad += t[i++] != -3.0;
    for (n = 0; n < 40000; n++) bad += t[i++] != 0.1;
    for (n = 0; n < 5; n++) bad += t[i++] != 0.0;
    bad += i != defaults_model.ntheta;
    printf("%ld wrong\n", bad);
    return bad != 0;
}
M
cc -std=c99 -O0 -Wall -Wextra -Wpedantic -Werror -Iruntime -I"$T" "$T/defaults.c" "$T/main.c" \
    -lm -o "$T/prog" || { echo "theta_init.sh: the defaults do not compile"; exit 1; }
"$T/prog" >/dev/null || { echo "theta_init.sh: theta_init is wrong: $("$T/prog")"; exit 1; }
echo "theta_init.sh: 140,032 defaults in $size bytes of C, all exact"
