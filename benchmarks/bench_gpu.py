#!/usr/bin/env python
"""GPU throughput of the CUDA backend (CuPy + NVRTC) against device copy bandwidth and torch.

    python benchmarks/bench_gpu.py             # 256M elements (1 << 28) or what fits, best of 10
    python benchmarks/bench_gpu.py --quick     # 4M elements, best of 3 (smoke run)
    python benchmarks/bench_gpu.py --n 67108864 --repeat 20 --matmul-n 8192

Rows (OCP E4M3 = ``float8_e4m3fn``; one seeded float32 array of standard normals times 2**k,
k uniform in [-12, 8], so subnormals, normals and overflow all occur):

- ``copy``: ``cupy.copyto`` of the float32 array (read 4 + write 4 bytes per element), the
  roof every streaming kernel is measured against ("vs copy" = its GB/s / copy's GB/s);
- ``encode`` nearest_even (saturation none and finite) and stochastic (seeded Philox, 8 random
  bits): ``mf.encode`` on the CuPy array (read 4 + write 1 bytes).  (No row with an explicit
  ``random=`` array: ``mf.encode`` validates it on the host, so it would time PCIe transfers);
- ``decode``: ``mf.decode`` of the codes to float32 (read 1 + write 4);
- ``multiply``: ``minifloat.backends.cuda.elementwise("multiply", ...)``, E4M3 x E4M3 -> E4M3,
  nearest_even and stochastic_a with Philox bits (read 2 + write 1);
- ``torch``: ``tensor.to(torch.float8_e4m3fn)`` on the same CUDA array (if torch with CUDA is
  importable); "vs torch" on an encode row = torch's time / its time (> 1: faster than torch),
  and the script reports which minifloat saturation gives torch's codes;
- ``cupy.matmul`` float32 (M x M x M): a reference only, reported in TFLOP/s.
- ``mf.matmul`` of E4M3 MiniArrays on the GPU (``--mf-matmul-n``, default 1024) with the
  float32 and the float16 accumulator: the generic contraction kernel of
  ``minifloat/backends/cuda_linalg.py``, first checked against the CPU on 64 rows.

Times are CUDA-event times of one call, best of ``--repeat`` after a warm-up call (which also
compiles the kernels).  Before timing, the first 2**20 elements of every minifloat row are
checked against the CPU backend bit for bit.  Exits with status 2 and a message naming what is
missing when CuPy or a CUDA device is not available.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

CHECK = 1 << 20


def _require_gpu() -> Any:
    """The cupy module, or exit 2 with a message naming what is missing."""
    try:
        import cupy as cp
    except ImportError as e:
        sys.exit(_fail(f"CuPy is not installed (pip install minifloat[gpu]): {e}"))
    try:
        count = int(cp.cuda.runtime.getDeviceCount())
    except Exception as e:  # CUDA driver missing or broken
        sys.exit(_fail(f"CuPy is installed but the CUDA runtime found no device: {e}"))
    if count == 0:
        sys.exit(_fail("CuPy is installed but sees no NVIDIA GPU (check the driver and "
                       "CUDA_VISIBLE_DEVICES)"))
    return cp


def _fail(msg: str) -> int:
    print(f"bench_gpu.py needs CuPy and an NVIDIA GPU: {msg}", file=sys.stderr)
    return 2


def _try_torch_cuda() -> Any:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available() or not hasattr(torch, "float8_e4m3fn"):
        return None
    return torch


def best_ms(cp: Any, fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: kernel compilation, memory pool
    cp.cuda.Device().synchronize()
    best = float("inf")
    start, end = cp.cuda.Event(), cp.cuda.Event()
    for _ in range(repeat):
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, float(cp.cuda.get_elapsed_time(start, end)))
    return best


def fitting_size(cp: Any, n: int) -> int:
    """``n`` halved until the arrays of this benchmark (at most about 32 bytes per element
    while the input is generated, 20 afterwards) fit in 80% of the free device memory."""
    free, _ = cp.cuda.runtime.memGetInfo()
    while n > 1 << 20 and 32 * n > 0.8 * free:
        n //= 2
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=1 << 28, help="elements (default 2**28)")
    ap.add_argument("--repeat", type=int, default=10, help="timed calls per row (best kept)")
    ap.add_argument("--matmul-n", type=int, default=8192, help="M of the float32 M x M matmul")
    ap.add_argument("--mf-matmul-n", type=int, default=1024,
                    help="M of the minifloat E4M3 M x M x M products (default 1024)")
    ap.add_argument("--quick", action="store_true",
                    help="4M elements, 3 repeats, M = 2048, minifloat products 256")
    args = ap.parse_args(argv)
    if args.n < 1 or args.repeat < 1 or args.matmul_n < 1 or args.mf_matmul_n < 1:
        ap.error("--n, --repeat, --matmul-n and --mf-matmul-n must be positive")
    cp = _require_gpu()

    import minifloat as mf
    from minifloat.backends import cuda

    if args.quick:
        args.n, args.repeat, args.matmul_n, args.mf_matmul_n = 1 << 22, 3, 2048, 256
    n = fitting_size(cp, args.n)
    f = mf.format("e4m3")
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    torch = _try_torch_cuda()
    print(f"device: {name}; CuPy {cp.__version__}, CUDA runtime "
          f"{cp.cuda.runtime.runtimeGetVersion()}; minifloat {mf.__version__}; "
          f"torch {torch.__version__ if torch is not None else 'not available (CUDA)'}")
    print(f"elements: {n} ({n / 2**20:.0f} Mi){' (reduced to fit)' if n != args.n else ''}; "
          f"best of {args.repeat}")

    rs = cp.random.RandomState(0)
    x = (rs.standard_normal(n, dtype=cp.float32)
         * cp.exp2(rs.randint(-12, 9, n, dtype=cp.int32).astype(cp.float32)))
    x2 = rs.standard_normal(n, dtype=cp.float32)
    dst = cp.empty_like(x)
    codes = mf.encode(x, f)
    codes2 = mf.encode(x2, f)

    def multiply(mode: int = 0, nbits: int = 0, rsrc: int = 0, seed: int = 0,
                 n_: int | None = None) -> Any:
        a, b = (codes, codes2) if n_ is None else (codes[:n_], codes2[:n_])
        return cuda.elementwise("multiply", a, f, b, f, None, None, f, mode, 0, nbits, False,
                                rsrc, seed, 0, None)

    rows: list[tuple[str, int, Callable[[], Any], str]] = [
        ("copy float32 (cupy.copyto)", 8, lambda: cp.copyto(dst, x), "copy"),
        ("encode nearest_even", 5, lambda: mf.encode(x, f), "enc"),
        ("encode nearest_even sat. finite", 5,
         lambda: mf.encode(x, f, saturation="finite"), "encsat"),
        ("encode stochastic (Philox, 8 bits)", 5,
         lambda: mf.encode(x, f, rounding="stochastic", random_bits=8, seed=7), "sr"),
        ("decode -> float32", 5, lambda: mf.decode(codes, f, dtype=cp.float32), "dec"),
        ("multiply E4M3 x E4M3 nearest_even", 3, multiply, "mul"),
        ("multiply E4M3 x E4M3 stochastic_a", 3, lambda: multiply(7, 8, 1, 7), "mulsr"),
    ]

    # correctness on a prefix: GPU == CPU bit for bit
    xh, x2h = x[:CHECK].get(), x2[:CHECK].get()
    ch, c2h = mf.encode(xh, f), mf.encode(x2h, f)
    checks = {
        "encode nearest_even": (mf.encode(x[:CHECK], f), ch),
        "encode sat. finite": (mf.encode(x[:CHECK], f, saturation="finite"),
                               mf.encode(xh, f, saturation="finite")),
        "encode stochastic": (mf.encode(x[:CHECK], f, rounding="stochastic", random_bits=8,
                                        seed=7),
                              mf.encode(xh, f, rounding="stochastic", random_bits=8, seed=7)),
        "decode": (mf.decode(codes[:CHECK], f, dtype=cp.float32).view(cp.uint32),
                   mf.decode(ch, f, dtype=np.float32).view(np.uint32)),
        "multiply": (multiply(n_=CHECK),
                     mf.multiply(mf.from_codes(ch, f), mf.from_codes(c2h, f)).codes),
        "multiply stochastic": (
            multiply(7, 8, 1, 7, n_=CHECK),
            mf.multiply(mf.from_codes(ch, f), mf.from_codes(c2h, f), rounding="stochastic_a",
                        random_bits=8, seed=7, offset=0).codes),
    }
    bad = [k for k, (g, w) in checks.items() if not np.array_equal(g.get(), w)]
    if bad:
        print(f"ERROR: GPU != CPU on the first {CHECK} elements for: {', '.join(bad)}",
              file=sys.stderr)
        return 1
    print(f"check: GPU == CPU bit for bit on the first {CHECK} elements "
          f"({', '.join(checks)}): OK")

    ms: dict[str, float] = {}
    table: list[tuple[str, int, float, str]] = []
    for label, nbytes, fn, key in rows:
        ms[key] = best_ms(cp, fn, args.repeat)
        table.append((label, nbytes, ms[key], key))
    notes = []
    if torch is not None:
        tx = torch.as_tensor(x, device="cuda")
        t8 = tx.to(torch.float8_e4m3fn)
        tcodes = cp.asarray(t8.view(torch.uint8))
        same = [s for s, c in (("finite", mf.encode(x, f, saturation="finite")),
                               ("none", codes)) if bool((tcodes == c).all())]
        notes.append("torch float8_e4m3fn codes == mf.encode(saturation="
                     f"{' / '.join(repr(s) for s in same)})" if same else
                     "WARNING: torch float8_e4m3fn codes differ from mf.encode with "
                     "saturation 'finite' and 'none'")
        ms["torch"] = best_ms(cp, lambda: tx.to(torch.float8_e4m3fn), args.repeat)
        table.append(("torch tensor.to(float8_e4m3fn)", 5, ms["torch"], "torch"))
    else:
        notes.append("torch with CUDA not importable: torch row skipped")

    copy_gbs = 8 * n / (ms["copy"] * 1e-3) / 1e9
    print()
    print(f"{'operation':<38} {'B/elem':>6} {'ms':>9} {'GB/s':>8} {'Melem/s':>9} "
          f"{'vs copy':>8} {'vs torch':>9}")
    torch_vs = {"enc", "encsat", "sr"}
    for label, nbytes, t, key in table:
        gbs = nbytes * n / (t * 1e-3) / 1e9
        vs_t = f"{ms['torch'] / t:9.2f}" if "torch" in ms and key in torch_vs else f"{'':>9}"
        print(f"{label:<38} {nbytes:>6} {t:9.3f} {gbs:8.1f} {n / (t * 1e-3) / 1e6:9.0f} "
              f"{gbs / copy_gbs:8.2f} {vs_t}")

    m = args.matmul_n
    a = rs.standard_normal((m, m), dtype=cp.float32)
    b = rs.standard_normal((m, m), dtype=cp.float32)
    t_mm = best_ms(cp, lambda: cp.matmul(a, b), args.repeat)
    print(f"{'cupy.matmul float32 ' + f'{m}x{m}x{m}':<38} {'':>6} {t_mm:9.3f} "
          f"{2 * m**3 / (t_mm * 1e-3) / 1e12:8.2f} TFLOP/s (reference only)")
    # minifloat products (the generic contraction kernel, cuda_linalg.py), checked against the
    # CPU on a 64-row slice first
    q = args.mf_matmul_n
    qa = mf.asarray(rs.standard_normal((q, q), dtype=cp.float32), f)
    qb = mf.asarray(rs.standard_normal((q, q), dtype=cp.float32), f)
    cpu_a, cpu_b = qa[:64].get(), qb.get()
    for acc in ("float32", "float16"):
        g = mf.matmul(qa[:64], qb, accumulator=acc).codes.get()
        if not np.array_equal(g, mf.matmul(cpu_a, cpu_b, accumulator=acc).codes):
            print(f"ERROR: GPU != CPU for the E4M3 product with accumulator={acc}",
                  file=sys.stderr)
            return 1
        t = best_ms(cp, lambda acc=acc: mf.matmul(qa, qb, accumulator=acc),
                    max(1, min(args.repeat, 3)))
        ref_ms = best_ms(cp, lambda: cp.matmul(a[:q, :q], b[:q, :q]), args.repeat) \
            if q <= m else float("nan")
        print(f"{f'mf.matmul E4M3 acc={acc} {q}^3':<38} {'':>6} {t:9.3f} "
              f"{2 * q**3 / (t * 1e-3) / 1e9:8.2f} GFLOP/s; cupy float32 same size "
              f"{ref_ms:.3f} ms: {t / ref_ms:.0f}x slower")
    notes.append("mf.matmul rows: the generic contraction kernel (one thread per output, no "
                 "tiling, exact products, every addition rounded by project.h), checked == CPU "
                 "on 64 rows; cupy.matmul float32 rows are the reference")
    notes.append("vs copy: GB/s / copy GB/s; vs torch: torch ms / this ms (> 1: faster)")
    print()
    for s in notes:
        print(f"note: {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
