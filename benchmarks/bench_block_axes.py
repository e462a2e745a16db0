"""Block encode throughput by block axis: blocks along the last axis (contiguous) versus
along axis 0 (elements `inner` apart, the layout of a weight gradient's operands), for each
preset, 1 thread (set MINIFLOAT_NUM_THREADS=1), best of a 0.3 s loop per row.

    MINIFLOAT_NUM_THREADS=1 python benchmarks/bench_block_axes.py
"""

from __future__ import annotations

import time

import numpy as np

import minifloat as mf
from minifloat import blocks

SHAPES = [((64, 400), 1), ((64, 400), 0), ((9216, 150), 0), ((1024, 1024), 1),
          ((1024, 1024), 0)]


def main() -> None:
    """Print M elem/s of minifloat.blocks.encode per preset, shape and block axis."""
    rng = np.random.default_rng(0)
    for name in ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp4_e2m1", "nvfp4"]:
        bf = mf.format(name)
        for shape, axis in SHAPES:
            x = rng.standard_normal(shape).astype(np.float32)
            f = bf.replace(axis=axis, padding="zeros")
            blocks.encode(x, f)
            best = float("inf")
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.3:
                t = time.perf_counter()
                blocks.encode(x, f)
                best = min(best, time.perf_counter() - t)
            print(f"{name:12s} {str(shape):14s} axis {axis}: {x.size / best / 1e6:8.1f} M elem/s")


if __name__ == "__main__":
    main()
