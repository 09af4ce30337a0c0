#!/bin/sh
# install.sh - `make install` into a temporary DESTDIR with a non-default
# PREFIX, then, using only what was installed: compile a model with the
# installed dilc and the Kepler example with `pkg-config --cflags --libs
# dil` (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR into DESTDIR), run it
# against the shared library and again linked statically, check the
# soname, the exported symbols, the man pages, the installed Python
# package, and that `make uninstall` leaves no file behind.
# Skipped for sanitizer builds (their libdil.so needs the sanitizer runtime).
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
if nm -D --undefined-only "$BUILD/libdil.so" 2>/dev/null | grep -q '__asan_\|__ubsan_'; then
    echo "install.sh: skipped: $BUILD is a sanitizer build"
    exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
no() { echo "install.sh: $*"; fail=1; }
PREFIX=/opt/dil-test
ROOT=$T/root
P=$ROOT$PREFIX
# A make of its own (not a sub-make of make check's jobserver).
MK="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory BUILD=$BUILD PREFIX=$PREFIX DESTDIR=$ROOT"
$MK install >"$T/log" 2>&1 || { no "make install failed:"; sed 's/^/    /' "$T/log" | tail -20; exit 1; }

VERSION=$("$P/bin/dilc" --version | sed -n 's/^dilc //p')
# the soname's number: DIL_ABI_VERSION of the installed header
ABI=$(sed -n 's/^#define DIL_ABI_VERSION \([0-9]*\).*/\1/p' "$P/include/dil/dil.h")
[ -n "$ABI" ] || no "no DIL_ABI_VERSION in the installed dil.h"
for f in bin/dilc lib/libdil.a "lib/libdil.so.$VERSION" "lib/libdil.so.$ABI" lib/libdil.so \
         include/dil/dil.h include/dil/dil_model.h lib/pkgconfig/dil.pc \
         share/man/man1/dilc.1 share/man/man3/dil.3 share/doc/dil/README.md \
         share/doc/dil/python.md share/doc/dil/solvers.md; do
    [ -e "$P/$f" ] || no "not installed: $PREFIX/$f"
done
[ -L "$P/lib/libdil.so" ] && [ -L "$P/lib/libdil.so.$ABI" ] || no "libdil.so links are not symlinks"
readelf -d "$P/lib/libdil.so.$VERSION" | grep -q "SONAME.*\\[libdil\\.so\\.$ABI\\]" ||
    no "libdil.so has no soname libdil.so.$ABI"
# Only the public API is exported.
exported=$(nm -D --defined-only "$P/lib/libdil.so.$VERSION" | awk '{print $3}' | grep -v '^dil_' | tr '\n' ' ')
[ -z "$exported" ] || no "libdil.so exports non-API symbols: $exported"
nm -D --defined-only "$P/lib/libdil.so.$VERSION" | grep -q ' dil_solve$' || no "libdil.so does not export dil_solve"
for m in share/man/man1/dilc.1 share/man/man3/dil.3; do
    w=$(groff -man -ww -z "$P/$m" 2>&1)
    [ -z "$w" ] || no "$m: groff warnings: $w"
    grep -q "^\.TH .*\"dil $VERSION\"" "$P/$m" || no "$m does not say dil $VERSION"
done

# pkg-config, with the DESTDIR as sysroot.
export PKG_CONFIG_PATH="$P/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$ROOT"
[ "$(pkg-config --modversion dil)" = "$VERSION" ] || no "dil.pc version is not $VERSION"
[ "$(pkg-config --variable=dilc dil)" = "$P/bin/dilc" ] || no "dil.pc names no dilc"
CFLAGS_DIL=$(pkg-config --cflags dil) && LIBS_DIL=$(pkg-config --libs dil) || no "pkg-config dil failed"
case "$CFLAGS_DIL $LIBS_DIL" in
    *"$P/include/dil"*"$P/lib"*-ldil*) ;;
    *) no "pkg-config gives '$CFLAGS_DIL $LIBS_DIL'" ;;
esac

# The Kepler example, built away from the source tree with the installed tools.
W=$T/work
mkdir -p "$W"
cp examples/kepler.c "$W/main.c"
cp models/kepler.dil "$W/kepler.dil"
(cd "$W" && "$P/bin/dilc" kepler.dil -o kepler.c) || no "installed dilc failed"
(cd "$W" && cc -std=c99 -Wall -Wextra -Werror $CFLAGS_DIL \
     main.c kepler.c $LIBS_DIL -o kepler) ||
    no "cannot build the example with pkg-config"
readelf -d "$W/kepler" 2>/dev/null | grep -q "NEEDED.*\\[libdil\\.so\\.$ABI\\]" || no "example is not linked with libdil.so.$ABI"
LD_LIBRARY_PATH="$P/lib" "$W/kepler" >"$W/out.shared" 2>&1 || no "example (shared) failed"
grep -q '^# learned e = 0.69999' "$W/out.shared" || no "example (shared) did not learn e = 0.7"
(cd "$W" && cc -std=c99 $CFLAGS_DIL main.c kepler.c "$P/lib/libdil.a" -lm -o kepler_static) ||
    no "cannot link the example with libdil.a"
"$W/kepler_static" >"$W/out.static" 2>&1 || no "example (static) failed"
cmp -s "$W/out.shared" "$W/out.static" || no "shared and static runs differ"

# The installed Python package: it records the final paths in
# _installed.py; with DESTDIR they are overridden from the environment.
PYDIR=$(find "$P/lib" -path '*/dist-packages/dil' -type d | head -1)
if [ -z "$PYDIR" ]; then
    no "the Python package was not installed"
else
    grep -q "DILC = \"$PREFIX/bin/dilc\"" "$PYDIR/_installed.py" || no "_installed.py does not name $PREFIX/bin/dilc"
    if "$PYTHON" -c 'import numpy' 2>/dev/null; then
        out=$(cd "$W" && PYTHONPATH=$(dirname "$PYDIR") DIL_DILC="$P/bin/dilc" \
              DIL_INCLUDEDIR="$P/include/dil" DIL_LIBDIR="$P/lib" DIL_CACHE_DIR="$W/cache" \
              "$PYTHON" -c 'import dil; m = dil.compile("kepler.dil"); print("%.6f" % m.solve([1.0])[0], dil.__file__)' 2>&1)
        case "$out" in
            "1.498701 $PYDIR/__init__.py") ;;
            *) no "installed Python package: $out" ;;
        esac
    fi
fi

$MK uninstall >"$T/log" 2>&1 || { no "make uninstall failed:"; tail -5 "$T/log"; }
left=$(find "$ROOT" ! -type d | sed "s|^$ROOT||")
[ -z "$left" ] || no "left after uninstall: $left"
[ $fail -eq 0 ] && echo "install.sh: install, pkg-config build, shared and static runs, Python package, uninstall: ok"
exit $fail
