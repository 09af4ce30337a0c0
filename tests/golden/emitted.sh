#!/bin/sh
# emitted.sh - the emitted C of every model is warning-free C99 under gcc
# and clang with -Wall -Wextra -Wpedantic, and its header is usable from
# C++ (extern "C").  Compilers that are not installed are skipped, loudly.
set -u
status=0
hdr=$(mktemp --suffix=.cc)
trap 'rm -f "$hdr"' EXIT
for cc in gcc clang; do
    if ! command -v $cc >/dev/null 2>&1; then
        echo "emitted.sh: $cc not installed, skipped"
        continue
    fi
    for c in generated/*.c; do
        $cc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror \
            -Iruntime -Igenerated -c "$c" -o /dev/null || { echo "emitted.sh: $cc rejects $c"; status=1; }
    done
done
if command -v g++ >/dev/null 2>&1; then
    for h in generated/*.h; do
        printf '#include "%s"\nint main() { return %s_model.ny > 0 ? 0 : 1; }\n' \
            "$(basename "$h")" "$(basename "$h" .h)" > "$hdr"
        g++ -Wall -Wextra -Wpedantic -Werror -Iruntime -Igenerated -fsyntax-only "$hdr" ||
            { echo "emitted.sh: $h is not usable from C++"; status=1; }
    done
fi
exit $status
