#!/usr/bin/env python
"""ResNet-18 on CIFAR-10 through minifloat.torch, after Pietrołaj & Blok (Scientific Reports
14, 2024): every Conv2d/Linear's weights, activations, errors and weight gradients in a custom
8-bit float (E4M3 layout) with exponent offsets (policy ``asymmetric8``; any preset or JSON
policy with ``--policy``), float32 accumulation and master weights; BatchNorm in float32.

The full run, one command on a GPU machine (needs ``pip install ".[torch,gpu]"``; the
projections run in minifloat's codec, on the host for policy slots)::

    python experiments/torch_resnet18_cifar10.py --device cuda --download

A reduced run on this CPU: ``--width 8 --subset 2000 --epochs 2``. Without CIFAR-10 the script
stops and names the archive and its SHA-256; ``--stand-in fashion-mnist`` runs the same model
on Fashion-MNIST padded to 32x32 and repeated over 3 channels instead, which is NOT CIFAR-10
(the result file and table say so).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import minifloat as mf
import minifloat.torch as mft

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.environ.get(mf.data.ENV_VAR) or os.path.join(HERE, "..", "..", "shared",
                                                               "datasets")
STAND_IN = ("fashion-mnist", "bundled")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", default="asymmetric8",
                   help="minifloat.nn policy preset or JSON file (default %(default)s)")
    p.add_argument("--width", type=int, default=64, help="stem width (64: standard ResNet-18)")
    p.add_argument("--subset", type=int, default=0,
                   help="class-balanced training subset (0: all 50,000)")
    p.add_argument("--test-subset", type=int, default=0, help="test subset (0: all 10,000)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--no-augment", action="store_true",
                   help="no random crop (padding 4) and horizontal flip")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch/minifloat threads (0: keep)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=DEFAULT_DATA)
    p.add_argument("--download", action="store_true",
                   help="download CIFAR-10 from its authors' site when missing")
    p.add_argument("--stand-in", choices=STAND_IN, default=None,
                   help="run on Fashion-MNIST (32x32x3) instead of CIFAR-10: NOT CIFAR-10")
    p.add_argument("--max-steps", type=int, default=0, help="stop each epoch after this many "
                   "steps (0: whole epoch); for smoke runs")
    p.add_argument("--out", default=None, help="JSON output (default experiments/results/...)")
    return p


def missing_cifar_message(data_dir: str) -> str:
    d = mf.data
    return (f"CIFAR-10 not found under {data_dir} (looked for cifar-10-batches-bin/ and "
            f"{d.CIFAR10_PYTHON_ARCHIVE} in it and in cifar10/). Download {d.CIFAR10_PYTHON_URL} "
            f"({d.CIFAR10_PYTHON_BYTES:,} bytes, SHA-256 "
            f"{d.SHA256['cifar10'][d.CIFAR10_PYTHON_ARCHIVE]}) into {data_dir}/cifar10/, or "
            "pass --download, or --data-dir. (--stand-in fashion-mnist runs on Fashion-MNIST "
            "instead: that is not CIFAR-10.)")


def load_data(args: argparse.Namespace) -> tuple[str, tuple[np.ndarray, ...]]:
    """(dataset label, (x_train, y_train, x_test, y_test)) as normalised float32 NCHW."""
    if args.stand_in:
        ds = mf.data.load(args.stand_in, args.data_dir, download=False)
        label = (f"STAND-IN, NOT CIFAR-10: {ds.name} (28x28 grey padded by 2 to 32x32, "
                 "repeated over 3 channels)")
    else:
        try:
            ds = mf.data.load_cifar10(args.data_dir, download=args.download)
        except FileNotFoundError:
            sys.exit(missing_cifar_message(args.data_dir))
        label = "cifar10"
    tr, te = args.subset or None, args.test_subset or None
    if tr or te:
        ds = ds.subset(tr, te, seed=1234)
    x_tr, y_tr, x_te, y_te = ds.float32()
    if args.stand_in:
        (mean,), (std,) = mf.data.NORMALIZATION[ds.name]

        def to32x3(x: np.ndarray) -> np.ndarray:  # padded with the normalised black pixel
            x = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-mean / std)
            return np.ascontiguousarray(np.repeat(x, 3, axis=1))
        x_tr, x_te = to32x3(x_tr), to32x3(x_te)
    return label, (x_tr, y_tr, x_te, y_te)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop of the 4-pixel zero-padded image and random horizontal flip, per image."""
    n, _, h, w = x.shape
    xp = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def build(args: argparse.Namespace, num_classes: int) -> tuple[torch.nn.Module, Any]:
    """The model under the policy and its quantised SGD."""
    model = mft.resnet18(num_classes, width=args.width, seed=args.seed)
    model = mft.quantize_model(model, args.policy, seed=args.seed)
    model.to(args.device)
    opt = mft.optim.QuantizedOptimizer(
        torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay), model=model)
    return model, opt


