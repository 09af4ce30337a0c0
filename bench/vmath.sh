#!/bin/sh
# vmath.sh - `make bench-vmath`: libm against compiler/vmath.h, ns per
# element, at -O2 and at -O3 -march=native, side by side in one run
# (bench/vmath.c; the ratio is libm / ours, > 1 means ours is faster).
set -eu
B=${BUILD:-build}
"$B/bench/vmath_O2" > "$B/bench/vmath_O2.txt"
"$B/bench/vmath_native" > "$B/bench/vmath_native.txt"
echo "ns per element, libm vs vmath.h (ratio = libm / vmath)"
printf '%-9s %6s | %8s %8s %6s | %8s %8s %6s\n' function n "libm" "vmath" "ratio" \
    "libm" "vmath" "ratio"
printf '%-9s %6s | %24s | %24s\n' "" "" "-O2" "-O3 -march=native"
paste -d' ' "$B/bench/vmath_O2.txt" "$B/bench/vmath_native.txt" | awk '{
    printf "%-9s %6s | %8.2f %8.2f %5.1fx | %8.2f %8.2f %5.1fx\n", $1, $2, $3, $4, $3 / $4, $7, $8, $7 / $8 }'
