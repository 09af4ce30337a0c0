"""reference.py - rolled long-horizon models against PyTorch autograd.

Issue 7's acceptance: derivatives of *unseen* long-horizon models with
nonlinear dynamics (T = 40 to 1000) agree with an independent autodiff
reference to 1e-9, and the solve and the implicit (IFT) gradient agree
with a reference solution.  The model here (a unicycle steered towards
the origin: position, heading and speed, driven by an acceleration and a
turn rate through cos, sin, tanh and a cubic drag) is in no other test.
dilc compiles it with its loops rolled; the same model is written again
in PyTorch (float64) and differentiated by autograd, which shares no code
and no derivative rule with dilc:

  - score, gradient and Hessian-vector product at random points, T = 40,
    300 and 1000, to 1e-9 relative to each output's largest magnitude;
  - dil_solve's y* (from zero) against a Newton iteration of the
    reference (CG on autograd Hessian-vector products), T = 40 and 300;
  - dil_loss_gradient's dL/dx, dL/dtheta at y* against the IFT written
    out with autograd: dL/dp = dL/dp|_y - (d2f/dp dy) H^-1 dL/dy.

Run with PYTHONPATH=python /usr/bin/python3 tests/horizon/reference.py
[T[:solve] ...] after `make` (default: 40:solve 300:solve 1000, what
`make check-horizon` runs; make check runs 40:solve 300 through
tests/golden/horizon_reference.sh); exits 0 when everything agrees, 77
when torch or numpy is missing.
"""

import ctypes
import os
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print("reference.py: skipped (%s)" % e)
    sys.exit(77)

import dil

torch.set_default_dtype(torch.float64)

SOURCE = """\
model unicycle
dim   T = {T}
const dt = 0.05
input s0[4]
param drag = 0.3, turn = 1, w[4] = 1, r = 0.5
var   u[T, 2]
data  u_ref[T, 2]
let   s[0] = s0
for t in 0:T {{ let s[t+1] = s[t] + dt*[s[t][3]*cos(s[t][2]), s[t][3]*sin(s[t][2]),
                                      turn*u[t][1]*tanh(s[t][3]), u[t][0] - drag*s[t][3]^3] }}
score sum(t in 1:T+1, sum(w * s[t]^2))/T + r*sum(u^2)
loss  sum((u - u_ref)^2)/T
"""


def torch_score(y, x, th, T):
    """The same score, in PyTorch: y = u (T x 2), x = s0, th = (drag,
    turn, w[4], r)."""
    u = y.reshape(T, 2)
    drag, turn, w, r = th[0], th[1], th[2:6], th[6]
    s = x
    acc = torch.zeros((), dtype=y.dtype)
    for t in range(T):
        f = torch.stack([s[3] * torch.cos(s[2]), s[3] * torch.sin(s[2]),
                         turn * u[t, 1] * torch.tanh(s[3]), u[t, 0] - drag * s[3] ** 3])
        s = s + 0.05 * f
        acc = acc + torch.sum(w * s ** 2)
    return acc / T + r * torch.sum(u ** 2)


def torch_loss(y, d, T):
    return torch.sum((y - d) ** 2) / T


class Head(ctypes.Structure):
    """The first members of dil_model (runtime/dil_model.h)."""
    P = ctypes.POINTER(ctypes.c_double)
    _fields_ = [("name", ctypes.c_char_p), ("ny", ctypes.c_int), ("nx", ctypes.c_int),
                ("ntheta", ctypes.c_int), ("ndata", ctypes.c_int), ("nres", ctypes.c_int),
                ("work_size", ctypes.c_size_t),
                ("score", ctypes.CFUNCTYPE(ctypes.c_double, P, P, P, P)),
                ("score_grad_y", ctypes.CFUNCTYPE(None, P, P, P, P, P)),
                ("score_hvp_yy", ctypes.CFUNCTYPE(None, P, P, P, P, P, P))]


def ptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


failures = 0


def close(what, got, want, rtol):
    global failures
    got, want = np.atleast_1d(got), np.atleast_1d(want)
    scale = max(np.max(np.abs(want)), np.max(np.abs(got)), 1e-300)
    err = np.max(np.abs(got - want)) / scale
    ok = err <= rtol
    print("  %-40s rel. error %.2e (tolerance %.0e) %s" % (what, err, rtol, "" if ok else "FAILED"))
    if not ok:
        failures += 1


