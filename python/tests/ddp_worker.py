"""One rank of the data-parallel test (test_ddp.py), and an example of
training a model with a DIL layer under torch.distributed.

Each rank builds the same network (a linear map, the implicit layer of
python/tests/models/resid.dil, a linear map), wraps it in
DistributedDataParallel (gloo backend, CPU, float64) and trains it for a
few SGD steps on its own contiguous shard of one batch.  DDP averages the
gradients over the ranks, so with equal shards every step equals a
single-process step on the whole batch (mean-squared loss).  Rank 0 saves
the first step's gradients and the final parameters to $DDP_OUT.

The rendezvous comes from the environment that torchrun sets (MASTER_ADDR,
MASTER_PORT, RANK, WORLD_SIZE); the test starts the ranks itself:

    MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 WORLD_SIZE=2 RANK=0 \
        PYTHONPATH=python python3 python/tests/ddp_worker.py &
    ... RANK=1 ...
"""

import datetime
import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import dil  # noqa: E402
import dil.torch  # noqa: E402

STEPS = 3
LR = 0.1


def build():
    """The network, identical on every rank (fixed seed)."""
    torch.manual_seed(11)
    layer = dil.torch.ImplicitLayer(
        dil.compile(os.path.join(HERE, "models", "resid.dil")))
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(0.5 * torch.randn(p.shape, dtype=torch.float64))
    return torch.nn.Sequential(torch.nn.Linear(2, 2), layer,
                               torch.nn.Linear(2, 1)).double()


def batch():
    g = torch.Generator().manual_seed(12)
    x = torch.randn(16, 2, dtype=torch.float64, generator=g)
    t = torch.sin(x.sum(dim=1, keepdim=True))
    return x, t


def train(net, params, x, t):
    """STEPS of SGD; returns the first step's gradients by name."""
    opt = torch.optim.SGD(params, lr=LR)
    first = None
    for step in range(STEPS):
        opt.zero_grad()
        F.mse_loss(net(x), t).backward()
        if first is None:
            first = {k: p.grad.detach().clone()
                     for k, p in _inner(net).named_parameters()}
        opt.step()
    return first


def _inner(net):
    return net.module if isinstance(net, DistributedDataParallel) else net


def main():
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://", rank=rank,
                            world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    net = DistributedDataParallel(build())
    x, t = batch()
    grads = train(net, net.parameters(), x.chunk(world)[rank],
                  t.chunk(world)[rank])
    if rank == 0:
        torch.save({"grads": grads,
                    "params": {k: v.detach().clone() for k, v in
                               net.module.named_parameters()}},
                   os.environ["DDP_OUT"])
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
