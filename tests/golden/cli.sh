#!/bin/sh
# cli.sh - the dilc command line of SPEC section 3: options, outputs and
# exit statuses (0 success, 1 errors in the model, 2 bad usage or I/O).
set -u
BUILD=${BUILD:-build}
D=$BUILD/dilc
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
expect() {  # expect STATUS DESCRIPTION -- command...
    want=$1 what=$2
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "cli.sh: $what: exit $got, expected $want"
        sed 's/^/    /' "$T/err" | head -5
        fail=1
    fi
}
expect 0 "--help" -- $D --help
grep -q '^usage: dilc' "$T/out" || { echo "cli.sh: --help prints no usage"; fail=1; }
expect 0 "--version" -- $D --version
grep -q '^dilc [0-9]' "$T/out" || { echo "cli.sh: --version prints no version"; fail=1; }
expect 2 "no input" -- $D
expect 2 "unknown option" -- $D --frobnicate models/kepler.dil
expect 2 "-o without argument" -- $D models/kepler.dil -o
expect 2 "bad --prefix" -- $D models/kepler.dil --prefix 9x -o "$T/k.c"
expect 2 "missing file" -- $D "$T/does-not-exist.dil"
expect 2 "unwritable output" -- $D models/kepler.dil -o /nonexistent-dir/k.c

expect 0 "compile" -- $D models/kepler.dil -o "$T/k.c"
[ -f "$T/k.c" ] && [ -f "$T/k.h" ] || { echo "cli.sh: -o did not write k.c and k.h"; fail=1; }
grep -q '#include "k.h"' "$T/k.c" || { echo "cli.sh: k.c does not include k.h"; fail=1; }
expect 0 "--prefix" -- $D models/kepler.dil --prefix kep -o "$T/p.c"
grep -q 'const dil_model kep_model' "$T/p.c" || { echo "cli.sh: --prefix ignored"; fail=1; }
expect 0 "--check" -- $D --check models/kepler.dil -o "$T/none.c"
[ ! -e "$T/none.c" ] || { echo "cli.sh: --check wrote output"; fail=1; }
expect 0 "--print-derivatives" -- $D models/kepler.dil --print-derivatives -o "$T/k2.c"
grep -q 'score_hvp_yy' "$T/out" || { echo "cli.sh: --print-derivatives printed no kernels"; fail=1; }
expect 0 "--dump" -- $D models/kepler.dil --dump=sema --dump=schedule -o "$T/k3.c"
grep -q '^score:' "$T/out" || { echo "cli.sh: --dump=sema printed no score"; fail=1; }
grep -q '^# score_hvp_yy: .* work [0-9]' "$T/out" || { echo "cli.sh: --dump=schedule printed no kernel"; fail=1; }
expect 2 "unknown --dump pass" -- $D models/kepler.dil --dump=parse -o "$T/k4.c"
expect 0 "--stats" -- $D models/node_euler.dil --stats -o "$T/n.c"
grep -q 'score_vjp_thetay' "$T/out" || { echo "cli.sh: --stats printed no kernels"; fail=1; }
expect 0 "--stats on loops" -- $D models/mpc_linear.dil --stats -o "$T/m.c"
grep -q '^[0-9]*:1: for over 10 steps: rolled$' "$T/out" || { echo "cli.sh: --stats did not report the rolled for"; fail=1; }
grep -q 'for (long t = 0; t < 10; t++) {' "$T/m.c" || { echo "cli.sh: mpc_linear's for is not a C loop"; fail=1; }
expect 0 "--unroll" -- $D models/mpc_linear.dil --unroll --stats -o "$T/mu.c"
grep -q '^[0-9]*:1: for over 10 steps: unrolled: --unroll$' "$T/out" || { echo "cli.sh: --stats did not report --unroll"; fail=1; }
grep -q 'for (long t' "$T/mu.c" && { echo "cli.sh: --unroll emitted a loop over t"; fail=1; }
expect 0 "--dot" -- $D models/kepler.dil --dot "$T/k.dot" -o "$T/k3.c"
grep -q '^digraph' "$T/k.dot" || { echo "cli.sh: --dot wrote no graph"; fail=1; }

# A model with errors: exit 1, a located diagnostic, and a good earlier
# output left untouched (nothing lost).
printf 'model bad\nvar y\nscore y + nope\n' > "$T/bad.dil"
cp "$T/k.c" "$T/bad.c"
expect 1 "model error" -- $D "$T/bad.dil" -o "$T/bad.c"
grep -q 'bad.dil:3:11: error:' "$T/err" || { echo "cli.sh: no file:line:col diagnostic"; cat "$T/err"; fail=1; }
cmp -s "$T/k.c" "$T/bad.c" || { echo "cli.sh: a failed compile clobbered its output"; fail=1; }
cp "$T/k.dot" "$T/bad.dot"
expect 1 "model error with --dot" -- $D "$T/bad.dil" -o "$T/bad.c" --dot "$T/bad.dot"
cmp -s "$T/k.dot" "$T/bad.dot" || { echo "cli.sh: a failed compile clobbered its --dot file"; fail=1; }
ls "$T"/*.tmp >/dev/null 2>&1 && { echo "cli.sh: temporary files left behind"; fail=1; }

# A write that fails (here: beyond a 1 KiB file size limit, SIGXFSZ
# ignored) is an I/O error: exit 2 with a message, and nothing written.
(trap '' XFSZ; ulimit -f 1; exec $D models/node_euler.dil -o "$T/big.c") 2>"$T/err"
got=$?
[ "$got" -eq 2 ] && grep -q "error writing" "$T/err" ||
    { echo "cli.sh: failed write: exit $got, expected 2 with a message"; cat "$T/err"; fail=1; }
[ ! -e "$T/big.c" ] && ! ls "$T"/*.tmp >/dev/null 2>&1 ||
    { echo "cli.sh: a failed write left files behind"; fail=1; }
[ "$fail" -eq 0 ] && echo "cli.sh: all command-line checks passed"
exit $fail
