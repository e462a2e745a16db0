"""Result 4 of issue 6: format exploration. LeNet-5 on Fashion-MNIST with every quantised role
(weights, biases, activations, errors, weight gradients; float32 accumulation) in one 8-bit
float ExMy, for every split E2M5 .. E6M1, several exponent biases (the IEEE bias
2**(E-1) - 1 plus an offset), and two update modes, both storing the weights only in the 8-bit
format (direct update ``w <- Q_weights(w - lr * d)``, no float32 master copy):

- ``nearest``: Q_weights rounds to nearest even (small updates are lost: stagnation);
- ``stochastic``: Q_weights rounds stochastically (P3109 StochasticC, 16 random bits).

Layout of each format: IEEE-like with Inf/NaN in the top binade (``FloatFormat(E, M)``), so
the offset alone moves the range. Writes a Markdown table per update mode and a heat map
(``experiments/results/format_sweep.png``).

    python experiments/format_sweep.py                                  # defaults below
    python experiments/format_sweep.py --train-size 0 --epochs 5 --offsets 0 2 4 6 8
"""

from __future__ import annotations

import dataclasses
import os
import sys

import _common as C
import numpy as np

from minifloat import FloatFormat, nn

SPLITS = [(e, 7 - e) for e in range(2, 7)]
MODES = ("nearest", "stochastic")


def policy(e: int, m: int, offset: int, mode: str) -> nn.QuantPolicy:
    fmt = FloatFormat(e, m)
    bias = fmt.bias + offset
    p = nn.get_policy("asymmetric8").with_format(fmt, bias=bias)
    if mode == "stochastic":
        for role in ("weights", "biases"):
            p = p.replace_role(role, rounding="stochastic_c", random_bits=16)
    return dataclasses.replace(p, update="direct", name=f"E{e}M{m} bias {bias} {mode}")


def heatmap(acc: dict, offsets: list[int], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(MODES), 3.6), layout="constrained")
    axes = fig.subplots(1, len(MODES))
    for ax, mode in zip(np.atleast_1d(axes), MODES):
        grid = np.array([[acc[(e, m, o, mode)] for o in offsets] for e, m in SPLITS])
        im = ax.imshow(grid, vmin=10, vmax=100, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(offsets)), [f"+{o}" if o > 0 else str(o) for o in offsets])
        ax.set_yticks(range(len(SPLITS)), [f"E{e}M{m}" for e, m in SPLITS])
        ax.set_xlabel("exponent offset (bias - IEEE bias)")
        ax.set_title(f"{mode} rounding of the weights")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if grid[i, j] < 60 else "black")
    fig.colorbar(im, ax=list(np.atleast_1d(axes)), label="test accuracy (%)")
    fig.suptitle(title)
    fig.savefig(path, dpi=120)


def main() -> int:
    p = C.base_parser(__doc__.split("\n\n")[0], epochs=1, train_size=4000, test_size=2000)
    p.set_defaults(schedule="none")
    p.add_argument("--offsets", type=int, nargs="+", default=[0, 4, 8])
    p.add_argument("--plot", default=os.path.join(C.RESULTS, "format_sweep.png"))
    args = p.parse_args()
    ds, tr, te = C.load("fashion-mnist", args)
    print(f"fashion-mnist: {len(tr[1])} train / {len(te[1])} test, {args.epochs} epochs",
          file=sys.stderr)
    acc: dict = {}
    runs = []
    base = [C.train("fp32", tr, te, args, s) for s in args.seeds]
    for e, m in SPLITS:
        for o in args.offsets:
            for mode in MODES:
                rs = [C.train(policy(e, m, o, mode), tr, te, args, s) for s in args.seeds]
                acc[(e, m, o, mode)] = C.mean_acc(rs)
                runs.append({"exp_bits": e, "man_bits": m, "offset": o, "mode": mode,
                             "bias": FloatFormat(e, m).bias + o, "acc": acc[(e, m, o, mode)],
                             "per_seed": [r["history"][-1]["test_acc"] for r in rs]})
    tables = []
    for mode in MODES:
        rows = [[f"E{e}M{m}", str(FloatFormat(e, m).bias)]
                + [f"{acc[(e, m, o, mode)]:.2f}" for o in args.offsets] for e, m in SPLITS]
        tables.append(f"{mode} rounding of the weights (direct update, no float32 master):\n\n"
                      + C.markdown(["format", "IEEE bias"]
                                   + [f"offset {o:+d}" for o in args.offsets], rows))
    text = (f"float32 reference: {C.mean_acc(base):.2f}%\n\n" + "\n\n".join(tables))
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
    heatmap(acc, args.offsets, args.plot,
            f"LeNet-5, Fashion-MNIST ({len(tr[1])} train images, {args.epochs} epoch(s)); "
            f"float32: {C.mean_acc(base):.1f}%")
    C.save("format_sweep", args, {"fp32": base, "runs": runs, "table": text})
    return 0


if __name__ == "__main__":
    sys.exit(main())
