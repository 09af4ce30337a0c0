"""A compiled model as a Python object: sizes, symbols, and the three calls.

Model wraps one shared object built by _build.py (dilc's C plus _glue.c,
linked against libdil.so).  solve, backward and loss_gradient take NumPy
arrays; a leading dimension is a batch of instances sharing theta (SPEC
section 5).  When the loaded libdil has the batch API (dil_solve_batch,
dil_backward_batch, dil_loss_gradient_batch; detected at load time) a batch
is one call, else the same contract is kept by a loop over the instances
(`_loop`), with dl_dtheta summed in instance order.  A failure status
raises the matching DilError subclass (see _errors.py) with the figures of
every instance.
"""

import ctypes
import os

import numpy as np

from . import _lib
from ._errors import DilVersionError, Info, raise_status

ROLES = ("input", "param", "var", "data")
SOLVERS = {"newton": 0, "gauss_newton": 1, "lbfgs": 2, "gradient": 3,
           "fixed_point": 4}
BACKWARDS = {"cg": 0, "dense": 1, "root": 2}
# dil_options members settable from Python (cg_x0, cg_solution and the
# user-solver hooks are pointers and stay at their defaults).
OPTION_NAMES = ("solver", "tol", "max_iter", "backward", "cg_tol",
                "cg_max_iter", "cg_eps", "stationary_tol", "lbfgs_memory",
                "inner_max_iter", "inner_tol", "armijo_c1", "wolfe_c2",
                "max_backtracks")


class Symbol:
    """One declared symbol: name, role ('input', 'param', 'var', 'data'),
    shape (() for a scalar), offset and size in its role's flat block."""

    __slots__ = ("name", "role", "shape", "offset", "size")

    def __init__(self, name, role, shape, offset):
        self.name, self.role, self.shape, self.offset = name, role, shape, offset
        self.size = int(np.prod(shape, dtype=np.int64))

    def __repr__(self):
        return "Symbol(%r, %r, shape=%r, offset=%d)" % (
            self.name, self.role, self.shape, self.offset)


def _addr(a):
    return a.ctypes.data if a is not None and a.size else None


