"""Tests of dil.compile and dil.Model (NumPy only).

Layout against the emitted headers, results bit for bit against the same
calls made from C (cref.c), batches against single instances, the IFT
gradient against finite differences of the whole solve-then-loss map,
every failure path as an exception with its figures, the cache, and the
version and layout checks.
"""

import os
import pickle
import re
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

import dil
from dil import _lib
from common import HERE, ROOT, c_reference, model, model_path

RNG = np.random.default_rng(20240611)


def header_sizes(name):
    """ny, nx, ntheta, ndata, nres from generated/NAME.h's comment line."""
    with open(os.path.join(ROOT, "generated", name + ".h")) as f:
        text = f.read()
    return {k: int(v) for k, v in re.findall(r"(ny|nx|ntheta|ndata|nres) = (\d+)", text)}


class Layout(unittest.TestCase):
    def test_sizes_match_the_emitted_header(self):
        for name in ("kepler", "lqr_tracking", "mpc_linear", "node_euler"):
            m = model(name)
            want = header_sizes(name)
            got = {k: getattr(m, k) for k in want}
            self.assertEqual(got, want, name)
            for role, n in (("input", m.nx), ("param", m.ntheta),
                            ("var", m.ny), ("data", m.ndata)):
                syms = m.role_symbols(role)
                offsets = [s.offset for s in syms]
                self.assertEqual(offsets, sorted(offsets))
                self.assertEqual(sum(s.size for s in syms), n, (name, role))
                pos = 0
                for s in syms:  # contiguous, in declaration order
                    self.assertEqual(s.offset, pos)
                    pos += s.size

    def test_symbols_and_defaults(self):
        m = model("lqr_tracking")
        by = {s.name: s for s in m.symbols}
        self.assertEqual(by["A"].shape, (3, 3))
        self.assertEqual(by["B"].role, "param")
        self.assertEqual(by["B"].offset, 9)
        self.assertEqual(by["rho"].shape, ())
        self.assertEqual(by["u"].shape, (4, 2))
        self.assertEqual(by["u_expert"].role, "data")
        p = m.unpack("param", m.theta_init)
        self.assertEqual(float(p["rho"]), 1.0)
        self.assertEqual(float(p["c"]), 0.5)
        self.assertFalse(np.any(p["A"]))
        self.assertEqual(model("kepler").theta_init.tolist(), [0.5])
        q = model("mpc_linear").unpack("param", model("mpc_linear").theta_init)["q"]
        self.assertEqual(q.tolist(), [1.0, 1.0])

    def test_pack_unpack_round_trip(self):
        m = model("lqr_tracking")
        theta = RNG.standard_normal((5, m.ntheta))
        parts = m.unpack("param", theta)
        self.assertEqual(parts["A"].shape, (5, 3, 3))
        np.testing.assert_array_equal(m.pack("param", parts), theta)
        with self.assertRaises(KeyError):
            m.pack("param", A=np.zeros((3, 3)))


def smooth_problem(m, n=None):
    lead = () if n is None else (n,)
    x = RNG.standard_normal(lead + (m.nx,))
    theta = 0.5 * RNG.standard_normal(m.ntheta)
    theta[-1] = 0.7  # a: keep the softplus term
    return x, theta


