"""Run the cocotb scoreboard on the example RTL (hw/rtl) with Icarus Verilog.

    python hw/tests/run_cocotb.py --op mul --format e4m3 --bias 7 --ieee
    python hw/tests/run_cocotb.py --op add --format binary8p3 --rounding stochastic_a \\
        --random-bits 3 --seed 1

Prints the scoreboard's report; exit status 0 when every pair matches minifloat.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import minifloat as mf
from minifloat import hw_cocotb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--op", choices=["mul", "add"], required=True)
    p.add_argument("--format", required=True, help="a preset or P3109 name, e.g. e5m2")
    p.add_argument("--bias", type=int, help="replace the format's bias")
    p.add_argument("--ieee", action="store_true",
                   help="use the IEEE-style layout (Inf and NaN at all-ones E) with the "
                        "format's widths, e.g. --format e4m3 --ieee for E4M3 with infinities")
    p.add_argument("--rounding", default="nearest_even", choices=list(hw_cocotb.RTL_ROUNDINGS))
    p.add_argument("--saturation", default="none", choices=list(hw_cocotb.RTL_SATURATIONS))
    p.add_argument("--random-bits", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, help="random pairs instead of all of them")
    p.add_argument("--lanes", type=int, default=32)
    p.add_argument("--build-dir", help="default: a temporary folder")
    args = p.parse_args(argv)
    fmt = mf.format(args.format)
    if args.ieee:
        fmt = mf.FloatFormat(fmt.exp_bits, fmt.man_bits, bias=fmt.bias)
    if args.bias is not None:
        fmt = fmt.replace(bias=args.bias)
    with tempfile.TemporaryDirectory() as tmp:
        ok, text = hw_cocotb.run_rtl(
            args.op, fmt, build_dir=args.build_dir or tmp, rounding=args.rounding,
            saturation=args.saturation, random_bits=args.random_bits, seed=args.seed,
            count=args.count, lanes=args.lanes, rerun=" ".join(["python", *sys.argv]))
    print(text.rstrip())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
