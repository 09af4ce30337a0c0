"""dil: differentiable implicit layers from Python.

    import dil
    m = dil.compile("models/kepler.dil")     # dilc + cc, cached
    y = m.solve(x=[1.0])                     # theta defaults to m.theta_init
    loss, dl_dx, dl_dtheta = m.loss_gradient(y, x=[1.0], data=[1.6])

dil.compile runs dilc and the C compiler once per model content and dil
version (the cache is $DIL_CACHE_DIR, else ~/.cache/dil) and loads the
result with ctypes against libdil.so; the Model it returns has the
model's sizes and symbol layout and the runtime's solve, backward and
loss_gradient on NumPy arrays, batched over a leading dimension.  Failure
statuses raise DilError subclasses.  dil.torch.ImplicitLayer makes a model
a PyTorch module.  See docs/python.md.
"""

from ._errors import (STATUS_NAMES, BadArgError, CGBreakdownError,
                      CGMaxIterError, DilCompileError, DilError,
                      DilMemoryError, DilVersionError, Info, LineSearchError,
                      MaxIterError, NotFiniteError, NotStationaryError,
                      SingularError)
from ._lib import ABI_VERSION
from ._model import Model, Symbol, load
from . import _build

__version__ = "0.3.0"

__all__ = [
    "compile", "load", "toolchain", "Model", "Symbol", "Info", "DilError",
    "DilCompileError", "DilVersionError", "MaxIterError", "NotFiniteError",
    "CGBreakdownError", "CGMaxIterError", "BadArgError", "NotStationaryError",
    "SingularError", "LineSearchError", "DilMemoryError", "STATUS_NAMES",
    "ABI_VERSION", "__version__",
]


def compile(path, *, cache_dir=None, nthreads=1, verbose=False, **options):
    """Compiles the model file at `path` (or takes it from the cache) and
    returns a Model.  Keyword options (solver="newton", tol=1e-10,
    backward="cg", cg_tol, cg_eps, max_iter, ...: the dil_options members)
    become the defaults of every call on the model; each call may override
    them.  nthreads is passed to the batch API (0: every core).  Raises
    DilCompileError with dilc's diagnostics for a bad model."""
    so, _, _ = _build.build(str(path), cache=cache_dir, verbose=verbose)
    return Model(so, str(path), options=options, nthreads=nthreads)


def toolchain():
    """Where the package found dilc, dil.h and libdil.so."""
    return _build.toolchain()
