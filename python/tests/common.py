"""Shared helpers of the Python tests: model paths and the C reference.

`model(name)` compiles python/tests/models/NAME.dil or models/NAME.dil
(once per test run).  `c_reference(model, ...)` builds and runs
python/tests/cref.c against the same cached C and the same libdil, so that
the package's results can be compared with plain C calls bit for bit.
"""

import os
import subprocess

import numpy as np

import dil
from dil import _build

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
_models = {}


def model_path(name):
    own = os.path.join(HERE, "models", name + ".dil")
    return own if os.path.isfile(own) else os.path.join(ROOT, "models", name + ".dil")


def model(name, **kw):
    key = (name, tuple(sorted(kw.items())))
    if key not in _models:
        _models[key] = dil.compile(model_path(name), **kw)
    return _models[key]


def _hex(a):
    return " ".join(float(v).hex() for v in np.ravel(a))


def c_reference(m, x, theta, y0, dl_dy, data, tol=None):
    """Runs cref.c on one instance: returns dict of arrays y, dx, dtheta
    (dil_backward) and loss, ldx, ldtheta (dil_loss_gradient)."""
    tc = _build.toolchain()
    d = os.path.dirname(m.library)
    exe = os.path.join(d, "cref")
    if not os.path.isfile(exe):
        subprocess.run(
            ["cc", "-std=c99", "-O2", "-I" + d, "-I" + tc.includedir,
             os.path.join(HERE, "cref.c"), os.path.join(d, "model.c"),
             "-o", exe, "-L" + tc.libdir, "-ldil", "-lm",
             "-Wl,-rpath," + os.path.realpath(tc.libdir)], check=True)
    text = "%s\n%s\n%s\n%s\n%s\n%s\n" % (
        repr(tol if tol is not None else -1.0), _hex(x), _hex(theta), _hex(y0),
        _hex(dl_dy), _hex(data))
    p = subprocess.run([exe], input=text, capture_output=True, text=True,
                       check=True)
    out = {}
    for line in p.stdout.splitlines():
        key, *vals = line.split()
        out[key] = np.array([float.fromhex(v) for v in vals])
    return out
