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
ls -A "$T" | grep -q dilc- && { echo "cli.sh: temporary files left behind"; fail=1; }

# A write that fails (here: beyond a 1 KiB file size limit, SIGXFSZ
# ignored) is an I/O error: exit 2 with a message, and nothing written.
(trap '' XFSZ; ulimit -f 1; exec $D models/node_euler.dil -o "$T/big.c") 2>"$T/err"
got=$?
[ "$got" -eq 2 ] && grep -q "error writing" "$T/err" ||
    { echo "cli.sh: failed write: exit $got, expected 2 with a message"; cat "$T/err"; fail=1; }
[ ! -e "$T/big.c" ] && ! ls -A "$T" | grep -q dilc- ||
    { echo "cli.sh: a failed write left files behind"; fail=1; }

# ---- Reports never write C unless asked (issue 13): --print-derivatives
# and --stats without -o print to stdout and leave no MODEL.c beside the
# model (once they overwrote a hand-written kepler.c there).
mkdir "$T/rep" && cp models/kepler.dil "$T/rep/" && echo 'hand-written' >"$T/rep/kepler.c"
for opt in --print-derivatives --stats --dump-ast "--dot $T/rep/k.dot"; do
    expect 0 "$opt without -o" -- $D "$T/rep/kepler.dil" $opt
    [ -s "$T/out" ] || [ "$opt" != "${opt#--dot}" ] || { echo "cli.sh: $opt printed nothing"; fail=1; }
    grep -q '^const dil_model' "$T/out" && { echo "cli.sh: $opt printed C"; fail=1; }
    [ "$(cat "$T/rep/kepler.c")" = hand-written ] && [ ! -e "$T/rep/kepler.h" ] ||
        { echo "cli.sh: $opt without -o wrote kepler.c or kepler.h"; fail=1; }
done
# ... and the plain default still writes MODEL.c and MODEL.h.
cp models/kepler.dil "$T/rep/plain.dil"
expect 0 "default output" -- $D "$T/rep/plain.dil"
[ -f "$T/rep/plain.c" ] && [ -f "$T/rep/plain.h" ] || { echo "cli.sh: no default plain.c/.h"; fail=1; }

# ---- Standard streams: '-o -' is a self-contained C file on stdout (the
# header's text first, no #include of it) that compiles; '-' reads the
# model from stdin; reports and C cannot share stdout.
expect 0 "-o -" -- $D models/kepler.dil -o -
grep -q '^const dil_model kepler_model' "$T/out" && ! grep -q '#include "kepler' "$T/out" ||
    { echo "cli.sh: -o - did not write self-contained C"; fail=1; }
if command -v cc >/dev/null 2>&1; then
    cc -std=c99 -Wall -Wextra -Wpedantic -Werror -Iruntime -x c -c "$T/out" -o "$T/out.o" ||
        { echo "cli.sh: the C of -o - does not compile"; fail=1; }
fi
expect 0 "-o - --header" -- $D models/kepler.dil -o - --header "$T/kh.h"
grep -q '#include "kh.h"' "$T/out" && grep -q 'extern const dil_model kepler_model' "$T/kh.h" ||
    { echo "cli.sh: -o - --header FILE did not include and write FILE"; fail=1; }
expect 0 "model from stdin" -- sh -c "$D - -o '$T/stdin.c' < models/kepler.dil"
grep -q 'from <stdin>' "$T/stdin.c" && [ -f "$T/stdin.h" ] || { echo "cli.sh: - did not read stdin"; fail=1; }
expect 0 "stdin to stdout" -- sh -c "$D - < models/kepler.dil"
grep -q '^const dil_model kepler_model' "$T/out" || { echo "cli.sh: dilc - wrote no C to stdout"; fail=1; }
printf 'model bad\nvar y\nscore y + nope\n' | $D - --check 2>"$T/err" >/dev/null
grep -q '^<stdin>:3:11: error:' "$T/err" || { echo "cli.sh: stdin diagnostics not named <stdin>"; fail=1; }
expect 2 "-o - with --stats" -- $D models/kepler.dil -o - --stats
expect 2 "--header to stdout" -- $D models/kepler.dil -o "$T/x.c" --header -

# ---- Header names from any C extension; names that cannot be #included
# are refused (once -o 'q"x.c' wrote #include "q"x.h").
for ext in c cc cpp cxx C; do
    expect 0 "-o out.$ext" -- $D models/kepler.dil -o "$T/ext_$ext.$ext"
    [ -f "$T/ext_$ext.h" ] && grep -q "#include \"ext_$ext.h\"" "$T/ext_$ext.$ext" ||
        { echo "cli.sh: -o out.$ext did not give out.h"; fail=1; }
done
expect 0 "-o without extension" -- $D models/kepler.dil -o "$T/noext"
[ -f "$T/noext.h" ] || { echo "cli.sh: -o noext did not give noext.h"; fail=1; }
expect 2 "-o with a quote" -- $D models/kepler.dil -o "$T/q\"x.c"
ls "$T" | grep -q 'q"x' && { echo "cli.sh: -o 'q\"x.c' wrote something"; fail=1; }
expect 2 "--header with a backslash" -- $D models/kepler.dil -o "$T/bs.c" --header "$T/a\\b.h"