class Results(unittest.TestCase):
    def test_kepler_solves_keplers_equation(self):
        m = model("kepler")
        M = np.linspace(0.1, 3.0, 7).reshape(7, 1)
        E, infos = m.solve(M, return_info=True, tol=1e-13)
        self.assertEqual(E.shape, (7, 1))
        np.testing.assert_allclose(E - 0.5 * np.sin(E), M, rtol=0, atol=1e-12)
        self.assertEqual(len(infos), 7)
        self.assertTrue(all(i.status == 0 and i.iterations > 0 for i in infos))
        # dE/dM = 1 / (1 - e cos E): the implicit derivative, by hand
        dx, de = m.backward(E, M, dl_dy=np.ones((7, 1)))
        np.testing.assert_allclose(dx, 1 / (1 - 0.5 * np.cos(E)), rtol=1e-9)
        np.testing.assert_allclose(de, np.sum(np.sin(E) / (1 - 0.5 * np.cos(E))),
                                   rtol=1e-9)

    def test_bit_for_bit_with_c(self):
        for name in ("smooth", "kepler", "lqr_tracking"):
            m = model(name)
            x = RNG.standard_normal(m.nx)
            theta = m.theta_init + 0.1 * RNG.standard_normal(m.ntheta)
            y0 = np.zeros(m.ny)
            g = RNG.standard_normal(m.ny)
            data = RNG.standard_normal(m.ndata)
            ref = c_reference(m, x, theta, y0, g, data)
            y = m.solve(x, theta, y0)
            dx, dth = m.backward(y, x, theta, g)
            np.testing.assert_array_equal(y, ref["y"], name)
            np.testing.assert_array_equal(dx, ref["dx"], name)
            np.testing.assert_array_equal(dth, ref["dtheta"], name)
            loss, ldx, ldth = m.loss_gradient(y, x, theta, data)
            self.assertEqual(loss, ref["loss"][0])
            np.testing.assert_array_equal(ldx, ref["ldx"], name)
            np.testing.assert_array_equal(ldth, ref["ldtheta"], name)

    def test_batch_equals_single_instances(self):
        m = model("smooth")
        n = 6
        x, theta = smooth_problem(m, n)
        g = RNG.standard_normal((n, m.ny))
        data = RNG.standard_normal((n, m.ndata))
        Y = m.solve(x, theta)
        DX, DTH = m.backward(Y, x, theta, g)
        L, LDX, LDTH = m.loss_gradient(Y, x, theta, data)
        self.assertEqual((Y.shape, DX.shape, DTH.shape, L.shape),
                         ((n, m.ny), (n, m.nx), (m.ntheta,), (n,)))
        singles = [m.backward(m.solve(x[i], theta), x[i], theta, g[i]) for i in range(n)]
        for i in range(n):
            np.testing.assert_array_equal(Y[i], m.solve(x[i], theta))
            np.testing.assert_array_equal(DX[i], singles[i][0])
            l, ldx, _ = m.loss_gradient(Y[i], x[i], theta, data[i])
            self.assertEqual(L[i], l)
            np.testing.assert_array_equal(LDX[i], ldx)
        # dl_dtheta is the sum over the instances
        np.testing.assert_allclose(DTH, sum(s[1] for s in singles), rtol=1e-13,
                                   atol=1e-15)
        # the per-instance fallback keeps the same contract
        saved = m.has_batch_api
        try:
            m.has_batch_api = False
            np.testing.assert_array_equal(m.solve(x, theta), Y)
            dx2, dth2 = m.backward(Y, x, theta, g)
            np.testing.assert_array_equal(dx2, DX)
            np.testing.assert_allclose(dth2, DTH, rtol=1e-13, atol=1e-15)
        finally:
            m.has_batch_api = saved
        # an unbatched operand is shared by the batch
        np.testing.assert_array_equal(m.solve(x[0], theta, np.zeros((2, m.ny))),
                                      np.stack([Y[0], Y[0]]))

    def test_solve_loss_gradient(self):
        # One call, the same numbers as solve then loss_gradient: single
        # instances and a batch (whose dl_dtheta is the sum in order)
        m = model("smooth")
        n = 4
        x, theta = smooth_problem(m, n)
        data = RNG.standard_normal((n, m.ndata))
        y, loss, dx, dth = m.solve_loss_gradient(x[0], theta, data=data[0])
        y1 = m.solve(x[0], theta)
        np.testing.assert_array_equal(y, y1)
        l1, dx1, dth1 = m.loss_gradient(y1, x[0], theta, data[0])
        self.assertEqual(loss, l1)
        np.testing.assert_array_equal(dx, dx1)
        np.testing.assert_array_equal(dth, dth1)
        Y, L, DX, DTH = m.solve_loss_gradient(x, theta, data=data)
        Y1 = m.solve(x, theta)
        L1, DX1, DTH1 = m.loss_gradient(Y1, x, theta, data)
        for a, b in ((Y, Y1), (L, L1), (DX, DX1), (DTH, DTH1)):
            np.testing.assert_array_equal(a, b)
        # a solve that fails raises, naming the call
        with self.assertRaises(dil.DilError) as cm:
            m.solve_loss_gradient(x, theta, data=data, max_iter=0,
                                  y0=np.ones((n, m.ny)))
        self.assertIn("dil_solve_loss_gradient_batch", str(cm.exception))

    def test_batch_api_path(self):
        # The package's batch path against a serial batch API (fake_batch.c)
        # linked into the model's object: same values as the fallback loop.
        m = model("smooth")
        d = os.path.dirname(m.library)
        tc = dil.toolchain()
        so = os.path.join(d, "fake_batch.so")
        subprocess.run(
            ["cc", "-std=c99", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
             "-I" + d, "-I" + tc.includedir, '-DDILPY_HEADER="model.h"',
             "-DDILPY_DESC=dilm_model", os.path.join(d, "model.c"),
             os.path.join(os.path.dirname(dil.__file__), "_glue.c"),
             os.path.join(HERE, "fake_batch.c"), "-o", so, "-L" + tc.libdir,
             "-ldil", "-lm", "-Wl,-rpath," + os.path.realpath(tc.libdir)],
            check=True)
        b = dil.load(so)
        self.assertTrue(b.has_batch_api)
        m.has_batch_api, saved = False, m.has_batch_api
        try:
            n = 5
            x, theta = smooth_problem(m, n)
            g = RNG.standard_normal((n, m.ny))
            data = RNG.standard_normal((n, m.ndata))
            Y = b.solve(x, theta)
            np.testing.assert_array_equal(Y, m.solve(x, theta))
            for got, want in zip(b.backward(Y, x, theta, g), m.backward(Y, x, theta, g)):
                np.testing.assert_array_equal(got, want)
            for got, want in zip(b.loss_gradient(Y, x, theta, data),
                                 m.loss_gradient(Y, x, theta, data)):
                np.testing.assert_array_equal(got, want)
            x[2, 0] = np.nan
            with self.assertRaises(dil.NotFiniteError) as cm:
                b.solve(x, theta)
            self.assertEqual(cm.exception.instance, 2)
            self.assertEqual(cm.exception.call, "dil_solve_batch")
            self.assertEqual([i.status for i in cm.exception.infos], [0, 0, 2, 0, 0])
        finally:
            m.has_batch_api = saved

    def test_ift_gradient_against_finite_differences(self):
        m = model("smooth", tol=1e-13)
        x, theta = smooth_problem(m)
        data = RNG.standard_normal(m.ndata)

        def total_loss(x, theta):
            y = m.solve(x, theta)
            return m.loss_gradient(y, x, theta, data)[0]

        y = m.solve(x, theta)
        _, dx, dth = m.loss_gradient(y, x, theta, data)
        h = 1e-6
        for v, grad, f in ((x, dx, lambda v: total_loss(v, theta)),
                           (theta, dth, lambda v: total_loss(x, v))):
            fd = np.zeros_like(v)
            for i in range(v.size):
                e = np.zeros_like(v)
                e[i] = h
                fd[i] = (f(v + e) - f(v - e)) / (2 * h)
            np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


    def test_cancelling_terms_reach_tol(self):
        # issue 13: smooth.dil's terms of size 1 cancel to f ~ 1e-2, below
        # the rounding of the terms; the line search used to fail near the
        # minimum (main before the fix: 6 LineSearchError and 1
        # MaxIterError in these 2000 solves at tol 1e-10, 2 at 1e-9)
        m = model("smooth")
        rng = np.random.default_rng(1)
        for tol in (1e-10, 1e-9):
            failed = []
            for i in range(2000):
                x = 2 * rng.standard_normal(m.nx)
                theta = 0.8 * rng.standard_normal(m.ntheta)
                try:
                    m.solve(x, theta, tol=tol)
                except dil.DilError as e:
                    failed.append((i, type(e).__name__))
            self.assertEqual(failed, [], "tol %g" % tol)


