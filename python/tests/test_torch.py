"""Tests of dil.torch.ImplicitLayer (skipped when python3-torch is absent).

gradcheck on small models; gradients equal to PyTorch autograd through an
unrolled Newton solve written independently in PyTorch (to 1e-9), and to
dil's own backward bit for bit; parameters named, shaped and initialised
as the model declares; float64 enforced; a layer trained inside an
ordinary PyTorch model.
"""

import unittest

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    import dil.torch as dtorch
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

from common import model

SKIP = "python3-torch is not installed (apt-get install python3-torch)"


def setUpModule():
    if HAVE_TORCH:
        torch.set_num_threads(1)
        torch.manual_seed(7)


# ---- the models again, written in PyTorch, for the unrolled reference
def smooth_score(y, x, W, b, a):
    return ((y ** 2).sum() / 2 + a ** 2 * F.softplus(y).sum()
            - torch.dot(torch.tanh(W @ x + b), y) + (y ** 4).sum() / 12)


def resid_residual(y, x0, W1, b1, W2, b2):
    return y - x0 - 0.2 * (W2 @ torch.tanh(W1 @ y + b1) + b2)


def newton_unrolled_smooth(x, W, b, a, steps=25):
    y = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        g = torch.autograd.grad(smooth_score(y, x, W, b, a), y,
                                create_graph=True)[0]
        H = torch.autograd.functional.hessian(
            lambda v: smooth_score(v, x, W, b, a), y, create_graph=True)
        y = y - torch.linalg.solve(H, g)
    return y


def newton_unrolled_resid(x0, W1, b1, W2, b2, steps=25):
    y = x0.detach().clone()
    for _ in range(steps):
        r = resid_residual(y, x0, W1, b1, W2, b2)
        J = torch.autograd.functional.jacobian(
            lambda v: resid_residual(v, x0, W1, b1, W2, b2), y, create_graph=True)
        y = y - torch.linalg.solve(J, r)
    return y


def newton_unrolled_kepler(M, e, steps=25):
    E = M.detach().clone()
    for _ in range(steps):
        E = E - (E - e * torch.sin(E) - M) / (1 - e * torch.cos(E))
    return E


def params_like(layer, scale=0.5, gen=None):
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(scale * torch.randn(p.shape, dtype=torch.float64, generator=gen))