# ---- A source path with '*/' stays inside the comments of the C.
mkdir "$T/x*" && cp models/kepler.dil "$T/x*/k.dil"
expect 0 "source path with */" -- $D "$T/x*/k.dil" -o "$T/star.c"
if command -v cc >/dev/null 2>&1; then
    cc -std=c99 -Wall -Wextra -Wpedantic -Werror -Iruntime -I"$T" -c "$T/star.c" -o "$T/star.o" ||
        { echo "cli.sh: a source path with */ broke the C"; fail=1; }
fi

# ---- Reserved prefixes (the C would clash with libdil or C).
for p in dil dili DIL dil_x _x; do
    expect 2 "--prefix $p" -- $D models/kepler.dil --prefix $p -o "$T/r.c"
done
grep -q "reserved" "$T/err" || { echo "cli.sh: no reason for a reserved prefix"; fail=1; }
printf 'model dil\nvar y\nscore y^2\n' >"$T/dil.dil"
expect 0 "model dil with --prefix" -- $D "$T/dil.dil" --prefix ok -o "$T/okp.c"

# ---- -o writes through symbolic links: the link stays, its target gets
# the C; a link to a device (/dev/null) is written, never replaced.
echo old >"$T/real.c"
ln -s real.c "$T/link.c"
expect 0 "-o symlink" -- $D models/kepler.dil -o "$T/link.c"
[ -L "$T/link.c" ] && grep -q 'kepler_model' "$T/real.c" ||
    { echo "cli.sh: -o did not write through a symbolic link"; fail=1; }
ln -s /dev/null "$T/null.c"
expect 0 "-o link to /dev/null" -- $D models/kepler.dil -o "$T/null.c"
[ -L "$T/null.c" ] && [ -c /dev/null ] || { echo "cli.sh: -o replaced a link to a device"; fail=1; }
ln -s "$T/nowhere/dangling.c" "$T/dangling.c"
expect 2 "-o dangling link into a missing directory" -- $D models/kepler.dil -o "$T/dangling.c"
[ -L "$T/dangling.c" ] || { echo "cli.sh: a dangling link was replaced"; fail=1; }

# ---- All outputs or none: when one output cannot be written (here the
# header's name is a directory), the C file and the graph keep their old
# contents and no temporary is left.
echo old-c >"$T/all.c" && echo old-dot >"$T/all.dot" && mkdir "$T/all.h"
expect 2 "one output unwritable" -- $D models/kepler.dil -o "$T/all.c" --dot "$T/all.dot"
[ "$(cat "$T/all.c")" = old-c ] && [ "$(cat "$T/all.dot")" = old-dot ] ||
    { echo "cli.sh: outputs were replaced although one failed"; fail=1; }
ls -A "$T" | grep -q dilc- && { echo "cli.sh: temporaries left after a failed write"; fail=1; }

# ---- A rename failing half-way puts back what was already replaced: a
# preloaded rename() that fails for the header makes the C file's rename
# (done first) be undone from its second name.  Skipped for a sanitized
# dilc (the ASan runtime must be loaded first).
if command -v cc >/dev/null 2>&1 && ! ldd "$D" 2>/dev/null | grep -q libasan; then
    cat >"$T/failrename.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
int rename(const char *from, const char *to)
{
    size_t n = strlen(to);
    int (*real)(const char *, const char *);
    if (n > 2 && !strcmp(to + n - 2, ".h")) {
        errno = EIO;
        return -1;
    }
    *(void **)&real = dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}
EOF
    if cc -shared -fPIC -o "$T/failrename.so" "$T/failrename.c" -ldl 2>/dev/null; then
        echo old-c >"$T/rb.c" && echo old-h >"$T/rb.h"
        LD_PRELOAD="$T/failrename.so" $D models/kepler.dil -o "$T/rb.c" 2>"$T/err"
        rc=$?
        [ "$rc" -eq 2 ] && [ "$(cat "$T/rb.c")" = old-c ] && [ "$(cat "$T/rb.h")" = old-h ] ||
            { echo "cli.sh: a failed rename did not restore the C file (exit $rc)"; cat "$T/err"; fail=1; }
        ls -A "$T" | grep -q dilc- && { echo "cli.sh: files left after a failed rename"; fail=1; }
    fi
fi

# ---- Input size: checked before reading.  Sparse files of 65 MiB and
# 3 GiB (no disk used; once 2 GiB crashed in diag.c and 1 GiB hung) and
# /dev/zero (once read until memory ran out) are refused within seconds,
# each with "file is too large: more than  bytes" (the limit, 67108864,
# between "than" and "bytes"; diag_coverage.sh looks for this line).
truncate -s 65M "$T/big65.dil" && truncate -s 3G "$T/big3g.dil"
for f in "$T/big65.dil" "$T/big3g.dil" /dev/zero; do
    expect 1 "input $f" -- timeout -s KILL 20 $D --check "$f"
    grep -q ':1:1: error: file is too large: more than 67108864 bytes' "$T/err" ||
        { echo "cli.sh: $f: no 'file is too large'"; head -3 "$T/err"; fail=1; }
done

[ "$fail" -eq 0 ] && echo "cli.sh: all command-line checks passed"
exit $fail
