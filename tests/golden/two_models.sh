#!/bin/sh
# two_models.sh - emitted files coexist: two models compiled by dilc link
# into one program, and compile as one translation unit (both .c files
# #included by one file), with gcc and clang at -Wall -Wextra -Wpedantic
# -Werror.  Models mm and MM (header guards once differed only in case),
# one of them with every helper function (sq, sign via abs, sigmoid, softplus,
# once the same static name in every file), and a kepler from models/.
# Each descriptor is then called, so the program is checked to run and to
# reach each model's own kernels.
set -u
BUILD=${BUILD:-build}
D=$BUILD/dilc
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
status=0
cat >"$T/mm.dil" <<'M'
model mm
var y[2]
score sum(y^2) + sigmoid(y[0]) + softplus(y[1]) + abs(y[0]) * y[1]
M
cat >"$T/MM.dil" <<'M'
model MM
var y
input a
score (y - a)^2 + sigmoid(y) * softplus(a)
M
for m in mm MM; do
    $D "$T/$m.dil" -o "$T/$m.c" || { echo "two_models.sh: dilc failed on $m"; exit 1; }
done
$D models/kepler.dil -o "$T/kepler.c" || { echo "two_models.sh: dilc failed on kepler"; exit 1; }
cat >"$T/main.c" <<'M'
#include "mm.h"
#include "MM.h"
#include "kepler.h"
#include <stdio.h>
int main(void)
{
    double y[2] = {0.5, -0.25}, a = 0.5, work[64];
    double f1 = mm_model.score(y, NULL, NULL, work);
    double f2 = MM_model.score(y, &a, NULL, work);
    int ok = mm_model.ny == 2 && MM_model.ny == 1 && kepler_model.ny == 1 && f1 != f2 &&
             mm_model.score == mm_score && MM_model.score == MM_score;
    printf("%s\n", ok ? "ok" : "wrong");
    return ok ? 0 : 1;
}
M
printf '#include "mm.c"\n#include "MM.c"\n#include "kepler.c"\n#include "main.c"\n' >"$T/one.c"
for cc in gcc clang; do
    if ! command -v $cc >/dev/null 2>&1; then
        echo "two_models.sh: $cc not installed, skipped"
        continue
    fi
    flags="-std=c99 -Wall -Wextra -Wpedantic -Werror -Iruntime -I$T"
    if ! $cc $flags "$T/mm.c" "$T/MM.c" "$T/kepler.c" "$T/main.c" -lm -o "$T/prog" 2>"$T/err"; then
        echo "two_models.sh: $cc: two models do not link into one program"; head -5 "$T/err"
        status=1
    elif [ "$("$T/prog")" != ok ]; then
        echo "two_models.sh: $cc: the linked program gives the wrong answer"; status=1
    fi
    if ! $cc $flags "$T/one.c" -lm -o "$T/one" 2>"$T/err"; then
        echo "two_models.sh: $cc: two models do not compile as one translation unit"; head -5 "$T/err"
        status=1
    elif [ "$("$T/one")" != ok ]; then
        echo "two_models.sh: $cc: the one-unit program gives the wrong answer"; status=1
    fi
done
[ "$status" -eq 0 ] && echo "two_models.sh: three models in one program and in one unit"
exit $status
