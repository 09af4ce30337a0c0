#!/bin/sh
# deps.sh - make sure the build packages are here.
#
# Checks for flex, bison, GNU MP and Check (with pkg-config).  As root it
# installs whatever is missing with apt-get; otherwise it prints the exact
# command to run and fails, so that `make` stops before a confusing error.
#
# `deps.sh python` (run by `make check`) does the same for what the Python
# tests need in Debian's /usr/bin/python3 (or $PYTHON): python3-numpy and
# python3-torch.  Without them those tests skip themselves, so as a
# non-root user this only prints the command and succeeds.
set -u
missing=""
if [ "${1:-}" = python ]; then
    PYTHON=${PYTHON:-/usr/bin/python3}
    command -v "$PYTHON" >/dev/null 2>&1 || missing="$missing python3"
    "$PYTHON" -c 'import numpy' >/dev/null 2>&1 || missing="$missing python3-numpy"
    "$PYTHON" -c 'import torch' >/dev/null 2>&1 || missing="$missing python3-torch"
    required=0
else
    command -v flex >/dev/null 2>&1 || missing="$missing flex"
    command -v bison >/dev/null 2>&1 || missing="$missing bison"
    command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
    [ -f /usr/include/gmp.h ] || [ -f /usr/include/x86_64-linux-gnu/gmp.h ] ||
        ls /usr/include/*/gmp.h >/dev/null 2>&1 || missing="$missing libgmp-dev"
    if ! pkg-config --exists check 2>/dev/null; then missing="$missing check"; fi
    required=1
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
        echo "deps: apt-get install$missing failed" >&2; exit 1; }
    exit 0
fi
if [ $required = 0 ]; then
    echo "deps: the Python tests will skip what needs:$missing" >&2
    echo "deps: to run them:  sudo apt-get install -y$missing" >&2
    exit 0
fi
echo "deps: missing build packages:$missing" >&2
echo "deps: run:  sudo apt-get install -y$missing" >&2
exit 1
