"""Golden vectors for tests/cross/golden_driver.cpp, computed by this (x86-64) build.

``python tests/cross/make_golden.py OUT [--subset]`` writes the sections golden_driver.cpp
reads (its header comment gives the layout):
- encode of every probe point (tests/oracle.py's probe_values: each code, midpoints, midpoints
  +- 1 ulp, beyond the maximum, specials) of every <= 8-bit preset, float64 and float32 input,
  in every rounding mode and saturation, and with flush_subnormals; stochastic modes seeded
  (the driver regenerates the Philox bits) with 3, 8 and 32 random bits, and once with an
  explicit ``random=`` array;
- every operand pair of float8_e4m3fn add and multiply in every deterministic mode, and
  seeded stochastic.
``--subset``: nearest_even, toward_zero, odd, stochastic_a only, saturation none and finite,
add / multiply in nearest_even and stochastic_a (the default run of
tests/test_cross_aarch64.py; the full set runs under -m slow).
The expected codes come from ``mf.encode`` / ``mf.add`` / ``mf.multiply``; this build's own
correctness is checked against the oracle by the rest of the suite.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/oracle.py

import oracle as O  # noqa: E402

import minifloat as mf  # noqa: E402

KIND = {"f64": 1, "f32": 2, "arith": 3}
OPS = {"add": 0, "multiply": 2}
DETERMINISTIC = ["nearest_even", "nearest_away", "nearest_zero", "toward_zero",
                 "toward_positive", "toward_negative", "odd"]
STOCHASTIC = ["stochastic_a", "stochastic_b", "stochastic_c", "stochastic_equal"]


def header(kind: int, spec_in: tuple[int, ...], spec_out: tuple[int, ...], op: int, mode: str,
           sat: str, n: int, flush: bool, rsrc: int, seed: int, offset: int,
           count: int) -> bytes:
    fields = [kind, *spec_in, *spec_out, op, mf.ROUNDINGS[mode], mf.SATURATIONS[sat], n,
              int(flush), rsrc, seed, offset, count]
    assert len(fields) == 26
    return np.array(fields, dtype="<i8").tobytes()


def encode_sections(out: BinaryIO, subset: bool) -> int:
    count = 0
    det = ["nearest_even", "toward_zero", "odd"] if subset else DETERMINISTIC
    sto = ["stochastic_a"] if subset else STOCHASTIC
    for name in O.PRESET_NAMES:
        ref = O.preset(name)
        if ref.bits > 8:
            continue
        fmt = mf.format(name)
        sats = [s for s in O.SATURATIONS if s != "nan" or ref.has_nan]
        if subset:
            sats = [s for s in sats if s in ("none", "finite")]
        for dt, np_dt in (("f64", np.float64), ("f32", np.float32)):
            xs = O.probe_values(ref, np_dt, include_nan=ref.has_nan)
            raw = xs.view("<u8" if dt == "f64" else "<u4").tobytes()
            runs: list[tuple[str, str, int, bool, int, np.ndarray | None]] = []
            runs += [(m, s, 0, False, 0, None) for m in det for s in sats]
            runs += [(m, "none", 0, True, 0, None) for m in ("nearest_even", "toward_zero")]
            for m in sto:
                for n in ((8,) if subset else (3, 8, 32)):
                    if m == "stochastic_equal" and n == 32:
                        continue
                    runs += [(m, s, n, False, 1, None) for s in sats[:2]]
            rng = np.random.default_rng(len(xs))
            runs.append(("stochastic_a", "none", 5, False, 2,
                         rng.integers(0, 32, xs.size).astype(np.uint32)))
            for mode, sat, n, flush, rsrc, R in runs:
                kw: dict[str, object] = {"rounding": mode, "saturation": sat,
                                         "flush_subnormals": flush}
                seed, offset = 0, 0
                if rsrc == 1:
                    seed, offset = 0x1234_5678_9ABC + n, 3 * n
                    kw.update(random_bits=n, seed=seed, offset=offset)
                elif rsrc == 2:
                    kw.update(random_bits=n, random=R)
                codes = mf.encode(xs, fmt, **kw).astype("<u2")
                out.write(header(KIND[dt], fmt.spec, fmt.spec, 0, mode, sat, n, flush, rsrc,
                                 seed, offset, xs.size))
                out.write(raw)
                if R is not None:
                    out.write(R.astype("<u4").tobytes())
                out.write(codes.tobytes())
                count += xs.size
    return count


def arith_sections(out: BinaryIO, subset: bool) -> int:
    fmt = mf.format("float8_e4m3fn")
    a = np.repeat(np.arange(256, dtype=np.uint8), 256)
    b = np.tile(np.arange(256, dtype=np.uint8), 256)
    A, B = mf.from_codes(a, fmt), mf.from_codes(b, fmt)
    modes = ["nearest_even"] if subset else DETERMINISTIC
    count = 0
    for op, fn in (("add", mf.add), ("multiply", mf.multiply)):
        runs = [(m, "none", 0, 0) for m in modes] + [("stochastic_a", "none", 4, 1)]
        if not subset:
            runs += [("nearest_even", "finite", 0, 0), ("stochastic_c", "none", 8, 1)]
        for mode, sat, n, rsrc in runs:
            kw: dict[str, object] = {"rounding": mode, "saturation": sat}
            seed = 77 + n if rsrc else 0
            if rsrc:
                kw.update(random_bits=n, seed=seed)
            codes = fn(A, B, **kw).codes.astype("<u2")
            out.write(header(KIND["arith"], fmt.spec, fmt.spec, OPS[op], mode, sat, n, False,
                             rsrc, seed, 0, a.size))
            for v in (a, b, np.zeros_like(a)):
                out.write(v.astype("<u2").tobytes())
            out.write(codes.tobytes())
            count += a.size
    return count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="golden file to write")
    p.add_argument("--subset", action="store_true", help="the stated subset (see above)")
    args = p.parse_args(argv)
    with open(args.out, "wb") as f:
        n = encode_sections(f, args.subset) + arith_sections(f, args.subset)
    print(f"{n} golden vectors ({'subset' if args.subset else 'full'}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