def train_step(model: torch.nn.Module, opt: Any, x: torch.Tensor, y: torch.Tensor
               ) -> tuple[float, int]:
    """One SGD step; (loss, correct predictions)."""
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()
    return float(loss.detach()), int((logits.detach().argmax(1) == y).sum())


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, device: str,
             batch: int = 500) -> tuple[float, float]:
    model.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i:i + batch]).to(device)
            yb = torch.from_numpy(y[i:i + batch]).to(device)
            out = model(xb)
            loss += float(F.cross_entropy(out, yb, reduction="sum"))
            correct += int((out.argmax(1) == yb).sum())
    model.train()
    return loss / len(x), correct / len(x)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        mf.set_num_threads(args.threads)
    label, (x_tr, y_tr, x_te, y_te) = load_data(args)
    model, opt = build(args, 10)
    steps_per_epoch = -(-len(x_tr) // args.batch_size)
    if args.max_steps:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    total = args.epochs * steps_per_epoch  # cosine schedule per step (set on the groups)
    gen = torch.Generator().manual_seed(args.seed)
    history = []
    step = 0
    t_start = time.perf_counter()
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(x_tr), generator=gen).numpy()
        loss_sum = correct = seen = 0.0
        for s in range(steps_per_epoch):
            for group in opt.param_groups:
                group["lr"] = 0.5 * args.lr * (1 + math.cos(math.pi * step / total))
            step += 1
            idx = order[s * args.batch_size:(s + 1) * args.batch_size]
            xb = torch.from_numpy(x_tr[idx])
            if not args.no_augment:
                xb = augment(xb, gen)
            loss, c = train_step(model, opt, xb.to(args.device),
                                 torch.from_numpy(y_tr[idx]).to(args.device))
            loss_sum += loss * len(idx)
            correct += c
            seen += len(idx)
        te_loss, te_acc = evaluate(model, x_te, y_te, args.device)
        row = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "test_loss": te_loss, "test_acc": te_acc, "seconds": time.perf_counter() - t0}
        history.append(row)
        print(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"
              f"  test loss {te_loss:.4f} acc {te_acc:.4f}  ({row['seconds']:.0f} s)",
              flush=True)
    pol = mf.nn.get_policy(args.policy)
    result = {
        "experiment": "torch_resnet18_cifar10", "dataset": label,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "policy": pol.to_dict() if hasattr(pol, "to_dict") else pol.name,
        "policy_name": pol.name, "model": f"ResNet-18 (CIFAR form), width {args.width}",
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_examples": len(x_tr), "test_examples": len(x_te),
        "steps_per_epoch": steps_per_epoch,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine(),
                    "device": args.device, "threads": torch.get_num_threads()},
        "history": history, "seconds": time.perf_counter() - t_start,
    }
    out = args.out
    if out is None:
        tag = "STANDIN-" + args.stand_in if args.stand_in else "cifar10"
        out = os.path.join(HERE, "results", f"torch_resnet18_{tag}_{pol.name}_w{args.width}_"
                           f"n{len(x_tr)}_{args.epochs}ep_seed{args.seed}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"\n| dataset | policy | width | train images | epochs | test acc |\n|---|---|---|---|"
          f"---|---|\n| {label} | {pol.name} | {args.width} | {len(x_tr)} | {args.epochs} | "
          f"{history[-1]['test_acc']:.4f} |" if history else "no epochs run")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