class Model:
    """A compiled DIL model (see dil.compile).

    Attributes: name, ny, nx, ntheta, ndata, nres, work_size, symbols (list
    of Symbol in declaration order), theta_init (the `param p = c`
    defaults, 0 where none), has_loss, has_batch_api (the loaded libdil has
    dil_solve_batch & co.), nthreads (for the batch API: 0 every core,
    1 the caller's thread; default 1), options (defaults of every call),
    version (libdil's release), source, library.
    """

    def __init__(self, so_path, source=None, options=None, nthreads=1):
        self.library = so_path
        self.source = source
        lib = ctypes.CDLL(so_path)
        self._lib = lib
        where = source or so_path
        self._structs = _lib.check_layout(lib)
        self.version, self.abi = _lib.check_versions(lib, lib, where)
        self.has_batch_api = _lib.bind(lib, self._structs)
        self._info_t = self._structs["dil_info"]
        self._options_t = self._structs["dil_options"]
        lib.dilpy_model.restype = ctypes.POINTER(self._structs["dil_model"])
        lib.dilpy_default_options.argtypes = [ctypes.POINTER(self._options_t)]
        self._m = lib.dilpy_model()
        d = self._m.contents
        self.name = d.name.decode()
        self.ny, self.nx, self.ntheta, self.ndata = d.ny, d.nx, d.ntheta, d.ndata
        self.nres, self.work_size = d.nres, d.work_size
        self.has_loss = bool(d.loss)
        self.symbols = self._read_symbols(d)
        if d.ntheta and d.theta_init:
            self.theta_init = np.ctypeslib.as_array(d.theta_init,
                                                    (d.ntheta,)).copy()
        else:
            self.theta_init = np.zeros(d.ntheta)
        self.theta_init.flags.writeable = False
        self.options = dict(options or {})
        self._struct_options(self.options)  # reject bad names now
        self.nthreads = nthreads

    def _read_symbols(self, d):
        sym_t = self._structs["dil_symbol"]
        arr = ctypes.cast(d.symbols, ctypes.POINTER(sym_t))
        out = []
        for i in range(d.nsymbols):
            s = arr[i]
            shape = tuple(s.shape[k] for k in range(s.rank))
            if not 0 <= s.role < len(ROLES):
                raise DilVersionError("symbol %r has unknown role %d"
                                      % (s.name, s.role))
            out.append(Symbol(s.name.decode(), ROLES[s.role], shape, s.offset))
        return out

    def __repr__(self):
        return "<dil.Model %s: ny=%d nx=%d ntheta=%d ndata=%d nres=%d>" % (
            self.name, self.ny, self.nx, self.ntheta, self.ndata, self.nres)

    def __reduce__(self):  # for multiprocessing: reload the same object
        return (Model, (self.library, self.source, self.options, self.nthreads))

    # ------------------------------------------------------------ layout
    def role_symbols(self, role):
        """The symbols of one role ('input', 'param', 'var', 'data')."""
        if role not in ROLES:
            raise ValueError("role must be one of %s" % (ROLES,))
        return [s for s in self.symbols if s.role == role]

    def unpack(self, role, flat):
        """{name: array} views of a flat block (leading batch dims kept)."""
        flat = np.asarray(flat)
        lead = flat.shape[:-1]
        return {s.name: flat[..., s.offset:s.offset + s.size].reshape(lead + s.shape)
                for s in self.role_symbols(role)}

    def pack(self, role, values=None, **kw):
        """The flat block of a role from {name: array}; every symbol of the
        role must be given (theta defaults: use theta_init)."""
        values = dict(values or {}, **kw)
        syms = self.role_symbols(role)
        width = sum(s.size for s in syms)
        missing = [s.name for s in syms if s.name not in values]
        extra = set(values) - {s.name for s in syms}
        if missing or extra:
            raise KeyError("pack(%r): missing %s, unknown %s"
                           % (role, missing, sorted(extra)))
        arrays = {s.name: np.asarray(values[s.name], dtype=np.float64) for s in syms}
        lead = None
        for s in syms:
            a = arrays[s.name]
            l = a.shape[:a.ndim - len(s.shape)]
            if a.shape[len(l):] != s.shape:
                raise ValueError("%s: shape %s, expected %s" % (
                    s.name, a.shape, s.shape))
            lead = l if lead is None or len(l) > len(lead) else lead
        out = np.zeros((lead or ()) + (width,))
        for s in syms:
            out[..., s.offset:s.offset + s.size] = arrays[s.name].reshape(
                arrays[s.name].shape[:arrays[s.name].ndim - len(s.shape)] + (s.size,))
        return out

    # ----------------------------------------------------------- options
    def _struct_options(self, kw):
        opt = self._options_t()
        self._lib.dilpy_default_options(ctypes.byref(opt))
        for k, v in kw.items():
            if k not in OPTION_NAMES:
                raise TypeError("unknown dil option %r (known: %s)"
                                % (k, ", ".join(OPTION_NAMES)))
            table = SOLVERS if k == "solver" else BACKWARDS if k == "backward" else None
            if table is not None and isinstance(v, str):
                if v not in table:
                    raise ValueError("%s must be one of %s" % (k, sorted(table)))
                v = table[v]
            setattr(opt, k, v)
        return opt

    def _options(self, kw):
        return self._struct_options(dict(self.options, **kw))

    # ------------------------------------------------------------ arrays
    def _operands(self, specs):
        """specs: [(name, value, width)]; returns (n or None, arrays), each
        array contiguous float64 of shape (n, width) (or (width,))."""
        n = None
        arrays = []
        for name, value, width in specs:
            a = np.ascontiguousarray(value, dtype=np.float64)
            if a.ndim == 0:
                a = a.reshape(1)
            if a.ndim > 2 or a.shape[-1] != width:
                raise ValueError("%s: shape %s, expected (%d,) or (batch, %d)"
                                 % (name, a.shape, width, width))
            if a.ndim == 2:
                if n is not None and a.shape[0] != n:
                    raise ValueError("%s: batch of %d, others have %d"
                                     % (name, a.shape[0], n))
                n = a.shape[0]
            arrays.append(a)
        if n is not None:
            arrays = [np.ascontiguousarray(np.broadcast_to(a, (n, a.shape[-1])))
                      if a.ndim == 1 else a for a in arrays]
        return n, arrays

    def _theta(self, theta):
        if theta is None:
            return np.ascontiguousarray(self.theta_init)
        t = np.ascontiguousarray(theta, dtype=np.float64).reshape(-1)
        if t.size != self.ntheta:
            raise ValueError("theta: %d values, the model has ntheta = %d"
                             % (t.size, self.ntheta))
        return t

    def _default(self, value, width):
        return np.zeros(width) if value is None else value

    def _finish(self, call, status, infos, outputs, return_info, n):
        info_list = [Info(infos[i]) for i in range(len(infos))]
        if status != 0:
            instance = next((i for i, f in enumerate(info_list) if f.status), 0)
            raise_status(call, status, info_list, instance, outputs)
        if return_info:
            return outputs, (info_list if n is not None else info_list[0])
        return outputs, None

    def _loop(self, fn, n, strides, args, acc):
        """Calls one-instance `fn` for i < n with pointer args advanced by
        strides[k]*i doubles; outputs listed in `acc` (index -> array of
        ntheta) are instead summed in instance order.  Returns the status of
        the lowest-numbered failing instance and the dil_info array."""
        infos = (self._info_t * n)()
        status = 0
        scratch = {k: np.zeros(self.ntheta) for k in acc}
        for i in range(n):
            call = []
            for k, (a, s) in enumerate(zip(args, strides)):
                if k in acc:
                    scratch[k][:] = 0
                    call.append(_addr(scratch[k]))
                elif isinstance(a, np.ndarray):
                    call.append(None if not a.size else a.ctypes.data + 8 * s * i)
                else:
                    call.append(a)
            call[-2] = ctypes.addressof(infos[i])
            st = fn(self._m, *call)
            for k in acc:
                if acc[k] is not None:
                    acc[k] += scratch[k]
            if st and not status:
                status = st
        return status, infos

    # ------------------------------------------------------------- calls
    def solve(self, x=None, theta=None, y0=None, *, return_info=False,
              nthreads=None, **options):
        """y* = argmin_y f(y; x, theta), from y0 (default zeros).

        x (nx,) or (n, nx); y0 (ny,) or (n, ny); theta (ntheta,), default
        theta_init.  Returns y of shape (ny,) or (n, ny); with
        return_info=True also the Info (a list for a batch)."""
        n, (x, y) = self._operands([("x", self._default(x, self.nx), self.nx),
                                    ("y0", self._default(y0, self.ny), self.ny)])
        y = y.copy()
        theta = self._theta(theta)
        opt = self._options(options)
        if n is None or not self.has_batch_api:
            work = self._work(opt)  # alive until the calls are done
            status, infos = self._loop(
                self._lib.dil_solve, n or 1, [self.nx, 0, self.ny, 0, 0, 0],
                [x, theta, y, ctypes.addressof(opt), None, _addr(work)], {})
        else:
            infos = (self._info_t * n)()
            status = self._lib.dil_solve_batch(
                self._m, n, _addr(x), _addr(theta), _addr(y),
                ctypes.addressof(opt), ctypes.addressof(infos),
                self._nthreads(nthreads))
        out, info = self._finish("dil_solve_batch" if n is not None else "dil_solve",
                                 status, infos, {"y": y}, return_info, n)
        return (out["y"], info) if return_info else out["y"]

    def backward(self, y, x=None, theta=None, dl_dy=None, *,
                 return_info=False, nthreads=None, **options):
        """The layer's backward: given dL/dy at the solution y, returns
        (dl_dx, dl_dtheta), the implicit-function-theorem terms; for a
        batch dl_dx is (n, nx) and dl_dtheta the sum over the instances."""
        if dl_dy is None:
            raise TypeError("backward needs dl_dy")
        n, (y, x, g) = self._operands([
            ("y", y, self.ny), ("x", self._default(x, self.nx), self.nx),
            ("dl_dy", dl_dy, self.ny)])
        theta = self._theta(theta)
        opt = self._options(options)
        dx = np.zeros_like(x)
        dtheta = np.zeros(self.ntheta)
        if n is None or not self.has_batch_api:
            work = self._work(opt)  # alive until the calls are done
            status, infos = self._loop(
                self._lib.dil_backward, n or 1,
                [self.ny, self.nx, 0, self.ny, self.nx, 0, 0, 0, 0],
                [y, x, theta, g, dx, None, ctypes.addressof(opt), None,
                 _addr(work)], {5: dtheta})
        else:
            infos = (self._info_t * n)()
            status = self._lib.dil_backward_batch(
                self._m, n, _addr(y), _addr(x), _addr(theta), _addr(g),
                _addr(dx), _addr(dtheta), ctypes.addressof(opt),
                ctypes.addressof(infos), self._nthreads(nthreads))
        out, info = self._finish(
            "dil_backward_batch" if n is not None else "dil_backward", status,
            infos, {"dl_dx": dx, "dl_dtheta": dtheta}, return_info, n)
        res = (out["dl_dx"], out["dl_dtheta"])
        return res + (info,) if return_info else res

    def loss_gradient(self, y, x=None, theta=None, data=None, *,
                      return_info=False, nthreads=None, **options):
        """The model's own loss at the solution y and its total gradients
        (Theorem 1): returns (loss, dl_dx, dl_dtheta); for a batch loss is
        (n,), dl_dx (n, nx) and dl_dtheta the sum over the instances."""
        if not self.has_loss:
            raise TypeError("model %s has no loss" % self.name)
        n, (y, x, data) = self._operands([
            ("y", y, self.ny), ("x", self._default(x, self.nx), self.nx),
            ("data", self._default(data, self.ndata), self.ndata)])
        theta = self._theta(theta)
        opt = self._options(options)
        loss = np.zeros(n or 1)
        dx = np.zeros_like(x)
        dtheta = np.zeros(self.ntheta)
        if n is None or not self.has_batch_api:
            work = self._work(opt)  # alive until the calls are done
            status, infos = self._loop(
                self._lib.dil_loss_gradient, n or 1,
                [self.ny, self.nx, 0, self.ndata, 1, self.nx, 0, 0, 0, 0],
                [y, x, theta, data, loss, dx, None, ctypes.addressof(opt),
                 None, _addr(work)], {6: dtheta})
        else:
            infos = (self._info_t * n)()
            status = self._lib.dil_loss_gradient_batch(
                self._m, n, _addr(y), _addr(x), _addr(theta), _addr(data),
                _addr(loss), _addr(dx), _addr(dtheta), ctypes.addressof(opt),
                ctypes.addressof(infos), self._nthreads(nthreads))
        out, info = self._finish(
            "dil_loss_gradient_batch" if n is not None else "dil_loss_gradient",
            status, infos,
            {"loss": loss if n is not None else loss[0], "dl_dx": dx,
             "dl_dtheta": dtheta}, return_info, n)
        res = (out["loss"], out["dl_dx"], out["dl_dtheta"])
        return res + (info,) if return_info else res

    def solve_loss_gradient(self, x=None, theta=None, y0=None, data=None, *,
                            return_info=False, nthreads=None, **options):
        """A training step: solve from y0 (default zeros), then the model's
        loss and its total gradients at the solution, in one call (libdil's
        dil_solve_loss_gradient, whose backward reuses the solve's last
        evaluation of the model; the same numbers as solve followed by
        loss_gradient).  Returns (y, loss, dl_dx, dl_dtheta), batched as
        solve and loss_gradient are.  With a libdil older than the call,
        it is solve then loss_gradient."""
        if not hasattr(self._lib, "dil_solve_loss_gradient_batch"):
            y = self.solve(x, theta, y0, nthreads=nthreads, **options)
            res = self.loss_gradient(y, x, theta, data, return_info=return_info,
                                     nthreads=nthreads, **options)
            return (y,) + res
        if not self.has_loss:
            raise TypeError("model %s has no loss" % self.name)
        n, (x, y, data) = self._operands([
            ("x", self._default(x, self.nx), self.nx),
            ("y0", self._default(y0, self.ny), self.ny),
            ("data", self._default(data, self.ndata), self.ndata)])
        y = y.copy()
        theta = self._theta(theta)
        opt = self._options(options)
        loss = np.zeros(n or 1)
        dx = np.zeros_like(x)
        dtheta = np.zeros(self.ntheta)
        infos = (self._info_t * (n or 1))()
        if n is None:
            work = self._work(opt)  # alive until the call is done
            status = self._lib.dil_solve_loss_gradient(
                self._m, _addr(x), _addr(theta), _addr(y), _addr(data),
                _addr(loss), _addr(dx), _addr(dtheta), ctypes.addressof(opt),
                ctypes.addressof(infos), _addr(work))
        else:
            status = self._lib.dil_solve_loss_gradient_batch(
                self._m, n, _addr(x), _addr(theta), _addr(y), _addr(data),
                _addr(loss), _addr(dx), _addr(dtheta), ctypes.addressof(opt),
                ctypes.addressof(infos), self._nthreads(nthreads))
        out, info = self._finish(
            "dil_solve_loss_gradient_batch" if n is not None else "dil_solve_loss_gradient",
            status, infos,
            {"y": y, "loss": loss if n is not None else loss[0], "dl_dx": dx,
             "dl_dtheta": dtheta}, return_info, n)
        res = (out["y"], out["loss"], out["dl_dx"], out["dl_dtheta"])
        return res + (info,) if return_info else res

    # ------------------------------------------------------------ helpers
    def _work(self, opt):
        size = self._lib.dil_work_size(self._m, ctypes.addressof(opt))
        return np.empty(max(size, 1))

    def _nthreads(self, nthreads):
        return self.nthreads if nthreads is None else nthreads

    def status_string(self, status):
        """libdil's name of a status."""
        return self._lib.dil_status_string(status).decode()


def load(so_path, source=None, **kw):
    """A Model from an already built shared object."""
    if not os.path.isfile(so_path):
        raise FileNotFoundError(so_path)
    return Model(so_path, source, **kw)
