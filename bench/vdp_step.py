#!/usr/bin/python3
"""vdp_step.py - the Van der Pol training step of bench/vdp_step.c in PyTorch.

Reads the trajectory and theta that vdp_step.c wrote (so both run on the
same numbers), runs one full-batch step of the same IFT-CG method, batched
over the 107 pairs, float64, on one thread (torch.set_num_threads(1)):

  forward   Newton on r(y) = y - x - dt (W2 tanh(W1 y + b1) + b2) from y = x,
            the 2x2 Jacobians I - dt W2 diag(1 - s^2) W1 built with einsum and
            solved batched, until max |r| <= 1e-12;
  backward  the implicit function theorem as dil does it: f = |r|^2 / 2, CG on
            (d2f/dy2) g = dL/dy with L = |y - x_next|^2 (Hessian-vector
            products by double backward, batched CG with per-pair step sizes,
            stop at |res| <= 1e-10 |b|), then dL/dtheta = -(d2f/dy dtheta)^T g
            by one more backward, summed over the pairs.

Checks that the summed gradient agrees with dil's (relative 1e-6) and prints
"torch MS" (fastest of ROUNDS runs, wall clock).  Exits 77 when torch is
not installed.
"""
import struct
import sys
import time

try:
    import torch
except ImportError:
    print("torch not installed (/usr/bin/python3 -c 'import torch' fails)")
    sys.exit(77)

ROUNDS = 7
DT = 0.1


def load(path):
    with open(path, "rb") as f:
        n, h = struct.unpack("ii", f.read(8))
        traj = torch.tensor(struct.unpack("%dd" % (2 * (n + 1)), f.read(16 * (n + 1))),
                            dtype=torch.float64).reshape(n + 1, 2)
        nt = 5 * h + 2
        theta = torch.tensor(struct.unpack("%dd" % nt, f.read(8 * nt)), dtype=torch.float64)
        (loss,) = struct.unpack("d", f.read(8))
        grad = torch.tensor(struct.unpack("%dd" % nt, f.read(8 * nt)), dtype=torch.float64)
    return n, h, traj, theta, loss, grad


def unpack(theta, h):
    w1 = theta[:2 * h].reshape(h, 2)
    b1 = theta[2 * h:3 * h]
    w2 = theta[3 * h:5 * h].reshape(2, h)
    b2 = theta[5 * h:]
    return w1, b1, w2, b2


def residual(y, x, w1, b1, w2, b2):
    return y - x - DT * (torch.tanh(y @ w1.T + b1) @ w2.T + b2)


def solve(x, w1, b1, w2, b2):
    """Batched Newton on the residual, explicit 2x2 Jacobians."""
    eye = torch.eye(2, dtype=x.dtype)
    y = x.clone()
    with torch.no_grad():
        for _ in range(50):
            s = torch.tanh(y @ w1.T + b1)
            r = y - x - DT * (s @ w2.T + b2)
            if r.abs().max() <= 1e-12:
                break
            jac = eye - DT * torch.einsum("kh,nh,hj->nkj", w2, 1 - s * s, w1)
            y = y - torch.linalg.solve(jac, r.unsqueeze(-1)).squeeze(-1)
    return y


def step(traj, theta, h):
    x, target = traj[:-1], traj[1:]
    th = theta.clone().requires_grad_()
    w1, b1, w2, b2 = unpack(th, h)
    y = solve(x, w1.detach(), b1.detach(), w2.detach(), b2.detach()).requires_grad_()
    r = residual(y, x, w1, b1, w2, b2)
    gf = torch.autograd.grad(0.5 * (r * r).sum(), y, create_graph=True)[0]
    loss = ((y - target) ** 2).sum()
    b = (2 * (y - target)).detach()
    # batched CG on H g = b, H block diagonal (one 2x2 block per pair)
    g = torch.zeros_like(b)
    res, p = b.clone(), b.clone()
    rr = (res * res).sum(1)
    stop = 1e-10 * rr.sqrt()
    for _ in range(50):
        active = rr.sqrt() > stop
        if not bool(active.any()):
            break
        hp = torch.autograd.grad(gf, y, grad_outputs=p, retain_graph=True)[0]
        pap = (p * hp).sum(1)
        alpha = torch.where(active, rr / torch.where(active, pap, torch.ones_like(pap)),
                            torch.zeros_like(rr))
        g = g + alpha[:, None] * p
        res = res - alpha[:, None] * hp
        rr1 = (res * res).sum(1)
        p = res + torch.where(active, rr1 / rr, torch.zeros_like(rr))[:, None] * p
        rr = torch.where(active, rr1, rr)
    dth = torch.autograd.grad(gf, th, grad_outputs=g)[0]
    return loss.item(), -dth


def main():
    torch.set_num_threads(1)
    n, h, traj, theta, loss_c, grad_c = load(sys.argv[1])
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        loss, grad = step(traj, theta, h)
        best = min(best, time.perf_counter() - t0)
    err = (grad - grad_c).abs().max().item() / grad_c.abs().max().item()
    if abs(loss - loss_c) > 1e-9 * abs(loss_c) or err > 1e-6:
        print("vdp_step.py: PyTorch and dil disagree: loss %.17g vs %.17g, gradient %.3g"
              % (loss, loss_c, err))
        sys.exit(1)
    print("torch %.3f" % (best * 1e3))


if __name__ == "__main__":
    main()
