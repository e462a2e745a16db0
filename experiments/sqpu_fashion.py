"""Result 3 of issue 6: SQPU (Buron et al., quantised parameter updates) on Fashion-MNIST:
parameters stored only in 8-bit fixed point (Q0.7), updates rounded stochastically
(``w <- Q(w - Q_sr(lr * g))``), inputs saved for the backward pass quantised; test accuracy and
the memory of the training state relative to straight-through-estimator (STE) training
(float32 latent weights + low-precision copy + float32 optimizer state and saved inputs).
A float32 run with the same seed and hyper-parameters is the reference.

    python experiments/sqpu_fashion.py
    python experiments/sqpu_fashion.py --train-size 0 --epochs 20
"""

from __future__ import annotations

import sys

import _common as C


def main() -> int:
    p = C.base_parser(__doc__.split("\n\n")[0], epochs=3, train_size=20000)
    p.add_argument("--policies", nargs="+", default=["sqpu", "fp32"])
    p.add_argument("--model", default="lenet5", help="a minifloat.nn model name "
                   "(default: %(default)s; e.g. alexnet_small, resnet8)")
    p.set_defaults(lr=None)
    args = p.parse_args()
    if args.lr is None:  # alexnet_small (no batch norm) diverged at 0.05 with 8-bit parameters
        args.lr = 0.05 if args.model == "lenet5" else 0.02
    ds, tr, te = C.load("fashion-mnist", args)
    print(f"fashion-mnist: {len(tr[1])} train / {len(te[1])} test, {args.epochs} epochs, "
          f"{args.model}, lr {args.lr}", file=sys.stderr)
    runs = {pol: [C.train(pol, tr, te, args, s, model=args.model) for s in args.seeds]
            for pol in args.policies}
    rows = []
    for pol, rs in runs.items():
        m = rs[0]["memory"]
        rows.append([pol, f"{C.mean_acc(rs):.2f}", f"{m['total'] / 1024:.0f}",
                     f"{m['ste_total'] / 1024:.0f}", f"{100 * m['ratio_vs_ste']:.1f}%",
                     f"{m['parameters'] / 1024:.1f}", f"{m['master_weights'] / 1024:.1f}",
                     f"{m['optimizer_state'] / 1024:.1f}",
                     f"{m['saved_activations'] / 1024:.0f}"])
    table = C.markdown(["policy", "test acc %", "memory KiB", "STE memory KiB", "vs STE",
                        "params KiB", "master KiB", "opt. state KiB", "saved act. KiB"], rows)
    print(table)
    C.save("sqpu_fashion", args, {"runs": runs, "table": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
