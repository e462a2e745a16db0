"""``minifloat train``: train a small CNN with every tensor of training emulated in a number
format (a :class:`minifloat.nn.QuantPolicy`), optionally next to a float32 baseline run with the
same seed and hyper-parameters.

Output: a tqdm progress bar with running loss and accuracy, one line per epoch, then a table
(test accuracy, test loss, memory of the training state, seconds per epoch) for each run; with
``--log`` a JSON record of everything; with ``--plot`` learning curves (PNG/PDF/SVG).

Exit status: 0 done; 1 data or output file error; 2 bad arguments (unknown policy, format,
unusable device, unwritable output folder); 130 interrupted. Output files are written
atomically (temporary file, then rename), so a failed or interrupted run leaves none.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import sys
import tempfile
import time
from typing import Any

import numpy as np

from .nn.policy import POLICIES

DEFAULT_EPOCHS = 3
DATASET_CHOICES = ("bundled", "fashion-mnist", "mnist", "cifar10")
DEVICE_CHOICES = ("cpu", "cuda")
PLOT_TYPES = (".png", ".pdf", ".svg")


class UsageError(ValueError):
    """A bad command-line argument (exit status 2)."""


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


def _nonnegative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def _nonnegative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to an ``argparse`` sub-parsers object; its ``run``
    default is :func:`run_train`."""
    p = subparsers.add_parser(
        "train", help="train a small CNN in an emulated number format",
        description="Train a small CNN with every tensor of training emulated in a number "
                    "format (a quantisation policy), optionally next to a float32 baseline "
                    "with the same seed and hyper-parameters.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="lenet5",
                   help="model: lenet5, alexnet_small, resnet8, resnet20")
    p.add_argument("--dataset", default="bundled", choices=DATASET_CHOICES,
                   help="bundled: the Fashion-MNIST subset shipped with the package (offline)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the official dataset files (default: $MINIFLOAT_DATA, "
                        "else ~/.cache/minifloat/datasets; downloaded there when missing)")
    p.add_argument("--no-download", action="store_true",
                   help="never download; fail when the files are not found")
    p.add_argument("--policy", default="asymmetric8",
                   help="quantisation policy: a preset (" + ", ".join(POLICIES) + ") or a JSON "
                        "file")
    p.add_argument("--format", default=None, dest="number_format", metavar="FORMAT",
                   help="put every quantised role of the policy in this format (e4m3, e5m2, "
                        "binary8p3, ...)")
    p.add_argument("--bias", type=int, default=None,
                   help="exponent bias of --format (asymmetric exponent offset)")
    p.add_argument("--rounding", default=None,
                   help="rounding of every quantised role with --format (nearest_even, "
                        "toward_zero, stochastic_c, ...)")
    p.add_argument("--epochs", type=_positive_int, default=DEFAULT_EPOCHS)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--lr", type=_positive_float, default=0.05, help="learning rate")
    p.add_argument("--momentum", type=_nonnegative_float, default=0.9)
    p.add_argument("--weight-decay", type=_nonnegative_float, default=0.0)
    p.add_argument("--schedule", default="none", choices=("none", "step", "cosine", "plateau"),
                   help="learning-rate schedule over the epochs")
    p.add_argument("--seed", type=_nonnegative_int, default=0,
                   help="seeds initialisation, example order, dropout and stochastic rounding")
    p.add_argument("--device", default="cpu", choices=DEVICE_CHOICES)
    p.add_argument("--engine", default="numpy", choices=("numpy", "torch"),
                   help="numpy: minifloat.nn; torch: the same job through PyTorch "
                        "(minifloat.torch.fit, lenet5 only; needs torch)")
    p.add_argument("--compare", default=None, metavar="POLICY",
                   help="also train this policy (e.g. fp32) with the same seed and settings and "
                        "print both side by side")
    p.add_argument("--limit-train", type=_positive_int, default=None, metavar="N",
                   help="use N class-balanced training images (quick runs)")
    p.add_argument("--limit-test", type=_positive_int, default=None, metavar="N",
                   help="use N class-balanced test images")
    p.add_argument("--log", default=None, metavar="FILE.json",
                   help="write a JSON log: settings, per-epoch history, memory, offsets")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="write learning curves (loss and accuracy per epoch; .png/.pdf/.svg)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)
    return p