@unittest.skipUnless(HAVE_TORCH, SKIP)
class Layer(unittest.TestCase):
    def test_parameters_follow_the_model(self):
        m = model("lqr_tracking")
        layer = dtorch.ImplicitLayer(m)
        names = [(n, tuple(p.shape)) for n, p in layer.named_parameters()]
        self.assertEqual(names, [("A", (3, 3)), ("B", (3, 2)), ("L", (3, 3)),
                                 ("rho", ()), ("c", ())])
        self.assertEqual(float(layer.rho), 1.0)
        self.assertEqual(float(layer.c), 0.5)
        self.assertTrue(all(p.dtype == torch.float64 for p in layer.parameters()))
        np.testing.assert_array_equal(layer.theta().detach().numpy(), m.theta_init)
        k = dtorch.ImplicitLayer(model("kepler"), init={"e": 0.3})
        self.assertEqual(float(k.e), 0.3)
        with self.assertRaises(KeyError):
            dtorch.ImplicitLayer(model("kepler"), init={"nope": 1.0})

    def test_shapes(self):
        layer = dtorch.ImplicitLayer(model("smooth"))
        params_like(layer)
        x = torch.randn(4, 2, dtype=torch.float64)
        self.assertEqual(tuple(layer(x).shape), (4, 3))
        self.assertEqual(tuple(layer(x[0]).shape), (3,))
        torch.testing.assert_close(layer(x)[1], layer(x[1]), rtol=0, atol=0)
        self.assertEqual(layer.last_info.status, 0)
        layer(x)
        self.assertEqual([i.status for i in layer.last_info], [0] * 4)
        with self.assertRaises(ValueError):
            layer(torch.randn(4, 3, dtype=torch.float64))

    def test_float64_is_required(self):
        layer = dtorch.ImplicitLayer(model("smooth"))
        with self.assertRaisesRegex(TypeError, "float64.*torch.float32"):
            layer(torch.randn(2, 2))
        layer.float()
        with self.assertRaisesRegex(TypeError, "parameter 'W'"):
            layer(torch.randn(2, 2, dtype=torch.float64))

    def test_gradcheck(self):
        for name, nx in (("smooth", 2), ("resid", 2), ("kepler", 1)):
            layer = dtorch.ImplicitLayer(model(name), tol=1e-13, cg_tol=1e-13)
            if name != "kepler":
                params_like(layer, 0.4)
            x = (0.5 * torch.randn(3, nx, dtype=torch.float64)).requires_grad_()
            if name == "kepler":
                x = (torch.rand(3, 1, dtype=torch.float64) + 0.5).requires_grad_()
            params = tuple(layer.parameters())
            self.assertTrue(torch.autograd.gradcheck(
                lambda x, *ps: layer(x), (x,) + params, eps=1e-6, atol=1e-7,
                rtol=1e-5), name)

    def test_against_unrolled_newton(self):
        cases = {
            "smooth": (lambda x, p: newton_unrolled_smooth(x, p["W"], p["b"], p["a"]), 2),
            "resid": (lambda x, p: newton_unrolled_resid(
                x, p["W1"], p["b1"], p["W2"], p["b2"]), 2),
            "kepler": (lambda x, p: newton_unrolled_kepler(x, p["e"]), 1),
        }
        for name, (unrolled, nx) in cases.items():
            layer = dtorch.ImplicitLayer(model(name), tol=1e-13, cg_tol=1e-14)
            if name != "kepler":
                params_like(layer, 0.5)
            n = 3
            x = torch.rand(n, nx, dtype=torch.float64) + 0.25
            w = torch.randn(n, model(name).ny, dtype=torch.float64)
            x1 = x.clone().requires_grad_()
            y = layer(x1)
            (w * y).sum().backward()
            ours = [x1.grad] + [p.grad for p in layer.parameters()]
            ref_params = {k: p.detach().clone().requires_grad_()
                          for k, p in layer.named_parameters()}
            x2 = x.clone().requires_grad_()
            y_ref = torch.stack([unrolled(x2[i], ref_params) for i in range(n)])
            (w * y_ref).sum().backward()
            refs = [x2.grad] + [ref_params[k].grad for k, _ in layer.named_parameters()]
            torch.testing.assert_close(y.detach(), y_ref.detach(), rtol=0, atol=1e-12)
            for a, b in zip(ours, refs):
                err = (a - b).abs().max().item() / max(1.0, b.abs().max().item())
                self.assertLess(err, 1e-9, name)

    def test_gradients_are_dils_bit_for_bit(self):
        m = model("smooth")
        layer = dtorch.ImplicitLayer(m)
        params_like(layer)
        x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
        w = torch.randn(5, 3, dtype=torch.float64)
        y = layer(x)
        (w * y).sum().backward()
        theta = layer.theta().detach().numpy()
        y_np = m.solve(x.detach().numpy(), theta)
        np.testing.assert_array_equal(y.detach().numpy(), y_np)
        dx, dtheta = m.backward(y_np, x.detach().numpy(), theta, w.numpy())
        np.testing.assert_array_equal(x.grad.numpy(), dx)
        grads = np.concatenate([p.grad.reshape(-1).numpy() for p in layer.parameters()])
        np.testing.assert_array_equal(grads, dtheta)

    def test_training_inside_a_pytorch_model(self):
        gen = torch.Generator().manual_seed(3)

        def net():
            # one backward-Euler step of a tiny network between two linear
            # maps (resid.dil: a residual layer inside a PyTorch model)
            layer = dtorch.ImplicitLayer(model("resid"))
            params_like(layer, 0.8, gen)
            return torch.nn.Sequential(torch.nn.Linear(2, 2), layer,
                                       torch.nn.Linear(2, 1)).double()

        teacher, student = net(), net()
        x = torch.randn(64, 2, dtype=torch.float64, generator=gen)
        with torch.no_grad():
            t = teacher(x)
        before = [p.detach().clone() for p in student[1].parameters()]
        opt = torch.optim.Adam(student.parameters(), lr=0.03)
        losses = []
        for _ in range(120):
            opt.zero_grad()
            loss = F.mse_loss(student(x), t)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        self.assertLess(losses[-1], 0.01 * losses[0], losses[::20])
        for p0, p in zip(before, student[1].parameters()):
            self.assertGreater((p.detach() - p0).abs().max().item(), 1e-3)


if __name__ == "__main__":
    unittest.main()
