"""Results 1 and 2 of issue 6: LeNet-5 on MNIST and Fashion-MNIST trained with weights,
activations, errors and weight gradients in an 8-bit float with an exponent offset
(``asymmetric8``: OCP E4M3 layout, per-role static offsets), float32 accumulation, against
float32 training with the same seeds and hyper-parameters; IEEE-bias E4M3 / E5M2 for contrast
(what the offset buys); and a 12-bit float (E4M7) with truncation (``asymmetric12_trunc``).

    python experiments/lenet_low_precision.py                       # defaults below
    python experiments/lenet_low_precision.py --train-size 0 --epochs 10 --seeds 0 1 2

Prints a Markdown table (mean test accuracy over seeds and the difference to float32).
"""

from __future__ import annotations

import sys

import _common as C

TARGETS = {("mnist", "asymmetric8"): 0.5, ("fashion-mnist", "asymmetric8"): 1.0,
           ("mnist", "asymmetric12_trunc"): 0.5, ("fashion-mnist", "asymmetric12_trunc"): 0.5}


def main() -> int:
    p = C.base_parser(__doc__.split("\n\n")[0], epochs=3, train_size=20000)
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    p.add_argument("--policies", nargs="+",
                   default=["fp32", "asymmetric8", "e4m3", "e5m2", "asymmetric12_trunc"])
    args = p.parse_args()
    runs: dict[str, dict[str, list]] = {}
    for name in args.datasets:
        ds, tr, te = C.load(name, args)
        print(f"{name}: {len(tr[1])} train / {len(te[1])} test, {args.epochs} epochs",
              file=sys.stderr)
        runs[name] = {pol: [C.train(pol, tr, te, args, s) for s in args.seeds]
                      for pol in args.policies}
    rows = []
    for name, by_pol in runs.items():
        base = C.mean_acc(by_pol["fp32"]) if "fp32" in by_pol else None
        for pol, rs in by_pol.items():
            acc = C.mean_acc(rs)
            delta = "" if base is None or pol == "fp32" else f"{acc - base:+.2f}"
            target = TARGETS.get((name, pol))
            verdict = "" if target is None or base is None else (
                f"within {target} pp: {'yes' if acc >= base - target else 'no'}")
            per_seed = ", ".join(f"{100 * r['history'][-1]['test_acc']:.2f}" for r in rs)
            rows.append([name, pol, f"{acc:.2f}", delta, per_seed,
                         f"{rs[0]['seconds_per_epoch']:.0f}", verdict])
    table = C.markdown(["dataset", "policy", "test acc %", "vs fp32 (pp)", "per seed",
                        "s/epoch", "target"], rows)
    print(table)
    C.save("lenet_low_precision", args, {"runs": runs, "table": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