class Failures(unittest.TestCase):
    def test_max_iter_carries_figures_and_best_iterate(self):
        m = model("kepler")
        with self.assertRaises(dil.MaxIterError) as cm:
            m.solve([1.0], max_iter=1)
        e = cm.exception
        self.assertEqual(e.status, 1)
        self.assertEqual(e.status_name, "DIL_MAX_ITER")
        self.assertEqual(e.info.iterations, 1)
        self.assertGreater(e.info.grad_norm, 1e-10)
        self.assertTrue(np.all(np.isfinite(e.result["y"])))
        self.assertIn("DIL_MAX_ITER", str(e))
        self.assertIn("grad_norm", str(e))
        self.assertEqual(m.status_string(e.status), "DIL_MAX_ITER")

    def test_batch_failure_names_the_instance(self):
        m = model("kepler")
        with self.assertRaises(dil.NotFiniteError) as cm:
            m.solve(np.array([[1.0], [np.nan], [2.0], [np.inf]]))
        e = cm.exception
        self.assertEqual(e.instance, 1)
        self.assertEqual([i.status for i in e.infos], [0, 2, 0, 2])
        self.assertIn("instance 1 of 4", str(e))
        self.assertTrue(np.isfinite(e.result["y"][0, 0]))

    def test_backward_statuses(self):
        m = model("kepler")
        with self.assertRaises(dil.NotStationaryError) as cm:
            m.backward([0.0], [1.0], dl_dy=[1.0])  # y = 0 is no solution
        self.assertIn("dl_dx", cm.exception.result)
        with self.assertRaises(dil.BadArgError):
            m.backward([1.5], [1.0], dl_dy=[1.0], backward="root")
        with self.assertRaises(TypeError):
            m.solve([1.0], tolerance=1e-3)
        with self.assertRaises(ValueError):
            m.solve([1.0, 2.0])
        with self.assertRaises(ValueError):
            m.solve([1.0], solver="newtonish")
        with self.assertRaises(TypeError):
            model("resid").loss_gradient([0, 0], [0, 0])

    def test_bad_model_gives_dilc_diagnostics(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "bad.dil")
            with open(path, "w") as f:
                f.write("model bad\nvar y\nscore y + nope\n")
            with self.assertRaises(dil.DilCompileError) as cm:
                dil.compile(path)
            self.assertEqual(cm.exception.returncode, 1)
            self.assertRegex(cm.exception.stderr, r"bad\.dil:3:\d+: error: ")
        finally:
            shutil.rmtree(d)


