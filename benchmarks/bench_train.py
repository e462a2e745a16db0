#!/usr/bin/env python
"""Training speed: time per epoch of LeNet-5 on Fashion-MNIST (batch 64) under the float32
policy and under the emulated 8-bit ``asymmetric8`` policy (and any others given), measured in
the same run, with the ratio to float32.

    python benchmarks/bench_train.py                       # 6,400 images (100 steps) x 3 rounds
    python benchmarks/bench_train.py --train-size 60000 --rounds 1     # one full epoch each
    python benchmarks/bench_train.py --policies fp32 asymmetric8 sqpu asymmetric8_dynamic

Data: the official Fashion-MNIST training images (``--data-dir``, default ``$MINIFLOAT_DATA``
or ``../shared/datasets``; the bundled subset when those are absent), the first
``--train-size`` of a class-balanced choice. The time of a run is ``fit``'s training time for
one epoch (forward, backward, update; no evaluation); ``s/60k epoch`` scales it per step to a
full 60,000-image epoch (938 steps). Policies are measured in alternation for ``--rounds``
rounds and the best round of each is reported, so slow phases of a shared machine hit all of
them alike; the ``other`` column is the CPU (in cores) that other processes kept busy during
the best round (from /proc/stat), and rows above 0.15 are marked ``*``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

import minifloat as mf
from minifloat import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.environ.get("MINIFLOAT_DATA") or os.path.join(HERE, "..", "..", "shared",
                                                                "datasets")


def busy_jiffies() -> float | None:
    """Busy CPU time of the whole machine in seconds (None where /proc/stat is missing)."""
    try:
        with open("/proc/stat") as fh:
            parts = fh.readline().split()[1:]
    except OSError:
        return None
    v = [int(x) for x in parts]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=DEFAULT_DATA)
    p.add_argument("--train-size", type=int, default=6400)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--policies", nargs="+", default=["fp32", "asymmetric8"])
    p.add_argument("--threads", type=int, default=None, help="minifloat threads (default all)")
    a = p.parse_args()
    if a.threads:
        mf.set_num_threads(a.threads)
    try:
        ds = mf.data.load("fashion-mnist", a.data_dir, download=False)
        source = f"official Fashion-MNIST ({a.data_dir})"
    except OSError:
        ds = mf.data.load("bundled")
        source = "bundled Fashion-MNIST subset"
    ds = ds.subset(min(a.train_size, len(ds.train_labels)), 1, seed=0)
    x, y, _, _ = ds.float32()
    steps = -(-len(y) // a.batch_size)
    print(f"LeNet-5, {source}: {len(y)} images, batch {a.batch_size} ({steps} steps), "
          f"{a.rounds} round(s); minifloat threads {mf.get_num_threads()}, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}")
    best: dict[str, tuple[float, float]] = {}
    for r in range(a.rounds):
        for pol in a.policies:
            time.sleep(0.25)
            b0, c0, t0 = busy_jiffies(), own_cpu(), time.perf_counter()
            res = nn.fit("lenet5", (x, y), None, policy=pol, epochs=1,
                         batch_size=a.batch_size, seed=0, record_offsets=False)
            wall = time.perf_counter() - t0
            b1, c1 = busy_jiffies(), own_cpu()
            other = float("nan") if b0 is None or b1 is None else max(
                0.0, ((b1 - b0) - (c1 - c0)) / wall)
            sec = res.history[0]["seconds"]
            print(f"  round {r + 1} {pol:20s} {sec:8.2f} s  (other {other:.2f})", flush=True)
            if pol not in best or sec < best[pol][0]:
                best[pol] = (sec, other)
    base = best.get("fp32", (None, None))[0]
    print()
    print(f"{'policy':20s} {'s/epoch':>9s} {'ms/step':>8s} {'s/60k epoch':>12s} "
          f"{'vs fp32':>8s} {'other':>6s}")
    flagged = False
    for pol in a.policies:
        sec, other = best[pol]
        mark = "*" if other > 0.15 else " "
        flagged |= other > 0.15
        ratio = f"{sec / base:7.2f}x" if base else "      -"
        print(f"{pol:20s} {sec:9.2f} {1000 * sec / steps:8.1f} {sec / steps * 938:12.1f} "
              f"{ratio:>8s} {other:5.2f}{mark}")
    if flagged:
        print("* other processes were busy during this row: timings are not reliable")
    if base and "asymmetric8" in best:
        ratio = best["asymmetric8"][0] / base
        print(f"\nasymmetric8 / fp32 = {ratio:.2f} (target <= 2.0: "
              f"{'met' if ratio <= 2.0 else 'not met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
