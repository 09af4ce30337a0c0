"""ctypes mirrors of libdil's structs, checked against the C compiler's view.

The package calls libdil (runtime/dil.h) through ctypes.  Its copies of
dil_symbol, dil_model, dil_options and dil_info below list the members in
header order; before any call, `check_layout` compares every size and
offset with what _glue.c reports (compiled against the installed dil.h),
and `check_versions` compares the header's release and ABI numbers with the
library's dil_version() / dil_abi_version() and with the ABI this package
was written for.  Members appended to a struct by a later release are kept
as opaque padding, so the mirrors stay valid as the structs grow at the end.
"""

import ctypes
from ctypes import (POINTER, c_char_p, c_double, c_int, c_size_t, c_void_p)

from ._errors import DilVersionError

# The libdil ABI this package speaks (DIL_ABI_VERSION of runtime/dil.h).
ABI_VERSION = 1

_FN = c_void_p  # kernel pointers: never called from Python

SYMBOL_FIELDS = [
    ("name", c_char_p), ("role", c_int), ("rank", c_int),
    ("shape", c_int * 2), ("offset", c_int),
]
MODEL_FIELDS = [
    ("name", c_char_p), ("ny", c_int), ("nx", c_int), ("ntheta", c_int),
    ("ndata", c_int), ("nres", c_int), ("work_size", c_size_t),
    ("score", _FN), ("score_grad_y", _FN), ("score_hvp_yy", _FN),
    ("score_vjp_xy", _FN), ("score_vjp_thetay", _FN), ("loss", _FN),
    ("loss_grad", _FN), ("residual", _FN), ("residual_jvp_y", _FN),
    ("residual_vjp_y", _FN), ("residual_vjp_x", _FN),
    ("residual_vjp_theta", _FN), ("symbols", c_void_p), ("nsymbols", c_int),
    ("theta_init", POINTER(c_double)),
]
OPTIONS_FIELDS = [
    ("solver", c_int), ("tol", c_double), ("max_iter", c_int),
    ("backward", c_int), ("cg_tol", c_double), ("cg_max_iter", c_int),
    ("cg_eps", c_double), ("cg_x0", c_void_p), ("cg_solution", c_void_p),
    ("stationary_tol", c_double), ("lbfgs_memory", c_int),
    ("inner_max_iter", c_int), ("inner_tol", c_double),
    ("armijo_c1", c_double), ("wolfe_c2", c_double),
    ("max_backtracks", c_int),
]
INFO_FIELDS = [
    ("status", c_int), ("iterations", c_int), ("grad_norm", c_double),
    ("cg_iterations", c_int), ("cg_residual", c_double), ("score", c_double),
    ("residual_norm", c_double), ("cg_total", c_int), ("n_score", c_int),
    ("n_grad", c_int), ("n_hvp", c_int), ("n_jac", c_int),
]

# The order of _glue.c's layout[]: per struct its size, then the offsets of
# the members named here.
LAYOUT = [
    ("dil_symbol", SYMBOL_FIELDS, ["name", "role", "rank", "shape", "offset"]),
    ("dil_model", MODEL_FIELDS, ["name", "ny", "nx", "ntheta", "ndata", "nres",
                                 "work_size", "loss", "symbols", "nsymbols",
                                 "theta_init"]),
    ("dil_options", OPTIONS_FIELDS, [f for f, _ in OPTIONS_FIELDS]),
    ("dil_info", INFO_FIELDS, [f for f, _ in INFO_FIELDS]),
]

_structs_cache = {}


def _padded(name, fields, size):
    """A ctypes Structure with `fields`, padded at the end to `size` bytes."""
    base = type(name + "_base", (ctypes.Structure,), {"_fields_": fields})
    if ctypes.sizeof(base) > size:
        raise DilVersionError(
            "%s: this package mirrors %d bytes but dil.h declares %d; the "
            "package and the installed dil.h are from different releases"
            % (name, ctypes.sizeof(base), size))
    tail = size - ctypes.sizeof(base)
    if tail == 0:
        return base
    return type(name, (ctypes.Structure,),
                {"_fields_": fields + [("_tail", ctypes.c_char * tail)]})


