"""Shared code of the experiment scripts: data loading, one training run, tables, JSON output.

Every script runs from the repository root, reads the official dataset files (``--data-dir``,
default ``$MINIFLOAT_DATA`` or ``../shared/datasets``), trains with :func:`minifloat.nn.fit`
and writes its measurements to ``experiments/results/<name>.json`` plus a Markdown table on
stdout. ``--train-size``/``--test-size``/``--epochs`` shrink a run for small machines; the
values used are part of the output and of docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np

import minifloat as mf
from minifloat import nn

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
DEFAULT_DATA = os.environ.get(mf.data.ENV_VAR) or os.path.join(HERE, "..", "..", "shared",
                                                               "datasets")


def base_parser(description: str, *, epochs: int, train_size: int | None,
                test_size: int | None = None) -> argparse.ArgumentParser:
    """Arguments every experiment takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data-dir", default=DEFAULT_DATA)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--train-size", type=int, default=train_size,
                   help="class-balanced training subset (default: %(default)s; 0 = all 60,000)")
    p.add_argument("--test-size", type=int, default=test_size,
                   help="class-balanced test subset (default: all 10,000)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--engine", default="numpy", choices=("numpy", "torch"),
                   help="numpy: minifloat.nn.fit; torch: minifloat.torch.fit (same protocol)")
    p.add_argument("--out", default=None, help="JSON output (default experiments/results/...)")
    return p


def load(name: str, args: argparse.Namespace) -> tuple[Any, tuple[np.ndarray, np.ndarray],
                                                      tuple[np.ndarray, np.ndarray]]:
    """Dataset ``name`` (subset per ``args``), normalised float32 train and test tuples."""
    ds = mf.data.load(name, args.data_dir, download=False)
    tr = args.train_size or None
    te = args.test_size or None
    if tr is not None or te is not None:
        ds = ds.subset(tr, te, seed=1234)
    x_tr, y_tr, x_te, y_te = ds.float32()
    return ds, (x_tr, y_tr), (x_te, y_te)


def train(policy: Any, train_data: Any, test_data: Any, args: argparse.Namespace, seed: int,
          model: str = "lenet5") -> dict[str, Any]:
    """One run; returns the FitResult dict plus a policy label and wall time."""
    t0 = time.perf_counter()

    def log_epoch(ev: dict[str, Any]) -> None:
        if ev["event"] == "epoch":
            print(f"    epoch {ev['epoch']}: train loss {ev['train_loss']:.4f}, test acc "
                  f"{100 * (ev['test_acc'] or 0.0):.2f}% ({ev['seconds']:.0f} s)",
                  file=sys.stderr, flush=True)

    if getattr(args, "engine", "numpy") == "torch":
        import minifloat.torch as mft

        fit: Any = mft.fit
    else:
        fit = nn.fit
    res = fit(model, train_data, test_data, policy=policy, epochs=args.epochs,
                 batch_size=args.batch_size, lr=args.lr,
                 schedule=None if args.schedule == "none" else args.schedule, seed=seed,
                 callback=log_epoch)
    d = res.to_dict()
    d["label"] = nn.get_policy(policy).name
    d["wall_seconds"] = time.perf_counter() - t0
    d.pop("offsets", None)  # large; not needed in the tables
    h = d["history"][-1]
    print(f"  {d['label']:28s} seed {seed}: test acc {100 * h['test_acc']:.2f}%  "
          f"loss {h['test_loss']:.4f}  ({d['wall_seconds']:.0f} s)", file=sys.stderr,
          flush=True)
    return d


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform(),
            "minifloat_threads": mf.get_num_threads()}


def save(name: str, args: argparse.Namespace, payload: dict[str, Any]) -> str:
    """Write the JSON record (atomic rename)."""
    os.makedirs(RESULTS, exist_ok=True)
    path = args.out or os.path.join(RESULTS, f"{name}.json")
    record = {"experiment": name, "command": "python " + " ".join(sys.argv),
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M"), **payload}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, default=str)
    os.replace(tmp, path)
    print(f"wrote {path}", file=sys.stderr)
    return path


def mean_acc(runs: list[dict[str, Any]]) -> float:
    """Mean final test accuracy (%) over runs."""
    return float(np.mean([100 * r["history"][-1]["test_acc"] for r in runs]))


def markdown(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
