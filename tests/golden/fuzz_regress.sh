#!/bin/sh
# fuzz_regress.sh - inputs that once crashed, hung or exhausted dilc, and
# the size limits, replayed on every `make check` (and under ASan+UBSan by
# `make sanitize`).
#
# Every file in tests/fuzz-regress/ (except NAME.err files) is compiled
# twice, with `dilc --check` and with a full compile into a temporary
# directory.  Each run must end within $LIMIT seconds of CPU with exit status 0
# or 1 (never a signal, never 2), and an exit status of 1 must come with a
# located "FILE:LINE:COL: error:" diagnostic first.  When NAME.err exists
# beside NAME, the full compile's stderr must be exactly that file.
#
# The inputs too large to keep in git (200,000 nested parentheses, unary
# minus signs, brackets, a 200,000-term sum) are written here, and a
# directory given as the model must be refused with exit status 2.
# Run from the repository root; BUILD names the build directory.
set -u
BUILD=${BUILD:-build}
D=$BUILD/dilc
LIMIT=${FUZZ_REGRESS_LIMIT:-10}      # CPU seconds per run
WALL=$((LIMIT * 12))                 # wall seconds per run
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
status=0 n=0

# run FILE EXPECT-ERR-OR-EMPTY ARGS...: one dilc run, checked.
run() {
    f=$1 want=$2
    shift 2
    # The limit is CPU time (ulimit -t), so that a loaded machine cannot
    # fail a run that is fast; the wall-clock timeout only catches a run
    # that sleeps or blocks.
    (ulimit -t "$LIMIT"; exec timeout -s KILL "$WALL" "$D" "$@" "$f") >"$T/out" 2>"$T/err"
    rc=$?
    case $rc in
    0) ;;
    1)
        if ! head -n 1 "$T/err" | grep -q "^$f:[0-9]*:[0-9]*: error: "; then
            echo "fuzz_regress.sh: $f ($*): exit 1 without a located error first"
            head -n 3 "$T/err" | cut -c1-200 | sed 's/^/    /'
            status=1
        fi
        ;;
    137|152) echo "fuzz_regress.sh: $f ($*): killed after ${LIMIT} s of CPU or ${WALL} s of wall time"; status=1 ;;
    *)
        echo "fuzz_regress.sh: $f ($*): exit status $rc"
        tail -n 5 "$T/err" | cut -c1-200 | sed 's/^/    /'
        status=1
        ;;
    esac
    if [ -n "$want" ] && ! cmp -s "$want" "$T/err"; then
        echo "fuzz_regress.sh: $f ($*): stderr differs from $want"
        diff -u "$want" "$T/err" | head -n 20 | cut -c1-200
        status=1
    fi
}

check_file() {
    n=$((n + 1))
    run "$1" "" --check
    want=
    [ -f "$1.err" ] && want=$1.err
    run "$1" "$want" -o "$T/out.c"
}

