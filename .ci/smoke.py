"""Smoke test of an installed minifloat wheel (run from outside the source tree).

Imports the package, reports the ISA level it picked, encodes a few values whose codes are
written out below (from the format definitions, not from the library), decodes them back,
and repeats the check with every other level this CPU runs (MINIFLOAT_ISA in a subprocess).
Exit status 0 when every check passes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import minifloat as mf
from minifloat import _core

# (format, value, expected code): E4M3 1.0 = 0 0111 000; 0.3 -> 0.3125 = 2^-2 * 1.25
# = 0 0101 010; 448 = max = 0 1111 110; 500 overflows to NaN 0x7F (saturation none); -2 =
# 1 1000 000; E5M2 1.0 = 0 01111 00; bfloat16 1.0 = 0x3F80, -0.1 -> 0xBDCD.
CASES = [("float8_e4m3fn", 1.0, 0x38), ("float8_e4m3fn", 0.3, 0x2A),
         ("float8_e4m3fn", 448.0, 0x7E), ("float8_e4m3fn", 500.0, 0x7F),
         ("float8_e4m3fn", -2.0, 0xC0), ("float8_e5m2", 1.0, 0x3C),
         ("bfloat16", 1.0, 0x3F80), ("bfloat16", -0.1, 0xBDCD)]


def check() -> list[str]:
    bad = []
    for name, x, want in CASES:
        for dt in (np.float32, np.float64):
            got = int(mf.encode(np.array([x] * 1000, dtype=dt), name)[999])
            if got != want:
                bad.append(f"{_core.ISA}: encode({x}, {name}, {dt.__name__}) = {got:#x}, "
                           f"expected {want:#x}")
    v = mf.decode(np.array([0x38, 0x2A, 0x7E], np.uint8), "float8_e4m3fn")
    if list(v) != [1.0, 0.3125, 448.0]:
        bad.append(f"{_core.ISA}: decode gave {list(v)}")
    p = mf.multiply(mf.asarray([1.5], "float8_e4m3fn"), mf.asarray([3.0], "float8_e4m3fn"))
    if int(p.codes[0]) != 0x49:  # 4.5 = 2^2 * 1.125 = 0 1001 001
        bad.append(f"{_core.ISA}: 1.5 * 3 gave code {int(p.codes[0]):#x}, expected 0x49")
    return bad


def main() -> int:
    if "--one" in sys.argv:
        bad = check()
        print("\n".join(bad) or f"{_core.ISA}: ok")
        return 1 if bad else 0
    here = os.path.dirname(os.path.abspath(mf.__file__))
    if os.path.exists(os.path.join(os.getcwd(), "minifloat", "__init__.py")):
        print("smoke: run me from outside the source tree", file=sys.stderr)
        return 2
    mf.show_config()
    print(f"package: {here}")
    bad = check()
    print("\n".join(bad) or f"{_core.ISA}: ok (level picked at import)")
    for level in _core.build_info()["levels_supported"]:
        env = dict(os.environ, MINIFLOAT_ISA=level)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--one"], env=env,
                           capture_output=True, text=True, timeout=300)
        print(r.stdout.strip() or r.stderr.strip()[-2000:])
        if r.returncode != 0:
            bad.append(f"level {level} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
