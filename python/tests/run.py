"""Runs the Python package's tests (unittest) and ends with one summary line.

    /usr/bin/python3 python/tests/run.py [-v] [pattern]

Used by tests/golden/python.sh (make check) and make check-python.  The
tests compile their models into a fresh temporary cache (DIL_CACHE_DIR)
unless one is given, so that the build path runs every time.  Every
skipped test is listed with its reason (for example python3-torch absent).
"""

import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    verbose = "-v" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != "-v"]
    pattern = args[0] if args else "test_*.py"
    sys.path.insert(0, os.path.dirname(HERE))  # python/: the dil package
    sys.path.insert(0, HERE)
    own_cache = "DIL_CACHE_DIR" not in os.environ
    if own_cache:
        os.environ["DIL_CACHE_DIR"] = tempfile.mkdtemp(prefix="dil-pytest-")
    start = time.time()
    try:
        suite = unittest.defaultTestLoader.discover(HERE, pattern=pattern,
                                                    top_level_dir=HERE)
        result = unittest.TextTestRunner(verbosity=2 if verbose else 1,
                                         stream=sys.stdout).run(suite)
    finally:
        if own_cache:
            shutil.rmtree(os.environ["DIL_CACHE_DIR"], ignore_errors=True)
    failed = len(result.failures) + len(result.errors) + len(
        result.unexpectedSuccesses)
    skipped = len(result.skipped)
    reasons = sorted({reason for _, reason in result.skipped})
    for r in reasons:
        print("skipped: %s" % r)
    print("python tests: %d passed, %d failed, %d skipped (%.1f s)" % (
        result.testsRun - failed - skipped, failed, skipped,
        time.time() - start))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
