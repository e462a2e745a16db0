#!/usr/bin/env python
"""LNS throughput: minifloat (lns16 = LNSFormat(8, 7)) against xlns (``xlnsnp``, F = 7), in
one run on the same seeded float64 data (log-uniform magnitudes in [2^-20, 2^20], random
signs): conversion float -> LNS, multiplication and addition of two LNS arrays.

    python benchmarks/bench_lns.py            # 1M elements, best of 3
    python benchmarks/bench_lns.py --quick    # 64K elements

xlns is timed on a slice (``--xlns-size``) and reported per element ("scaled"); rows show
millions of elements per second and the speed-up. minifloat's addition is the correctly
rounded "exact" algorithm (tables built before timing); xlns's is its default sbdb_ufunc.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import minifloat as mf


def best(fn, repeat):
    t = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


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
    fmt = mf.format("lns16")
    a, b = mf.asarray(x, fmt), mf.asarray(y, fmt)
    _ = a + b  # build the Gaussian-log tables once (cached per format)
    rows = [("convert", lambda: mf.encode(x, fmt)), ("multiply", lambda: a * b),
            ("add", lambda: a + b)]
    mine = {name: n / best(fn, args.repeat) / 1e6 for name, fn in rows}

    theirs: dict[str, float] = {}
    try:
        import xlns as xl

        xl.xlnssetF(7)
        m = args.xlns_size
        xs, ys = x[:m], y[:m]
        xa, xb = xl.xlnsnp(xs), xl.xlnsnp(ys)
        peer = [("convert", lambda: xl.xlnsnp(xs)), ("multiply", lambda: xa * xb),
                ("add", lambda: xa + xb)]
        theirs = {name: m / best(fn, args.repeat) / 1e6 for name, fn in peer}
        # xlnsnp stores 2*L + sign; minifloat's codes hold L in the low 15 bits
        their_L = xl.xlnsnp(xs).nd >> 1
        codes = mf.encode(xs, fmt).astype(np.int64)
        our_L = ((codes & 0x7FFF) ^ 0x4000) - 0x4000
        agree = float(np.mean(their_L == our_L))
    except ImportError:
        agree = float("nan")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"minifloat threads {mf.get_num_threads()}, n={n}, xlns n={args.xlns_size} (scaled)")
    print(f"{'op':<10}{'minifloat Melem/s':>20}{'xlns Melem/s':>15}{'ratio':>10}")
    for name in mine:
        t = theirs.get(name)
        ratio = f"{mine[name] / t:9.2f}x" if t else "         -"
        print(f"{name:<10}{mine[name]:20.2f}{(t or float('nan')):15.3f}{ratio}")
    print(f"# conversion agreement with xlns (nearest log): {agree:.4%}")


if __name__ == "__main__":
    main()
