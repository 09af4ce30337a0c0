"""dil.torch: a compiled DIL model as a PyTorch module.

    layer = dil.torch.ImplicitLayer(dil.compile("model.dil"))
    y = layer(x)               # x (batch, nx) or (nx,), float64

The module's parameters are the model's `param` symbols, named and shaped
as declared and initialised from the model's defaults (`param e = 0.5`;
zero where the model gives none, or from `init`).  The forward pass is
dil's solver (dil_solve / dil_solve_batch); the backward pass is the
implicit function theorem through dil_backward (CG on H g = dL/dy, then
-(d2f/dx dy)^T g and -(d2f/dtheta dy)^T g), packaged as one
torch.autograd.Function: autograd never sees, let alone differentiates,
the solver's iterations.  Gradients reach x and every parameter; theta's
gradient is summed over the batch by the runtime.

Everything is float64 (the C runtime computes in double): other dtypes are
refused with an explanation rather than converted silently.  Tensors on
another device are computed on the CPU and moved back.
"""

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["ImplicitLayer"]


class _ImplicitFunction(torch.autograd.Function):
    """y* = argmin_y f(y; x, theta), with the IFT as its backward."""

    @staticmethod
    def forward(ctx, x, theta, y0, model, options, nthreads, sink):
        xn = x.detach().numpy()
        tn = theta.detach().numpy()
        y, info = model.solve(xn, tn, y0.numpy(), return_info=True,
                              nthreads=nthreads, **options)
        sink.append(info)
        y = torch.from_numpy(y)
        ctx.model, ctx.options, ctx.nthreads = model, options, nthreads
        ctx.save_for_backward(x, theta, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, theta, y = ctx.saved_tensors
        dx, dtheta = ctx.model.backward(
            y.numpy(), x.detach().numpy(), theta.detach().numpy(),
            grad_y.to(torch.float64).contiguous().numpy(),
            nthreads=ctx.nthreads, **ctx.options)
        gx = torch.from_numpy(dx) if ctx.needs_input_grad[0] else None
        gt = torch.from_numpy(dtheta) if ctx.needs_input_grad[1] else None
        return gx, gt, None, None, None, None, None


def _require_float64(what, t):
    if t.dtype != torch.float64:
        raise TypeError(
            "dil.torch.ImplicitLayer computes in float64 (the C runtime's "
            "double) but %s is %s: use x.double() for inputs and "
            "module.double() for a model that holds the layer" % (what, t.dtype))


class ImplicitLayer(nn.Module):
    """A DIL model as an nn.Module.

    model     a dil.Model (dil.compile(...))
    init      optional {param name: initial value} overriding the model's
              defaults
    y0        default initial guess for the solver: (ny,) or None (zeros);
              forward(x, y0=...) overrides it per call
    nthreads  threads of the batch API (default: model.nthreads)
    options   dil_options for both solve and backward (tol=1e-12,
              backward="dense", ...), on top of the model's own defaults

    After each forward, `last_info` holds the solver's Info (a list for a
    batch).  A failed solve or backward raises the dil.DilError subclass of
    its status.
    """

    def __init__(self, model, init=None, y0=None, nthreads=None, **options):
        super().__init__()
        self._dil = model
        self._dil_options = dict(options)
        model._struct_options(dict(model.options, **options))  # check names
        self._dil_nthreads = nthreads
        self._dil_y0 = None if y0 is None else torch.as_tensor(
            y0, dtype=torch.float64).reshape(model.ny)
        self._dil_params = model.role_symbols("param")
        self.last_info = None
        init = dict(init or {})
        unknown = set(init) - {s.name for s in self._dil_params}
        if unknown:
            raise KeyError("init: %s are not params of model %s"
                           % (sorted(unknown), model.name))
        for s in self._dil_params:
            if s.name in init:
                value = torch.as_tensor(np.asarray(init.pop(s.name), np.float64))
                if tuple(value.shape) != s.shape:
                    raise ValueError("init[%r]: shape %s, declared %s"
                                     % (s.name, tuple(value.shape), s.shape))
            else:
                value = torch.tensor(
                    model.theta_init[s.offset:s.offset + s.size].reshape(s.shape))
            if hasattr(self, s.name) or "." in s.name:
                raise ValueError("model param %r clashes with an attribute of "
                                 "nn.Module; rename it in the model" % s.name)
            self.register_parameter(
                s.name, nn.Parameter(value.clone().to(torch.float64)))

    @property
    def model(self):
        return self._dil

    def theta(self):
        """The flat theta vector (the model's layout), differentiable."""
        parts = [getattr(self, s.name).reshape(-1) for s in self._dil_params]
        if not parts:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat(parts)

    def forward(self, x=None, y0=None):
        m = self._dil
        if x is None:
            x = torch.zeros(m.nx, dtype=torch.float64)
        if not torch.is_tensor(x):
            raise TypeError("x must be a torch tensor, got %s" % type(x).__name__)
        _require_float64("x", x)
        for s in self._dil_params:
            _require_float64("parameter %r" % s.name, getattr(self, s.name))
        if x.dim() not in (1, 2) or x.shape[-1] != m.nx:
            raise ValueError("x: shape %s, expected (%d,) or (batch, %d)"
                             % (tuple(x.shape), m.nx, m.nx))
        device = x.device
        single = x.dim() == 1
        xb = x.reshape(1, m.nx) if single else x
        xb = xb.cpu().contiguous()
        theta = self.theta().cpu().contiguous()
        y0 = self._initial(y0, xb.shape[0])
        sink = []
        y = _ImplicitFunction.apply(xb, theta, y0, m, self._dil_options,
                                    self._dil_nthreads, sink)
        self.last_info = sink[0][0] if single else sink[0]
        y = y.reshape(m.ny) if single else y
        return y.to(device)

    def _initial(self, y0, n):
        m = self._dil
        if y0 is None:
            y0 = self._dil_y0
        if y0 is None:
            return torch.zeros(n, m.ny, dtype=torch.float64)
        y0 = torch.as_tensor(y0).detach().cpu()
        _require_float64("y0", y0)
        if y0.dim() == 1:
            y0 = y0.reshape(1, m.ny).expand(n, m.ny)
        if tuple(y0.shape) != (n, m.ny):
            raise ValueError("y0: shape %s, expected (%d,) or (%d, %d)"
                             % (tuple(y0.shape), m.ny, n, m.ny))
        return y0.contiguous()

    def extra_repr(self):
        return "model=%s, ny=%d, nx=%d, ntheta=%d" % (
            self._dil.name, self._dil.ny, self._dil.nx, self._dil.ntheta)