def cg(hvp, b, tol=1e-14, maxit=2000):
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = r @ r
    for _ in range(maxit):
        if rr.sqrt() <= tol * b.norm():
            break
        hp = hvp(p)
        a = rr / (p @ hp)
        x = x + a * p
        r = r - a * hp
        rr2 = r @ r
        p = r + (rr2 / rr) * p
        rr = rr2
    return x


def check(T, tmp, solve):
    path = os.path.join(tmp, "unicycle_%d.dil" % T)
    with open(path, "w") as f:
        f.write(SOURCE.format(T=T))
    m = dil.compile(path)
    lib = ctypes.CDLL(m.library)
    lib.dilpy_model.restype = ctypes.POINTER(Head)   # python/dil/_glue.c
    k = lib.dilpy_model().contents
    print("T = %d: ny = %d, work_size = %d doubles" % (T, k.ny, k.work_size))
    rng = np.random.default_rng(T)
    th0 = np.array([0.3, 1.0, 1, 1, 1, 1, 0.5])
    work = np.empty(k.work_size)
    for pt in range(2):
        y = rng.uniform(-1, 1, k.ny)
        x = rng.uniform(-1, 1, k.nx)
        th = th0 + rng.uniform(-0.1, 0.1, k.ntheta)
        v = rng.uniform(-1, 1, k.ny)
        f = k.score(ptr(y), ptr(x), ptr(th), ptr(work))
        g = np.empty(k.ny)
        k.score_grad_y(ptr(y), ptr(x), ptr(th), ptr(g), ptr(work))
        hv = np.empty(k.ny)
        k.score_hvp_yy(ptr(y), ptr(x), ptr(th), ptr(v), ptr(hv), ptr(work))
        ty = torch.tensor(y, requires_grad=True)
        tf = torch_score(ty, torch.tensor(x), torch.tensor(th), T)
        (tg,) = torch.autograd.grad(tf, ty, create_graph=True)
        (thv,) = torch.autograd.grad(tg @ torch.tensor(v), ty)
        close("score (point %d)" % pt, f, tf.item(), 1e-9)
        close("score_grad_y (point %d)" % pt, g, tg.detach().numpy(), 1e-9)
        close("score_hvp_yy (point %d)" % pt, hv, thv.numpy(), 1e-9)
    if not solve:
        return
    x = rng.uniform(-1, 1, k.nx)
    th = th0 + rng.uniform(-0.1, 0.1, k.ntheta)
    d = rng.uniform(-1, 1, k.ndata)
    ys = m.solve(x=x, theta=th, tol=1e-12, max_iter=200)
    # the reference solution: Newton with CG on autograd HVPs, from zero
    tx, tth, td = torch.tensor(x), torch.tensor(th), torch.tensor(d)
    yr = torch.zeros(k.ny)
    for _ in range(50):
        yv = yr.clone().requires_grad_(True)
        (gr,) = torch.autograd.grad(torch_score(yv, tx, tth, T), yv, create_graph=True)
        if gr.norm() < 1e-13:
            break

        def hvp(p, gr=gr, yv=yv):
            return torch.autograd.grad(gr @ p, yv, retain_graph=True)[0]

        yr = (yr - cg(hvp, gr.detach())).detach()
    close("dil_solve y* vs Newton (autograd)", ys, yr.numpy(), 1e-8)
    loss, dlx, dlth = m.loss_gradient(ys, x=x, theta=th, data=d, tol=1e-12,
                                      cg_tol=1e-13, cg_max_iter=20 * k.ny)
    # the IFT with autograd at the reference solution
    yv = yr.clone().requires_grad_(True)
    txg = tx.clone().requires_grad_(True)
    tthg = tth.clone().requires_grad_(True)
    L = torch_loss(yv, td, T)
    (dly,) = torch.autograd.grad(L, yv)
    fy = torch.autograd.grad(torch_score(yv, txg, tthg, T), yv, create_graph=True)[0]

    def hvp2(p):
        return torch.autograd.grad(fy @ p, yv, retain_graph=True)[0]

    gsol = cg(hvp2, dly)
    mx, mth = torch.autograd.grad(fy @ gsol, (txg, tthg))
    close("loss at y*", loss, L.item(), 1e-9)
    close("IFT dL/dx vs autograd", dlx, -mx.numpy(), 1e-7)
    close("IFT dL/dtheta vs autograd", dlth, -mth.numpy(), 1e-7)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("DIL_CACHE_DIR", os.path.join(tmp, "cache"))
        for arg in sys.argv[1:] or ["40:solve", "300:solve", "1000"]:
            check(int(arg.split(":")[0]), tmp, arg.endswith(":solve"))
    print("reference.py: %s" % ("all agree" if not failures else "%d FAILED" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
