"""Data-parallel training with a DIL layer: two torch.distributed ranks
(gloo, 127.0.0.1, DistributedDataParallel, ddp_worker.py) give the same
gradients and parameters as one process on the whole batch.

They agree to rounding, not bit for bit: DDP averages two half-batch means
where the single process takes one mean, and dil sums dl_dtheta over a
different set of instances; the test asserts a relative difference below
1e-12 (measured: a few 1e-16).  Skipped when python3-torch is absent or
torch.distributed has no gloo.
"""

import os
import socket
import subprocess
import sys
import tempfile
import unittest

try:
    import torch
    import torch.distributed as dist
    HAVE = dist.is_available() and dist.is_gloo_available()
    WHY = "torch.distributed with gloo is not available"
except ImportError:
    HAVE = False
    WHY = "python3-torch is not installed (apt-get install python3-torch)"

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(HAVE, WHY)
class DataParallel(unittest.TestCase):
    def run_ranks(self, out, world=2):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(free_port()), WORLD_SIZE=str(world),
                   DDP_OUT=out, OMP_NUM_THREADS="1",
                   PYTHONPATH=os.path.dirname(HERE))
        procs = [subprocess.Popen(
            [sys.executable, os.path.join(HERE, "ddp_worker.py")],
            env=dict(env, RANK=str(r)), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for r in range(world)]
        outputs = []
        for p in procs:
            try:
                outputs.append(p.communicate(timeout=180)[0])
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                self.fail("a rank did not finish within 180 s")
        for r, (p, text) in enumerate(zip(procs, outputs)):
            self.assertEqual(p.returncode, 0, "rank %d:\n%s" % (r, text))

    def test_two_ranks_equal_one_process(self):
        sys.path.insert(0, HERE)
        import ddp_worker
        torch.set_num_threads(1)
        net = ddp_worker.build()  # also fills the model cache for the ranks
        x, t = ddp_worker.batch()
        grads = ddp_worker.train(net, net.parameters(), x, t)
        params = dict(net.named_parameters())
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "rank0.pt")
            self.run_ranks(out)
            got = torch.load(out)
        self.assertEqual(sorted(got["grads"]), sorted(grads))
        self.assertIn("1.W1", grads)  # the DIL layer's parameters are there
        worst = 0.0
        for name, g in grads.items():
            self.assertGreater(g.abs().max().item(), 0.0, name)
            for a, b in ((got["grads"][name], g),
                         (got["params"][name], params[name].detach())):
                err = (a - b).abs().max().item() / max(1e-300, b.abs().max().item())
                worst = max(worst, err)
                self.assertLess(err, 1e-12, name)
        print("\n  ddp: 2 ranks vs 1 process, worst relative difference %.1e"
              % worst, end=" ", flush=True)


if __name__ == "__main__":
    unittest.main()