class CacheAndVersions(unittest.TestCase):
    def test_cache_is_keyed_by_content(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "k.dil")
            shutil.copy(model_path("kepler"), path)
            a = dil.compile(path)
            stamp = os.stat(a.library).st_mtime_ns
            b = dil.compile(path)
            self.assertEqual(a.library, b.library)
            self.assertEqual(os.stat(b.library).st_mtime_ns, stamp)
            with open(path, "a") as f:
                f.write("# changed\n")
            c = dil.compile(path)
            self.assertNotEqual(c.library, a.library)
            self.assertEqual(np.asarray(c.solve([1.0])).tolist(),
                             np.asarray(a.solve([1.0])).tolist())
        finally:
            shutil.rmtree(d)

    def test_version_and_abi(self):
        m = model("kepler")
        self.assertEqual(m.version, dil.__version__)
        self.assertEqual(m.abi, dil.ABI_VERSION)
        saved = _lib.ABI_VERSION
        try:
            _lib.ABI_VERSION = saved + 1
            with self.assertRaises(dil.DilVersionError) as cm:
                dil.load(m.library)
            self.assertIn("ABI", str(cm.exception))
        finally:
            _lib.ABI_VERSION = saved

    def test_layout_mismatch_is_refused(self):
        m = model("kepler")
        saved = list(_lib.LAYOUT)
        try:
            fields = list(_lib.INFO_FIELDS)
            fields[1], fields[2] = fields[2], fields[1]  # a reordered struct
            _lib.LAYOUT[3] = ("dil_info", fields, _lib.LAYOUT[3][2])
            _lib._structs_cache.clear()
            with self.assertRaises(dil.DilVersionError) as cm:
                dil.load(m.library)
            self.assertIn("dil_info.", str(cm.exception))
        finally:
            _lib.LAYOUT[:] = saved
            _lib._structs_cache.clear()

    def test_options_and_pickling(self):
        m = model("kepler", tol=1e-13)
        self.assertEqual(m.options, {"tol": 1e-13})
        with self.assertRaises(TypeError):
            dil.compile(model_path("kepler"), tolerance=1e-3)
        m2 = pickle.loads(pickle.dumps(m))
        self.assertEqual(m2.options, m.options)
        np.testing.assert_array_equal(m2.solve([1.0]), m.solve([1.0]))

    def test_toolchain_found(self):
        tc = dil.toolchain()
        self.assertTrue(os.path.isfile(tc.dilc))
        self.assertTrue(os.path.isfile(os.path.join(tc.includedir, "dil.h")))


if __name__ == "__main__":
    unittest.main()