# --------------------------------------------------------------------------- checks

def _check_output(path: str | None, option: str, suffixes: tuple[str, ...] | None = None
                  ) -> None:
    if path is None:
        return
    if suffixes is not None and os.path.splitext(path)[1].lower() not in suffixes:
        raise UsageError(f"{option} {path!r}: the file name must end in "
                         f"{', '.join(suffixes)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path!r}: folder {folder!r} is not writable")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a folder")


def _check_device(device: str, fit: Any) -> dict[str, Any]:
    """Keyword arguments for ``fit`` selecting ``device``; UsageError when unusable."""
    if device == "cpu":
        return {}
    try:
        import cupy  # type: ignore[import-not-found]

        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # ImportError, or a CUDA runtime/driver error
        raise UsageError(f"--device cuda needs CuPy and an NVIDIA GPU ({type(e).__name__}: "
                         f"{e}); use --device cpu") from None
    if n < 1:
        raise UsageError("--device cuda: no CUDA device found; use --device cpu")
    if "device" not in inspect.signature(fit).parameters:
        raise UsageError("--device cuda: this build's minifloat.nn trains on the CPU only; "
                         "use --device cpu")
    return {"device": "cuda"}


def _resolve_policies(args: argparse.Namespace, nn: Any) -> list[Any]:
    try:
        policy = nn.get_policy(args.policy)
    except (ValueError, TypeError, KeyError) as e:
        raise UsageError(f"--policy {args.policy!r}: {e}") from None
    except OSError as e:
        raise UsageError(f"--policy {args.policy!r}: cannot read it ({e})") from None
    except json.JSONDecodeError as e:  # pragma: no cover - ValueError subclass, caught above
        raise UsageError(f"--policy {args.policy!r}: not valid JSON ({e})") from None
    if args.number_format is not None:
        try:
            policy = policy.with_format(args.number_format, bias=args.bias,
                                        rounding=args.rounding)
            # a rounding that is not a mode fails here rather than mid-run
            nn.QuantPolicy.from_dict(policy.to_dict())
        except (ValueError, TypeError, KeyError) as e:
            raise UsageError(f"--format {args.number_format!r}: {e}") from None
    elif args.bias is not None or args.rounding is not None:
        raise UsageError("--bias and --rounding apply to --format; give --format too "
                         "(e.g. --format e4m3 --bias 11)")
    policies = [policy]
    if args.compare is not None:
        try:
            policies.append(nn.get_policy(args.compare))
        except (ValueError, TypeError, KeyError, OSError) as e:
            raise UsageError(f"--compare {args.compare!r}: {e}") from None
    return policies


def _engine_fit(args: argparse.Namespace, nn: Any) -> Any:
    """The ``fit`` of ``--engine``; UsageError when the torch engine cannot run this job."""
    if args.engine == "numpy":
        return nn.fit
    try:
        from . import torch as mft
    except ImportError as e:
        raise UsageError(f"--engine torch needs PyTorch ({e}); pip install torch==2.13.0 "
                         "(CPU build)") from None
    if args.model not in mft.train.MODELS:
        raise UsageError(f"--engine torch: --model {args.model!r}; allowed: "
                         f"{', '.join(mft.train.MODELS)}")
    if args.device != "cpu":
        raise UsageError("--engine torch runs on the CPU here; use --device cpu")
    return mft.fit


def _check_model(name: str, nn: Any) -> None:
    models = tuple(getattr(nn, "MODELS", ()))
    if models and name not in models:
        raise UsageError(f"--model {name!r}; allowed: {', '.join(models)}")


# --------------------------------------------------------------------------- output

