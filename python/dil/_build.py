"""Turning a .dil file into a loadable shared object, once.

`build(path)` runs dilc on the model and the C compiler on dilc's output
plus _glue.c, linked against libdil.so, and keeps the result in a cache
directory keyed by everything the object depends on: the model's bytes,
dilc's version and binary, the dil headers, the glue, the compiler command
and where libdil lives.  A second call with the same model is a lookup.
Builds go to a private temporary directory that is renamed into place, so
several processes (for example the ranks of a torch.distributed job) may
compile the same model at once.

Where dil lives is found in this order:
  1. the environment: DIL_DILC (the compiler), DIL_INCLUDEDIR (dil.h),
     DIL_LIBDIR (libdil.so);
  2. a source tree: this file at <root>/python/dil/ with <root>/runtime/dil.h
     and a built <root>/$DIL_BUILD_DIR (default build)/dilc and libdil.so;
  3. the directories `make install` recorded in _installed.py;
  4. pkg-config's dil.pc and a dilc on PATH.
The C compiler is $CC (default cc); $DIL_CFLAGS adds flags (default -O2).
"""

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile

from ._errors import DilCompileError

_HERE = os.path.dirname(os.path.abspath(__file__))
_PREFIX = "dilm"  # C prefix of every model: the descriptor is dilm_model


class Toolchain:
    def __init__(self, dilc, includedir, libdir, origin):
        self.dilc, self.includedir, self.libdir = dilc, includedir, libdir
        self.origin = origin  # how they were found, for error messages

    def __repr__(self):
        return "Toolchain(dilc=%r, includedir=%r, libdir=%r, from %s)" % (
            self.dilc, self.includedir, self.libdir, self.origin)


def _source_tree():
    root = os.path.dirname(os.path.dirname(_HERE))
    build = os.path.join(root, os.environ.get("DIL_BUILD_DIR", "build"))
    if (os.path.isfile(os.path.join(root, "runtime", "dil.h"))
            and os.path.isfile(os.path.join(build, "dilc"))):
        return Toolchain(os.path.join(build, "dilc"),
                         os.path.join(root, "runtime"), build,
                         "the source tree " + root)
    return None


def _installed():
    try:
        from . import _installed as inst
    except ImportError:
        return None
    return Toolchain(inst.DILC, inst.INCLUDEDIR, inst.LIBDIR,
                     "the installation (_installed.py)")


def _pkg_config():
    try:
        def var(name):
            return subprocess.run(
                ["pkg-config", "--variable=" + name, "dil"], check=True,
                capture_output=True, text=True).stdout.strip()
        include, libdir, dilc = var("includedir"), var("libdir"), var("dilc")
    except (OSError, subprocess.CalledProcessError):
        return None
    dilc = dilc if dilc and os.path.isfile(dilc) else shutil.which("dilc")
    return Toolchain(dilc, os.path.join(include, "dil"), libdir, "pkg-config")


def toolchain():
    """Where dilc, dil.h and libdil.so are (see the module comment)."""
    found = _source_tree() or _installed() or _pkg_config()
    env = {k: os.environ.get(k) for k in ("DIL_DILC", "DIL_INCLUDEDIR",
                                          "DIL_LIBDIR")}
    if found is None and not all(env.values()):
        raise DilCompileError(
            "cannot find dil: build it (make) in the source tree, install it "
            "(make install), or set DIL_DILC, DIL_INCLUDEDIR and DIL_LIBDIR")
    tc = found or Toolchain(None, None, None, "")
    if any(env.values()):
        tc = Toolchain(env["DIL_DILC"] or tc.dilc,
                       env["DIL_INCLUDEDIR"] or tc.includedir,
                       env["DIL_LIBDIR"] or tc.libdir,
                       "the environment" + (" and " + tc.origin if found else ""))
    for what, path in (("dilc", tc.dilc),
                       ("dil.h", tc.includedir and os.path.join(tc.includedir, "dil.h")),
                       ("libdil.so", tc.libdir and os.path.join(tc.libdir, "libdil.so"))):
        if not path or not os.path.exists(path):
            raise DilCompileError("%s not found (looked in %s, via %s)"
                                  % (what, path, tc.origin))
    return tc


def _digest_file(h, path):
    with open(path, "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())


def _run(cmd, what):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise DilCompileError("%s: cannot run %s: %s" % (what, cmd[0], e)) from None
    if p.returncode != 0:
        raise DilCompileError("%s failed (exit %d): %s" % (
            what, p.returncode, " ".join(shlex.quote(c) for c in cmd)),
            p.stderr, p.returncode)
    return p.stdout


def cache_dir():
    d = os.environ.get("DIL_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dil")


def build(path, cache=None, verbose=False):
    """Shared object of the model at `path`, from the cache or built now.
    Returns (so_path, toolchain, dilc_version)."""
    tc = toolchain()
    with open(path, "rb") as f:
        source = f.read()
    dilc_version = _run([tc.dilc, "--version"], "dilc --version").strip()
    cc = shlex.split(os.environ.get("CC", "cc"))
    cflags = shlex.split(os.environ.get("DIL_CFLAGS", "-O2"))
    glue = os.path.join(_HERE, "_glue.c")
    h = hashlib.sha256(b"dil-python-cache 1\0")
    for part in (source, dilc_version.encode(), " ".join(cc + cflags).encode(),
                 os.path.realpath(tc.libdir).encode()):
        h.update(hashlib.sha256(part).digest())
    for f in (tc.dilc, glue, os.path.join(tc.includedir, "dil.h"),
              os.path.join(tc.includedir, "dil_model.h")):
        _digest_file(h, f)
    cache = cache or cache_dir()
    base = os.path.splitext(os.path.basename(path))[0]
    final = os.path.join(cache, "%s-%s" % (base, h.hexdigest()[:24]))
    so = os.path.join(final, "model.so")
    if os.path.isfile(so):
        return so, tc, dilc_version
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".build-", dir=cache)
    try:
        _compile(path, source, tmp, tc, cc, cflags, glue, verbose)
        try:
            os.rename(tmp, final)
        except OSError:
            if not os.path.isfile(so):  # not another process's finished build
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return so, tc, dilc_version


def _compile(path, source, out, tc, cc, cflags, glue, verbose):
    c_file = os.path.join(out, "model.c")
    steps = [
        ([tc.dilc, path, "--prefix", _PREFIX, "-o", c_file], "dilc"),
        (cc + ["-std=c99"] + cflags + [
            "-fPIC", "-shared", "-fvisibility=hidden", "-I" + out,
            "-I" + tc.includedir, '-DDILPY_HEADER="model.h"',
            "-DDILPY_DESC=%s_model" % _PREFIX, c_file, glue,
            "-o", os.path.join(out, "model.so"), "-L" + tc.libdir, "-ldil",
            "-lm", "-Wl,-rpath," + os.path.realpath(tc.libdir)], "cc"),
    ]
    with open(os.path.join(out, "build.sh"), "w") as log:
        log.write("# how this model was built (dil Python package)\n")
        for cmd, what in steps:
            line = " ".join(shlex.quote(c) for c in cmd)
            log.write(line + "\n")
            if verbose:
                print(line)
            _run(cmd, what)
    with open(os.path.join(out, "model.dil"), "wb") as f:
        f.write(source)  # the bytes the cache key was computed from
