#!/bin/sh
# valgrind_quick.sh - a quick subset of tests/valgrind.sh for `make check`:
# dilc on two models (plain compile and every printing option) and on ten
# malformed models, plus one unit test and one model test, all under
# valgrind's memcheck (no memory error, no definite leak).  About ten
# seconds; the whole run is `make valgrind`.
#
# Skipped, loudly, when valgrind is not installed and when BUILD holds a
# sanitizer build (`make sanitize`: ASan and valgrind do not mix).
set -u
BUILD=${BUILD:-build}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind_quick.sh: valgrind not installed, skipped"
    exit 0
fi
if nm "$BUILD/dilc" 2>/dev/null | grep -q __asan_init; then
    echo "valgrind_quick.sh: $BUILD/dilc is built with ASan, skipped"
    exit 0
fi
VALGRIND_QUICK=1 BUILD=$BUILD sh tests/valgrind.sh
