"""Data-parallel training with a quantisation policy: 2 processes (gloo, CPU) started with
torch.multiprocessing; both ranks end with identical parameters, and a second run with the
same world size reproduces them bit for bit."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("minifloat.torch")
dist = pytest.importorskip("torch.distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    import minifloat.torch as mft

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        # stochastic errors and weight gradients (per-rank streams) and stochastic updates
        # (replicated streams): sqpu's direct updates plus stochastic activations/errors
        policy = {"base": "sqpu",
                  "errors": {"format": "e5m2", "rounding": "stochastic_c", "random_bits": 8,
                             "offset": "dynamic"},
                  "weight_grads": {"format": "e5m2", "rounding": "stochastic_c",
                                   "random_bits": 8, "offset": "dynamic"}}
        model = mft.quantize_model(mft.lenet5(seed=0), policy, seed=5)
        ddp = DDP(model)
        opt = mft.optim.QuantizedOptimizer(torch.optim.SGD(ddp.parameters(), lr=0.05,
                                                           momentum=0.9), model=model)
        rng = np.random.default_rng(100 + rank)  # each rank its own examples
        for _ in range(3):
            x = torch.from_numpy(rng.standard_normal((8, 1, 28, 28)).astype(np.float32))
            y = torch.from_numpy(rng.integers(0, 10, 8))
            opt.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            opt.step()
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
        np.save(os.path.join(out, f"rank{rank}.npy"), flat)
    finally:
        dist.destroy_process_group()


def _run(tmp: str) -> list[np.ndarray]:
    import torch.multiprocessing as mp

    try:
        mp.spawn(_worker, args=(2, _free_port(), tmp), nprocs=2, join=True)
    except mp.ProcessExitedException:  # gloo's rendezvous aborted once on a loaded CI box
        mp.spawn(_worker, args=(2, _free_port(), tmp), nprocs=2, join=True)  # (port race)
    return [np.load(os.path.join(tmp, f"rank{r}.npy")) for r in range(2)]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not built")
def test_ddp_two_ranks_identical_and_reproducible(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    r1 = _run(str(a))
    np.testing.assert_array_equal(r1[0], r1[1])  # both ranks: the same parameters
    r2 = _run(str(b))
    np.testing.assert_array_equal(r1[0], r2[0])  # same world size: bit for bit again
    import minifloat.torch as mft

    init = torch.cat([p.detach().reshape(-1) for p in mft.lenet5(seed=0).parameters()])
    assert not np.array_equal(r1[0], init.numpy())  # it trained
