#!/bin/sh
# horizon_reference.sh - rolled long-horizon models against PyTorch
# autograd (tests/horizon/reference.py): an unseen nonlinear model at
# T = 40 (kernels, dil_solve and the IFT gradient against a Newton
# solution and the IFT written with autograd) and T = 300 (kernels), to
# 1e-9 for derivatives.  `make check-horizon` adds the solve at T = 300
# and the kernels at T = 1000.  Skipped, saying so, without $PYTHON,
# NumPy or torch, and for sanitizer builds (as python.sh).
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
if ! command -v "$PYTHON" >/dev/null 2>&1 ||
    ! "$PYTHON" -c 'import numpy, torch' 2>/dev/null; then
    echo "horizon_reference.sh: skipped: $PYTHON lacks numpy or torch (sh scripts/deps.sh python)"
    exit 0
fi
if nm -D --undefined-only "$BUILD/libdil.so" 2>/dev/null | grep -q '__asan_\|__ubsan_'; then
    echo "horizon_reference.sh: skipped: $BUILD is a sanitizer build"
    exit 0
fi
DIL_BUILD_DIR=$BUILD OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH=python \
    "$PYTHON" tests/horizon/reference.py ${HORIZON_REFERENCE:-40:solve 300} >"${TMPDIR:-/tmp}/horizon_reference.$$" 2>&1
st=$?
if [ $st -ne 0 ]; then
    cat "${TMPDIR:-/tmp}/horizon_reference.$$"
else
    tail -n 1 "${TMPDIR:-/tmp}/horizon_reference.$$" | sed 's/^reference.py/horizon_reference.sh/'
fi
rm -f "${TMPDIR:-/tmp}/horizon_reference.$$"
[ $st -eq 0 ] || [ $st -eq 77 ]
