#!/usr/bin/env python
"""LNS throughput: minifloat against xlns (``xlnsnp``), in one run on the same seeded float64
data (log-uniform magnitudes in [2^-20, 2^20], random signs): conversion float -> LNS,
multiplication, addition and subtraction of two arrays in lns16 = LNSFormat(8, 7) against xlns
at F = 7, stochastic addition (no xlns counterpart), and lns8 = LNSFormat(4, 3) against xlns at
F = 3 on data mapped into lns8's range (log-uniform in [2^-10, 2^8], about 12% underflow to
zero; lns8's deterministic + and - use the 64K pair tables).

    python benchmarks/bench_lns.py            # 1M elements, best of 3
    python benchmarks/bench_lns.py --quick    # 64K elements

xlns is timed on a slice (``--xlns-size``) and reported per element ("scaled"); rows show
millions of elements per second and the speed-up. minifloat's addition is the correctly
rounded "exact" algorithm (tables built before timing); xlns's is its default sbdb_ufunc.
The load average is printed: on a shared machine only the same-run ratios mean anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import minifloat as mf


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall-clock time and best process CPU time (all threads) of `repeat` calls."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def _xlns_ops(xl: Any, xs: np.ndarray, ys: np.ndarray) -> dict[str, Callable[[], Any]]:
    """The timed xlns calls at the current xlnssetF."""
    xa, xb = xl.xlnsnp(xs), xl.xlnsnp(ys)
    return {"convert": lambda: xl.xlnsnp(xs), "multiply": lambda: xa * xb,
            "add": lambda: xa + xb, "subtract": lambda: xa - xb,
            "lns8 multiply": lambda: xa * xb, "lns8 add": lambda: xa + xb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--xlns-size", type=int, default=1 << 16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.size, args.xlns_size = 1 << 16, 1 << 14
    rng = np.random.default_rng(1)
    n = args.size
    x = np.exp2(rng.uniform(-20, 20, n)) * rng.choice([-1.0, 1.0], n)
    y = np.exp2(rng.uniform(-20, 20, n)) * rng.choice([-1.0, 1.0], n)
    f16, f8 = mf.format("lns16"), mf.format("lns8")
    a, b = mf.asarray(x, f16), mf.asarray(y, f16)
    # log-uniform in [2^-10, 2^8]: lns8's range, about 12% underflow to zero
    x8, y8 = np.sign(x) * np.abs(x) ** 0.45 / 2, np.sign(y) * np.abs(y) ** 0.45 / 2
    a8, b8 = mf.asarray(x8, f8), mf.asarray(y8, f8)
    for u, v in ((a, b), (a8, b8)):  # build the Gaussian-log and pair tables once (cached)
        _ = u + v, u - v, u * v
    rows = [("convert", 7, lambda: mf.encode(x, f16)), ("multiply", 7, lambda: a * b),
            ("add", 7, lambda: a + b), ("subtract", 7, lambda: a - b),
            ("add stochastic", 7, lambda: mf.add(a, b, rounding="stochastic", seed=1)),
            ("lns8 multiply", 3, lambda: a8 * b8), ("lns8 add", 3, lambda: a8 + b8)]
    mine = {name: best(fn, args.repeat) for name, _, fn in rows}

    theirs: dict[str, tuple[float, float]] = {}
    agree = float("nan")
    try:
        import xlns as xl

        m = args.xlns_size
        xs, ys = x[:m], y[:m]
        for F, names in ((7, ("convert", "multiply", "add", "subtract")),
                         (3, ("lns8 multiply", "lns8 add"))):
            xl.xlnssetF(F)
            peer = _xlns_ops(xl, xs, ys) if F == 7 else _xlns_ops(xl, x8[:m], y8[:m])
            for name in names:
                theirs[name] = best(peer[name], args.repeat)
            if F == 7:
                # xlnsnp stores 2*L + sign; minifloat's codes hold L in the low 15 bits
                their_L = xl.xlnsnp(xs).nd >> 1
                codes = mf.encode(xs, f16).astype(np.int64)
                our_L = ((codes & 0x7FFF) ^ 0x4000) - 0x4000
                agree = float(np.mean(their_L == our_L))
    except ImportError:
        pass
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"minifloat threads {mf.get_num_threads()}, n={n}, xlns n={args.xlns_size} (scaled), "
          f"load average {os.getloadavg()[0]:.2f}")
    print("# Melem/s from wall-clock time; 'per CPU-s' from process CPU time (all threads), which")
    print("# a loaded machine disturbs less; ratios are minifloat / xlns")
    print(f"{'op':<16}{'minifloat Melem/s':>18}{'xlns Melem/s':>13}{'ratio':>9}"
          f"{'ratio per CPU-s':>17}")
    for name, (wall, cpu) in mine.items():
        ours = n / wall / 1e6
        if name in theirs:
            t_wall, t_cpu = theirs[name]
            theirs_rate = args.xlns_size / t_wall / 1e6
            ratio = f"{ours / theirs_rate:8.2f}x"
            cpu_ratio = f"{t_cpu / args.xlns_size / (cpu / n):16.2f}x" if cpu > 0 else " " * 17
        else:
            theirs_rate, ratio, cpu_ratio = float("nan"), "        -", "                -"
        print(f"{name:<16}{ours:18.2f}{theirs_rate:13.3f}{ratio}{cpu_ratio}")
    print(f"# conversion agreement with xlns (nearest log): {agree:.4%}")


if __name__ == "__main__":
    main()