def _write_atomic_bytes(path: str, payload: bytes) -> None:
    """Write via a temporary file in the same folder, then rename: never half-written."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".minifloat-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def summary_table(runs: list[dict[str, Any]]) -> str:
    """The final table: one row per run, with differences to the last run (the baseline)
    when there are two or more."""
    head = ["policy", "test acc", "test loss", "train loss", "memory", "vs STE", "s/epoch"]
    rows = []
    for r in runs:
        h = r["history"][-1]
        mem = r.get("memory") or {}
        acc = h.get("test_acc")
        rows.append([
            r["label"],
            "-" if acc is None else f"{100 * acc:.2f}%",
            "-" if h.get("test_loss") is None else f"{h['test_loss']:.4f}",
            f"{h['train_loss']:.4f}",
            _mib(mem["total"]) if "total" in mem else "-",
            f"{100 * mem['ratio_vs_ste']:.0f}%" if "ratio_vs_ste" in mem else "-",
            f"{r['seconds_per_epoch']:.1f}",
        ])
    if len(runs) >= 2:
        base = runs[-1]
        bh = base["history"][-1]
        for r in runs[:-1]:
            h = r["history"][-1]
            d_acc = ("-" if h.get("test_acc") is None or bh.get("test_acc") is None
                     else f"{100 * (h['test_acc'] - bh['test_acc']):+.2f} pp")
            d_loss = ("-" if h.get("test_loss") is None or bh.get("test_loss") is None
                      else f"{h['test_loss'] - bh['test_loss']:+.4f}")
            bm, m = base.get("memory") or {}, r.get("memory") or {}
            d_mem = (f"x{m['total'] / bm['total']:.2f}" if "total" in m and bm.get("total")
                     else "-")
            d_t = (f"x{r['seconds_per_epoch'] / base['seconds_per_epoch']:.2f}"
                   if base["seconds_per_epoch"] > 0 else "-")
            rows.append([f"{r['label']} - {base['label']}", d_acc, d_loss, "", d_mem, "", d_t])
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head))]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    lines = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    return "\n".join(lines) + "\n"


def plot_curves(runs: list[dict[str, Any]], path: str, title: str) -> None:
    """Learning curves (loss and accuracy per epoch, train dashed, test solid) to ``path``."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for k, r in enumerate(runs):
        color = f"C{k}"
        ep = [h["epoch"] for h in r["history"]]
        ax_loss.plot(ep, [h["train_loss"] for h in r["history"]], "--o", color=color,
                     label=f"{r['label']} train")
        ax_acc.plot(ep, [100 * h["train_acc"] for h in r["history"]], "--o", color=color,
                    label=f"{r['label']} train")
        if all(h.get("test_acc") is not None for h in r["history"]):
            ax_loss.plot(ep, [h["test_loss"] for h in r["history"]], "-s", color=color,
                         label=f"{r['label']} test")
            ax_acc.plot(ep, [100 * h["test_acc"] for h in r["history"]], "-s", color=color,
                        label=f"{r['label']} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format=os.path.splitext(path)[1][1:].lower(), dpi=110)
    _write_atomic_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- run

def _load_data(args: argparse.Namespace) -> Any:
    from . import data

    ds = data.load(args.dataset, args.data_dir, download=not args.no_download)
    if args.limit_train is not None or args.limit_test is not None:
        ds = ds.subset(args.limit_train, args.limit_test, seed=args.seed)
    return ds


def run_train(args: argparse.Namespace) -> int:
    """Run ``minifloat train`` with parsed arguments; returns the exit status."""
    try:
        from . import nn
    except ImportError as e:  # pragma: no cover - the package always ships nn
        print(f"minifloat train: error: minifloat.nn is not available ({e})", file=sys.stderr)
        return 1
    err = sys.stderr
    try:
        _check_model(args.model, nn)
        policies = _resolve_policies(args, nn)
        device_kw = _check_device(args.device, nn.fit)
        fit = _engine_fit(args, nn)
        _check_output(args.log, "--log")
        _check_output(args.plot, "--plot", PLOT_TYPES)
        if args.plot is not None:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise UsageError("--plot needs matplotlib (pip install matplotlib)") from None
    except UsageError as e:
        print(f"minifloat train: error: {e}", file=err)
        return 2

    try:
        ds = _load_data(args)
    except (OSError, ValueError) as e:
        print(f"minifloat train: error: dataset {args.dataset!r}: {e}", file=err)
        return 1
    x_train, y_train, x_test, y_test = ds.float32()
    print(f"dataset {ds.name}: {len(y_train)} train / {len(y_test)} test images "
          f"{'x'.join(map(str, ds.image_shape))}, {ds.num_classes} classes; model "
          f"{args.model}; {args.epochs} epoch(s), batch {args.batch_size}, lr {args.lr}, "
          f"seed {args.seed}", file=err)

    runs: list[dict[str, Any]] = []
    schedule = None if args.schedule == "none" else args.schedule
    try:
        for policy in policies:
            label = policy.name
            print(policy.describe(), file=err)
            bar = _Progress(label, args.epochs, disable=args.no_progress)
            try:
                result = fit(args.model, (x_train, y_train), (x_test, y_test),
                                policy=policy, epochs=args.epochs, batch_size=args.batch_size,
                                lr=args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay, schedule=schedule,
                                seed=args.seed, progress=False, callback=bar.callback,
                                **device_kw)
            finally:
                bar.close()
            run = result.to_dict()
            run["label"] = label
            runs.append(run)
    except KeyboardInterrupt:
        print("minifloat train: interrupted; nothing written", file=err)
        return 130
    except (ValueError, TypeError) as e:
        print(f"minifloat train: error: {e}", file=err)
        return 2

    sys.stdout.write("\n" + summary_table(runs))
    log = {
        "command": "minifloat train",
        "argv": sys.argv[1:],
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "dataset": {"name": ds.name, "train": int(len(y_train)), "test": int(len(y_test)),
                    "image_shape": list(ds.image_shape)},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": runs,
    }
    try:
        if args.log is not None:
            text = json.dumps(log, indent=1, default=_json_default, allow_nan=True)
            _write_atomic_bytes(args.log, (text + "\n").encode())
            print(f"log written to {args.log}", file=err)
        if args.plot is not None:
            plot_curves(runs, args.plot, f"{args.model} on {ds.name} ({len(y_train)} train "
                                          f"images, seed {args.seed})")
            print(f"learning curves written to {args.plot}", file=err)
    except OSError as e:
        print(f"minifloat train: error: cannot write output: {e}", file=err)
        return 1
    return 0


class _Progress:
    """A tqdm bar over all steps of a run, fed by ``fit``'s callback."""

    def __init__(self, label: str, epochs: int, disable: bool) -> None:
        self.label = label
        self.epochs = epochs
        self.disable = disable
        self.bar: Any = None

    def callback(self, event: dict[str, Any]) -> None:
        """``fit`` callback: advance on steps, print a line per epoch."""
        if event["event"] == "step":
            if self.bar is None and not self.disable:
                try:
                    from tqdm.auto import tqdm
                except ImportError:  # no bar without tqdm; the epoch lines still come
                    self.disable = True
                    return
                self.bar = tqdm(total=self.epochs * event["steps"], desc=self.label,
                                unit="step", dynamic_ncols=True, file=sys.stderr)
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(epoch=event["epoch"], loss=f"{event['loss']:.4f}",
                                     acc=f"{event['acc']:.3f}", refresh=False)
        elif event["event"] == "epoch":
            line = (f"[{self.label}] epoch {event['epoch']}: train loss "
                    f"{event['train_loss']:.4f} acc {event['train_acc']:.4f}")
            if event.get("test_acc") is not None:
                line += f", test loss {event['test_loss']:.4f} acc {event['test_acc']:.4f}"
            line += f" ({event['seconds']:.1f} s)"
            if self.bar is not None:
                self.bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr)

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


__all__ = ["add_train_parser", "plot_curves", "run_train", "summary_table"]
