"""Which part of MXFP4 training breaks LeNet-5 on Fashion-MNIST (docs/results.md, "Block-scaled
policies"): the same reduced run (20,000 training / 2,000 test images, 2 epochs, batch 64,
lr 0.05, seed 0) under float32, all-MXFP4 (errors in MXFP4 with stochastic rounding), MXFP4
operands with MXFP8 E5M2 errors (the `mxfp4` preset) and NVFP4.

    python experiments/mxfp4_errors_screen.py --data-dir ../shared/datasets
Prints the test accuracy after each epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import minifloat as mf

nn = mf.nn


def variants() -> dict[str, nn.QuantPolicy]:
    """The policies compared."""
    mx4 = nn.get_policy("mxfp4")
    return {
        "fp32": nn.get_policy("fp32"),
        "mxfp4 with MXFP4 errors (stochastic_a, 16 bits)": dataclasses.replace(
            mx4, name="mxfp4_all", errors=nn.RoleSpec(mf.format("mxfp4_e2m1"),
                                                      rounding="stochastic_a",
                                                      random_bits=16)),
        "mxfp4 (MXFP8 E5M2 errors)": mx4,
        "nvfp4": nn.get_policy("nvfp4"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    ds = mf.data.load("fashion-mnist", args.data_dir, download=False).subset(
        args.train_size, args.test_size, seed=1234)
    xtr, ytr, xte, yte = ds.float32()
    for label, pol in variants().items():
        r = nn.fit("lenet5", (xtr, ytr), (xte, yte), policy=pol, epochs=args.epochs,
                   batch_size=64, lr=0.05, seed=0)
        accs = ", ".join(f"{100 * h['test_acc']:.2f}" for h in r.history)
        print(f"{label}: test acc after each epoch {accs} %", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