for f in tests/fuzz-regress/*; do
    [ -f "$f" ] || continue
    case $f in *.err) continue ;; esac
    check_file "$f"
done

# The nesting limits, at a depth that would overflow any C stack if a
# phase recursed over it.
rep() {  # rep N STRING: STRING N times
    head -c "$1" /dev/zero | tr '\0' x | sed "s/x/$2/g"
}
N=200000
{ printf 'model m\nvar y\nscore '; rep $N '('; printf y; rep $N ')'; printf '^2\n'; } >"$T/parens.dil"
{ printf 'model m\nvar y\nscore '; rep $N '-'; printf 'y^2\n'; } >"$T/minus.dil"
{ printf 'model m\nvar y\nscore '; rep $N '-('; printf y; rep $N ')'; printf '^2\n'; } >"$T/minus_parens.dil"
{ printf 'model m\nvar y\nscore '; rep $N '['; printf y; rep $N ']'; printf '\n'; } >"$T/brackets.dil"
{ printf 'model m\nvar y\nscore '; rep $N 'y*y+'; printf 'y\n'; } >"$T/long_sum.dil"
for f in parens minus minus_parens brackets long_sum; do
    check_file "$T/$f.dil"
done

# Inputs too slow for valgrind (tests/valgrind.sh replays the files of
# tests/fuzz-regress/), each with the message it must give.  The emitter
# once released scratch by scanning every live slot at every position and
# found free slots by a linear scan: quadratic in a horizon whose vectors
# all stay live until the reverse sweep (16,000 steps ran for minutes).
# Exponents of 1e99999 cost 41 KB and a millisecond each: 18 s and 820 MB
# for the second file before RAT_MAX_EXP came down to 1000.  Building an
# assembly looked for a piece at the same place by scanning all earlier
# pieces: quadratic in the length of a vector literal (the third file,
# 100,000 elements, took over ten seconds; now the node limit stops it,
# which counts the pieces of an assembly).
# A view of an assembly looked for the pieces it meets by scanning them
# all: reading back each element of a long vector literal (the fourth
# file) took 5 s, several times that under ASan; sorted pieces are now
# bisected.
cat >"$T/many_live_slots.dil" <<'EOF'
model m
var y[2]
input u[2]
param A[2, 2]
data d[2]
let x[0] = y
for t in 0:3000 { let x[t+1] = tanh(A @ x[t] + u) * y }
residual x[3000] - u
loss sum((x[3000] - d)^2)
EOF
{ printf 'model m\nvar y\n'; rep 20000 'let c = 1e99999\n'; printf 'score y\n'; } >"$T/huge_literals.dil"
{ printf 'model m\nvar y[3]\nscore sum(['; rep 100000 'y[0]*y[1], '; printf 'y[2]]^2)\n'; } >"$T/long_vector.dil"
{ printf 'model m\nvar y[3]\nlet v = ['; rep 80000 'y[0]*y[1], '; printf 'y[2]]\nscore sum(t in 0:80000, v[t]^2)\n'; } >"$T/vector_read_back.dil"
check_file "$T/many_live_slots.dil"
check_file "$T/huge_literals.dil"
grep -q "error: number '1e99999' is out of range" "$T/err" ||
    { echo "fuzz_regress.sh: huge_literals.dil: not the exponent limit"; status=1; }
check_file "$T/long_vector.dil"
grep -q "error: model too large to unroll: more than 100000 IR nodes" "$T/err" ||
    { echo "fuzz_regress.sh: long_vector.dil: not the node limit"; status=1; }
check_file "$T/vector_read_back.dil"

# The issue's 75-byte model (tests/fuzz-regress/huge_vector_assemblies.dil,
# 2^27 elements and 1001 steps, now refused for its work) once emitted
# 1.1 MB of C, one loop nest per step, that gcc took 24 s over: the sum
# over t, an assembly in its body, rolls, so at a size dilc accepts the
# emitted C must not grow with the number of steps.
for steps in 1001 100001; do
    printf 'model m\ndim N = 1000\nvar y[N]\nscore sum(t in 1:%s, sum([y*t, y]^2))\n' "$steps" \
        >"$T/steps$steps.dil"
    check_file "$T/steps$steps.dil"
    wc -c <"$T/out.c" >"$T/size$steps"
done
if [ "$(cat "$T/size1001")" -gt 8000 ] || [ "$(cat "$T/size100001")" -gt $(($(cat "$T/size1001") + 16)) ]; then
    echo "fuzz_regress.sh: the issue's model at 1001 and 100001 steps: $(cat "$T/size1001") and $(cat "$T/size100001") bytes of C"
    status=1
fi

# Twenty errors on one 16 MB line (once 20 errors on a 200 KB line took
# 10 s: stderr unbuffered, the whole line printed a byte at a time, its
# line number counted from the start each time): each diagnostic shows
# at most 80 bytes either side of its caret.
{ printf 'model m\nvar y\nscore y'; rep 1000000 '        '; rep 25 ' + nope'; printf ' # '
  rep 1000000 'comment '; printf '\n'; } >"$T/long_line.dil"
check_file "$T/long_line.dil"
[ "$(grep -c 'error: undefined name' "$T/err")" -eq 20 ] && [ "$(wc -c <"$T/err")" -lt 10000 ] ||
    { echo "fuzz_regress.sh: long_line.dil: not 20 short diagnostics"; status=1; }

# An empty file is a model error; a directory is an I/O error.
: >"$T/empty.dil"
check_file "$T/empty.dil"
mkdir "$T/dir.dil"
timeout -s KILL "$LIMIT" "$D" --check "$T/dir.dil" >/dev/null 2>"$T/err"
rc=$?
if [ "$rc" -ne 2 ] || ! grep -q 'Is a directory' "$T/err"; then
    echo "fuzz_regress.sh: a directory as the model: exit $rc, expected 2 (Is a directory)"
    status=1
fi

echo "fuzz_regress.sh: $n inputs replayed"
exit $status
