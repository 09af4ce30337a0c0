#!/bin/sh
# python.sh - the Python package's tests (python/tests/run.py, unittest):
# dil.compile and the Model API against C, dil.torch.ImplicitLayer, and
# two-process DistributedDataParallel.  Runs with $PYTHON (default
# /usr/bin/python3, Debian's, where python3-numpy and python3-torch live);
# skipped with a message when it or NumPy is missing (sh scripts/deps.sh
# installs them) and for sanitizer builds (an instrumented libdil.so cannot
# be loaded into an uninstrumented Python).  The torch tests skip
# themselves, with a message, when python3-torch is missing.
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "python.sh: skipped: no $PYTHON (set PYTHON=...)"
    exit 0
fi
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
    echo "python.sh: skipped: $PYTHON has no numpy (apt-get install python3-numpy, or sh scripts/deps.sh as root)"
    exit 0
fi
if nm -D --undefined-only "$BUILD/libdil.so" 2>/dev/null | grep -q '__asan_\|__ubsan_'; then
    echo "python.sh: skipped: $BUILD is a sanitizer build"
    exit 0
fi
DIL_BUILD_DIR=$BUILD OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec "$PYTHON" python/tests/run.py
