#!/usr/bin/env python
"""minifloat.torch speed, peers in the same run:

1. quantize throughput on a 16M-element CPU float32 tensor (1 thread): minifloat.torch.quantize
   vs mf.quantize on the NumPy view of the same data (the torch layer's overhead) and QPyTorch
   float_quantize (E4M3-shaped exp=4, man=3; nearest and stochastic) when it is installed.
2. One LeNet-5 training epoch on the bundled Fashion-MNIST subset (5,000 images, batch 64):
   torch float32, minifloat.torch asymmetric8, QPyTorch E4M3 on every Conv/Linear's
   weights/activations/errors/gradients (its Quantizer + OptimLP) when installed.

    python benchmarks/bench_torch.py            # full
    python benchmarks/bench_torch.py --quick    # 1M elements, 300 training images
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from bench_codec import cpu_flags, cpu_model

import minifloat as mf
import minifloat.torch as mft


def best(fn, repeat):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def qpytorch():
    try:
        from qtorch import FloatingPoint
        from qtorch.optim import OptimLP
        from qtorch.quant import Quantizer, float_quantize, quantizer
        return float_quantize, FloatingPoint, Quantizer, quantizer, OptimLP
    except Exception as e:  # noqa: BLE001 - not installed, or its JIT build failed
        print(f"QPyTorch: not available ({type(e).__name__}: {e})")
        return None


def bench_quantize(n, repeat, qt):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * np.exp2(rng.integers(-12, 9, n))).astype(np.float32)
    t = torch.from_numpy(x)
    rows = []
    for mode, kw in (("nearest_even", {}), ("stochastic_c", {"random_bits": 8, "seed": 1})):
        a = best(lambda m=mode, k=kw: mf.quantize(x, "e4m3", rounding=m, saturation="finite",
                                                  **k), repeat)
        b = best(lambda m=mode, k=kw: mft.quantize(t, "e4m3", rounding=m, saturation="finite",
                                                   **k), repeat)
        rows.append((f"mf.quantize numpy {mode}", n / a / 1e6, 1.0))
        rows.append((f"minifloat.torch.quantize {mode}", n / b / 1e6, a / b))
        if qt is not None:
            qmode = "nearest" if mode == "nearest_even" else "stochastic"
            c = best(lambda m=qmode: qt[0](t, exp=4, man=3, rounding=m), repeat)
            rows.append((f"QPyTorch float_quantize {qmode}", n / c / 1e6, a / c))
    print(f"\nquantize, {n} float32 elements, 1 thread, M elem/s (ratio: vs mf.quantize numpy)")
    for name, r, ratio in rows:
        print(f"  {name:42s} {r:9.1f}   x{ratio:.2f}")
    if qt is not None:
        rate = {nm: r for nm, r, _ in rows}
        for ours, theirs in (("nearest_even", "nearest"), ("stochastic_c", "stochastic")):
            ratio = rate[f"minifloat.torch.quantize {ours}"] / rate[
                f"QPyTorch float_quantize {theirs}"]
            print(f"  minifloat.torch {ours} / QPyTorch {theirs}: x{ratio:.1f}")


def lenet_qpytorch(qt, seed):
    _, FP, Quantizer, quantizer, OptimLP = qt
    fmt = FP(exp=4, man=3)
    net = mft.lenet5(seed=seed)

    def q():
        return Quantizer(forward_number=fmt, backward_number=fmt, forward_rounding="nearest",
                         backward_rounding="nearest")
    layers = []
    for m in list(net.features) + list(net.classifier):
        layers.append(m)
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            layers.append(q())
    model = torch.nn.Sequential(*layers)
    opt = OptimLP(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                  weight_quant=quantizer(forward_number=fmt, forward_rounding="nearest"),
                  grad_quant=quantizer(forward_number=fmt, forward_rounding="nearest"),
                  momentum_quant=quantizer(forward_number=fmt, forward_rounding="nearest"))
    return model, opt


def bench_epoch(limit, repeat, qt):
    ds = mf.data.load("bundled")
    xtr, ytr, _, _ = ds.float32()
    xtr, ytr = xtr[:limit], ytr[:limit]
    order = np.random.default_rng(0).permutation(len(xtr))

    def epoch(model, opt):
        model.train()
        for s in range(0, len(order), 64):
            idx = order[s:s + 64]
            opt.zero_grad()
            F.cross_entropy(model(torch.from_numpy(xtr[idx])), torch.from_numpy(ytr[idx])
                            ).backward()
            opt.step()

    def fp32():
        m = mft.lenet5(seed=0)
        return m, torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    def asym8():
        m = mft.quantize_model(mft.lenet5(seed=0), "asymmetric8")
        return m, mft.optim.QuantizedOptimizer(
            torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9), model=m)

    runs = [("torch float32", fp32), ("minifloat.torch asymmetric8", asym8)]
    if qt is not None:
        runs.append(("QPyTorch E4M3 (Quantizer + OptimLP)", lambda: lenet_qpytorch(qt, 0)))
    print(f"\nLeNet-5 epoch, {len(xtr)} bundled Fashion-MNIST images, batch 64, "
          f"{torch.get_num_threads()} torch thread(s), best of {repeat}")
    base = None
    for name, build in runs:
        secs = []
        for _ in range(repeat):
            model, opt = build()
            t0 = time.perf_counter()
            epoch(model, opt)
            secs.append(time.perf_counter() - t0)
        s = min(secs)
        base = base or s
        print(f"  {name:42s} {s:7.2f} s   x{s / base:.2f} torch float32")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    mf.set_num_threads(args.threads)
    print(f"machine: {cpu_model()}; CPU flags: {cpu_flags()}; {platform.python_version()}; "
          f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}); minifloat "
          f"threads {mf.get_num_threads()}")
    qt = qpytorch()
    bench_quantize(1 << 20 if args.quick else 1 << 24, args.repeat, qt)
    bench_epoch(300 if args.quick else 5000, 1 if args.quick else args.repeat, qt)


if __name__ == "__main__":
    main()