def check_layout(glue):
    """Structure classes {struct name: class} matching the glue's layout."""
    glue.dilpy_layout.restype = c_size_t
    glue.dilpy_layout.argtypes = [POINTER(c_size_t), c_size_t]
    total = glue.dilpy_layout(None, 0)
    buf = (c_size_t * total)()
    glue.dilpy_layout(buf, total)
    values = list(buf)
    if total in _structs_cache and _structs_cache[total][0] == values:
        return _structs_cache[total][1]
    want = sum(1 + len(members) for _, _, members in LAYOUT)
    if total != want:
        raise DilVersionError(
            "the model's glue reports %d layout entries, this package expects "
            "%d: the package's _glue.c and _lib.py are out of step" % (total, want))
    structs, i = {}, 0
    for name, fields, members in LAYOUT:
        cls = _padded(name, fields, values[i])
        for member in members:
            i += 1
            ours = getattr(cls, member).offset
            if ours != values[i]:
                raise DilVersionError(
                    "%s.%s is at byte %d in this package's mirror but at %d in "
                    "the installed dil.h: the package and the header are from "
                    "different releases" % (name, member, ours, values[i]))
        i += 1
        structs[name] = cls
    _structs_cache[total] = (values, structs)
    return structs


def check_versions(lib, glue, where):
    """(release, abi) of the library, after checking header and package."""
    try:
        lib.dil_version.restype = c_char_p
        lib.dil_abi_version.restype = c_int
        release = lib.dil_version().decode()
        abi = lib.dil_abi_version()
    except AttributeError:
        raise DilVersionError(
            "%s: the libdil it loaded has no dil_version(): it predates the "
            "Python package; rebuild and reinstall dil" % where) from None
    glue.dilpy_header_version.restype = c_char_p
    glue.dilpy_header_version.argtypes = [POINTER(c_int)]
    header_abi = c_int()
    header_release = glue.dilpy_header_version(ctypes.byref(header_abi)).decode()
    if header_abi.value != abi:
        raise DilVersionError(
            "%s: compiled against dil.h %s (ABI %d) but loaded libdil %s (ABI %d)"
            % (where, header_release, header_abi.value, release, abi))
    if abi != ABI_VERSION:
        raise DilVersionError(
            "%s: libdil %s has ABI %d; this Python package speaks ABI %d"
            % (where, release, abi, ABI_VERSION))
    return release, abi


def bind(lib, structs):
    """Declares the argument types of the libdil calls the package makes.
    Returns True when the library has the batch API (SPEC section 5)."""
    P = c_void_p  # every pointer is passed as an address
    pm = POINTER(structs["dil_model"])
    lib.dil_work_size.restype = c_size_t
    lib.dil_work_size.argtypes = [pm, P]
    lib.dil_status_string.restype = c_char_p
    lib.dil_status_string.argtypes = [c_int]
    for fn, nptr in (("dil_solve", 6), ("dil_backward", 9),
                     ("dil_loss_gradient", 10)):
        f = getattr(lib, fn)
        f.restype = c_int
        f.argtypes = [pm] + [P] * nptr
    batch = all(hasattr(lib, fn) for fn in
                ("dil_solve_batch", "dil_backward_batch",
                 "dil_loss_gradient_batch"))
    if batch:
        lib.dil_solve_batch.argtypes = [pm, c_int] + [P] * 5 + [c_int]
        lib.dil_backward_batch.argtypes = [pm, c_int] + [P] * 8 + [c_int]
        lib.dil_loss_gradient_batch.argtypes = [pm, c_int] + [P] * 9 + [c_int]
        for fn in ("dil_solve_batch", "dil_backward_batch",
                   "dil_loss_gradient_batch"):
            getattr(lib, fn).restype = c_int
    if hasattr(lib, "dil_solve_loss_gradient_batch"):
        lib.dil_solve_loss_gradient.restype = c_int
        lib.dil_solve_loss_gradient.argtypes = [pm] + [P] * 10
        lib.dil_solve_loss_gradient_batch.restype = c_int
        lib.dil_solve_loss_gradient_batch.argtypes = [pm, c_int] + [P] * 9 + [c_int]
    return batch
