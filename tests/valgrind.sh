#!/bin/sh
# valgrind.sh - dilc and the test programs under valgrind's memcheck.
#
# Runs, each under
#     valgrind --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite
# (so a memory error or a definitely lost block turns into exit status 3):
#
#   - dilc on every model in models/: a full compile into a temporary
#     directory, and a second compile with --print-derivatives, --stats,
#     --dot, --dump-ast and --dump=PASS, which walk the IR the plain
#     compile does not;
#   - dilc --check on every malformed model in tests/diag/ (exit 1 expected)
#     and dilc on every input in tests/fuzz-regress/ if that directory
#     exists (a full compile with every printing option; exit 0 or 1);
#   - every unit test program and every model test program with
#     CK_FORK=no, so that the tests run inside the process valgrind
#     watches.  One test case is left out: the "format" case of check_rat
#     (200,000 random doubles printed and read back), which takes three
#     minutes under valgrind; the "double" case, which is kept, runs the
#     same conversions on fewer numbers.
#
# Jobs run JOBS at a time (default: the number of processors).  BUILD names
# a build directory holding dilc and the tests, built without sanitizers
# (valgrind and ASan do not mix).  VALGRIND_QUICK=1 runs a small subset
# for `make check`: two models, ten malformed inputs, one unit test and
# one model test (the fuzz regression inputs, some of them deliberately
# heavy, only in the whole run).
# Prints one line per failure and a summary; exits 1 if anything failed.
set -u
BUILD=${BUILD:-build}

# --job WANT LOG [VAR=VALUE...] CMD...: one job, run by xargs below.  WANT
# is the exit status accepted ("0", "1" or "01" for either); the
# assignments go into the environment of CMD.
if [ "${1:-}" = "--job" ]; then
    want=$2 log=$3
    shift 3
    while :; do
        case "$1" in
            [A-Z]*=*) export "$1"; shift ;;
            *) break ;;
        esac
    done
    valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite "$@" >"$log" 2>&1
    rc=$?
    case "$want" in
        *"$rc"*) rm -f "$log"; exit 0 ;;
    esac
    echo "valgrind.sh: exit $rc (want $want): $*"
    case $rc in
        3) echo "    memory error or definite leak:" ;;
        *) echo "    output:" ;;
    esac
    grep -v '^==[0-9]*== *$' "$log" | head -n 30 | sed 's/^/    /'
    exit 1
fi

command -v valgrind >/dev/null 2>&1 || { echo "valgrind.sh: valgrind is not installed"; exit 1; }
D=$BUILD/dilc
[ -x "$D" ] || { echo "valgrind.sh: $D not built"; exit 1; }
if nm "$D" 2>/dev/null | grep -q __asan_init; then
    echo "valgrind.sh: $D is built with ASan; use a build without sanitizers"
    exit 1
fi
JOBS=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
QUICK=${VALGRIND_QUICK:-0}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
jobs=$T/jobs
: >"$jobs"
n=0
job() {  # job WANT COMMAND...: one line of the job list
    n=$((n + 1))
    want=$1
    shift
    echo "$want $T/log.$n $*" >>"$jobs"
}

models=$(ls models/*.dil)
diags=$(ls tests/diag/*.dil)
regress=
[ -d tests/fuzz-regress ] && regress=$(find tests/fuzz-regress -type f ! -name '*.err' | sort)
units=$(ls "$BUILD"/tests/check_* 2>/dev/null | grep -v '\.d$')
model_tests=$(ls models/*.dil | sed 's|models/\(.*\)\.dil|\1|')
if [ "$QUICK" = 1 ]; then
    models="models/kepler.dil models/node_euler.dil"
    diags=$(echo "$diags" | head -n 10)
    regress=
    units=$BUILD/tests/check_parser
    model_tests=kepler
fi

for m in $models; do
    b=$(basename "$m" .dil)
    job 0 "$D" "$m" -o "$T/$b.c"
    job 0 "$D" "$m" -o "$T/$b-p.c" --print-derivatives --stats --dot "$T/$b.dot" --dump-ast \
        --dump=sema --dump=derive --dump=schedule
done
for f in $diags; do
    job 1 "$D" --check "$f"
done
for f in $regress; do
    b=$(basename "$f")
    job 01 "$D" "$f" -o "$T/r-$b.c" --print-derivatives --stats --dot "$T/r-$b.dot"
done
for u in $units; do
    [ -x "$u" ] || continue
    case "$u" in
        */check_rat) job 0 CK_RUN_CASE=decimal "$u"; job 0 CK_RUN_CASE=double "$u" ;;
        *) job 0 "$u" ;;
    esac
done
for m in $model_tests; do
    [ -x "$BUILD/tests/model_$m" ] || { echo "valgrind.sh: $BUILD/tests/model_$m not built"; exit 1; }
    job 0 "$BUILD/tests/model_$m"
done

# The tests run in valgrind's process (no fork), quietly; dilc ignores
# these variables.  Each job line is "WANT LOG CMD...": word splitting is
# fine, the paths of this repository hold no spaces.
export CK_FORK=no CK_VERBOSITY=silent
failed=$(xargs -P "$JOBS" -L 1 sh "$0" --job <"$jobs" | tee "$T/out" | grep -c '^valgrind.sh: exit')
cat "$T/out"
echo "valgrind.sh: $n runs under valgrind, $failed failed"
[ "$failed" -eq 0 ]
