#!/usr/bin/env python
"""Block-scaled encode throughput: minifloat's MXFP8 (E4M3), MXFP4 (E2M1) and NVFP4 against
torchao's CPU references (to_mx with the FLOOR rule, nvfp4_quantize with a per-tensor scale),
with minifloat's own per-tensor E4M3 encode in the same run.

One thread everywhere (minifloat.set_num_threads(1), torch.set_num_threads(1)); the data is
bench_codec's seeded float32 array reshaped to rows of 1024 (blocks along the last axis).
Each row is the best wall time over ``--repeat`` calls, in millions of elements per second.

    python benchmarks/bench_block.py            # 16M elements, best of 5
    python benchmarks/bench_block.py --quick    # 1M elements
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from bench_codec import _load, best_of, cpu_flags, cpu_model, make_data

import minifloat as mf


def _torchao():
    try:
        import torch
        from torchao.prototype.mx_formats.mx_tensor import to_mx
        from torchao.prototype.mx_formats.nvfp4_tensor import (
            nvfp4_quantize,
            per_tensor_amax_to_scale,
        )
    except Exception:  # noqa: BLE001 - any import failure means "skip this peer"
        return None
    torch.set_num_threads(1)
    return torch, to_mx, nvfp4_quantize, per_tensor_amax_to_scale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1 << 24, help="elements (default 16M)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="1M elements, best of 3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--matmul", type=int, default=1024,
                   help="size of the block matmul rows (n^3; 0 skips them)")
    args = p.parse_args(argv)
    n, repeat = (1 << 20, 3) if args.quick else (args.n, args.repeat)
    mf.set_num_threads(1)
    x = make_data(n, args.seed).reshape(-1, 1024)
    print(f"# CPU: {cpu_model()}; flags: {cpu_flags()}; load {_load()}; "
          f"python {sys.version.split()[0]}; pid {os.getpid()}")
    print(f"# {n} float32 elements in rows of 1024, 1 thread, best of {repeat}")
    rows: dict[str, float] = {}

    def add(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        t, _, _ = best_of(fn, repeat)
        rows[name] = n / t / 1e6
        print(f"{name:48s} {rows[name]:9.1f} M elem/s")

    add("minifloat e4m3 per-tensor encode", lambda: mf.encode(x, "e4m3", saturation="finite"))
    add("minifloat mxfp8_e4m3 encode", lambda: mf.encode(x, "mxfp8_e4m3"))
    add("minifloat mxfp4_e2m1 encode", lambda: mf.encode(x, "mxfp4_e2m1"))
    add("minifloat nvfp4 encode (tensor scale)", lambda: mf.encode(x, "nvfp4"))
    add("minifloat mxfp8_e4m3 stochastic_a N=8", lambda: mf.encode(
        x, "mxfp8_e4m3", rounding="stochastic_a", random_bits=8, seed=1))
    bc = mf.encode(x, "mxfp8_e4m3")
    add("minifloat mxfp8_e4m3 decode float32", lambda: mf.decode(bc, "mxfp8_e4m3", np.float32))
    ta = _torchao()
    if ta is not None:
        torch, to_mx, nvfp4_quantize, pts = ta
        t = torch.from_numpy(x)
        add("torchao to_mx float8_e4m3fn FLOOR", lambda: to_mx(t, torch.float8_e4m3fn, 32))
        add("torchao to_mx float4_e2m1 FLOOR", lambda: to_mx(t, torch.float4_e2m1fn_x2, 32))
        add("torchao nvfp4_quantize (tensor scale)",
            lambda: nvfp4_quantize(t, 16, pts(t.abs().max())))
        print("# ratios")
        for ours, theirs in (("minifloat mxfp8_e4m3 encode", "torchao to_mx float8_e4m3fn FLOOR"),
                             ("minifloat mxfp4_e2m1 encode", "torchao to_mx float4_e2m1 FLOOR"),
                             ("minifloat nvfp4 encode (tensor scale)",
                              "torchao nvfp4_quantize (tensor scale)")):
            print(f"{ours} / {theirs}: {rows[ours] / rows[theirs]:.1f}x")
    else:
        print("# torchao not importable: peer rows skipped")
    if args.matmul:
        matmul_rows(args.matmul, args.seed, repeat)
    base = rows["minifloat e4m3 per-tensor encode"]
    for name in ("minifloat mxfp8_e4m3 encode", "minifloat mxfp4_e2m1 encode"):
        print(f"{name} / per-tensor e4m3 encode: {rows[name] / base:.2f}x")
    return 0


def matmul_rows(n: int, seed: int, repeat: int) -> None:
    """Block matmul n^3 (float32 accumulation, MX dot semantics) against NumPy's float32
    matmul (BLAS, 1 thread only if the BLAS honours OMP/OPENBLAS_NUM_THREADS=1)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    flops = 2.0 * n ** 3
    t_np, _, _ = best_of(lambda: a @ b, repeat)
    print(f"{'numpy float32 matmul ' + str(n) + '^3':48s} {flops / t_np / 1e9:9.2f} GFLOP/s")
    for name in ("mxfp8_e4m3", "mxfp4_e2m1", "nvfp4", "mxfp8_e5m2"):
        bf = mf.format(name)
        A, B = mf.encode(a, bf), mf.encode(b, bf.replace(axis=(0,)))
        t, _, _ = best_of(lambda A=A, B=B: mf.block_matmul(A, B), repeat)
        print(f"{'minifloat block_matmul ' + name + ' f32 acc':48s} {flops / t / 1e9:9.2f} "
              f"GFLOP/s  ({t_np / t:.2f}x numpy float32)")


if __name__ == "__main__":
    raise SystemExit(main())
