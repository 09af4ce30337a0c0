#!/bin/sh
# sanitized.sh - under `make sanitize`, proves the sanitizers are really on.
#
# When $BUILD/dilc is built with AddressSanitizer (make sanitize), every
# object of the compiler, of the runtime and of the emitted code of every
# model ($BUILD/gen/*.o, compiled from generated/) must call into both
# ASan (__asan_*) and UBSan (__ubsan_handle_*): a flag lost from one of
# the compile rules would otherwise leave that code unchecked while the
# suite still passes.  In any other build it checks nothing.
set -u
BUILD=${BUILD:-build}
nm "$BUILD/dilc" 2>/dev/null | grep -q __asan_init || exit 0
status=0 n=0
for o in "$BUILD"/compiler/*.o "$BUILD"/runtime/*.o "$BUILD"/gen/*.o; do
    [ -f "$o" ] || continue
    n=$((n + 1))
    syms=$(nm "$o")
    wants="__asan_ __ubsan_handle_"
    # Objects with nothing UBSan can check: a table of strings
    # (vmath_text.o) and functions that return constants (version.o).
    case $o in */compiler/vmath_text.o|*/runtime/version.o) wants=__asan_ ;; esac
    for want in $wants; do
        case "$syms" in
            *"$want"*) ;;
            *) echo "sanitized.sh: $o has no $want instrumentation"; status=1 ;;
        esac
    done
done
for d in compiler runtime gen; do
    ls "$BUILD/$d"/*.o >/dev/null 2>&1 || { echo "sanitized.sh: no objects in $BUILD/$d"; status=1; }
done
[ "$status" -eq 0 ] && echo "sanitized.sh: $n objects carry ASan and UBSan checks"
exit $status
