#!/bin/sh
# tsan.sh - `make tsan`: the batch calls under ThreadSanitizer.
#
# libgomp (gcc's OpenMP) is not built with TSan, so its barriers are
# invisible to it and every batch shows "races" between the thread that
# sets up a parallel region and the workers (43 false reports with gcc,
# measured).  LLVM's libomp with its Archer tool (libarcher.so) tells TSan
# about OpenMP's synchronisation, so this script builds with clang and
# -fopenmp (libomp), in $BUILD/tsan, and runs check_runtime's "work" case
# (the batch tests: 1, 2, 4 threads and all cores; failures; batch against
# single calls) and node_vdp's "implicit" case (batched sums and training
# steps) with CK_FORK=no so that the threads are TSan's to see.
# First a canary, a loop with a real race, must be reported: that proves
# TSan and Archer are really on.  Skipped, loudly, without clang, libomp
# or Archer.
set -u
BUILD=${BUILD:-build}
T=$BUILD/tsan
ARCHER=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | tail -1)
if ! command -v clang >/dev/null 2>&1 || [ -z "$ARCHER" ]; then
    echo "tsan.sh: clang or LLVM's libarcher.so not installed, skipped"
    exit 0
fi
mkdir -p "$T"
export OMP_TOOL_LIBRARIES="$ARCHER"
export TSAN_OPTIONS="ignore_noninstrumented_modules=1 exitcode=66"
printf '#include <stdio.h>\nint main(void)\n{\n    int s = 0, i;\n#pragma omp parallel for num_threads(2)\n    for (i = 0; i < 100000; i++)\n        s += i;\n    printf("%%d\\n", s);\n    return 0;\n}\n' > "$T/canary.c"
clang -fopenmp -fsanitize=thread -g "$T/canary.c" -o "$T/canary" || exit 1
if "$T/canary" >/dev/null 2>&1; then
    echo "tsan.sh: the racy canary was not reported: TSan or Archer is not working"
    exit 1
fi
make --no-print-directory CC=clang BUILD="$T" OPT="-O1 -g -gdwarf-4" SAN="-fsanitize=thread" \
    OPENMP=-fopenmp "$T/tests/check_runtime" "$T/tests/model_node_vdp" >/dev/null || exit 1
# check_runtime's batch cases, and node_vdp's batched sums and training
# steps (model_test.c, case implicit: batch_sum and solve_step run on
# 1 and 2 threads)
if CK_FORK=no CK_RUN_CASE=work "$T/tests/check_runtime" &&
    CK_FORK=no CK_RUN_CASE=implicit "$T/tests/model_node_vdp"; then
    echo "tsan.sh: batch tests clean under ThreadSanitizer (clang, libomp, Archer)"
else
    echo "tsan.sh: ThreadSanitizer or a test failed"
    exit 1
fi
