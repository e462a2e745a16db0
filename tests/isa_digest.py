"""SHA-256 digests of the output of every compiled path, for comparing ISA levels.

Run as ``MINIFLOAT_ISA=<level> python tests/isa_digest.py [--full]``: prints one JSON object,
``{"level": ..., "digests": {path name: hex digest}}``. tests/test_isa.py runs it once per
level this machine supports and requires equal digests; the correctness of each level is
checked separately against the oracle (the suite run per level there). A digest covers
float32 and float64 encode of every preset in every rounding mode and saturation (stochastic
modes seeded), flushing, decode of every code, elementwise arithmetic (every E4M3 operand pair;
random float16 / bfloat16 pairs), matmul with each accumulator, fixed point, LNS (each addition
algorithm) and block-scaled formats. A path that raises contributes its exception's type name,
so a level that fails where another succeeds differs too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any, Callable

import numpy as np

import minifloat as mf
from minifloat import _core

DETERMINISTIC = ["nearest_even", "nearest_away", "nearest_zero", "toward_zero",
                 "toward_positive", "toward_negative", "odd"]
STOCHASTIC = ["stochastic_a", "stochastic_b", "stochastic_c", "stochastic", "stochastic_equal"]
SATURATIONS = ["none", "finite", "propagate", "nan"]


def _bytes(r: Any) -> bytes:
    if isinstance(r, mf.MiniArray):
        r = r.codes
    if hasattr(r, "codes") and hasattr(r, "scales"):  # BlockCodes (before tuple: it is one)
        return b"|".join(_bytes(v) for v in (r.codes, r.scales, r.tensor_scale)
                         if v is not None) + repr(getattr(r, "format", None)).encode()
    if isinstance(r, (tuple, list)):
        return b"|".join(_bytes(v) for v in r)
    a = np.ascontiguousarray(np.asarray(r))
    return str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()


def _digest(fn: Callable[[], Any]) -> str:
    try:
        data = _bytes(fn())
    except Exception as e:  # noqa: BLE001 - the failure itself is what is compared
        data = f"error:{type(e).__name__}".encode()
    return hashlib.sha256(data).hexdigest()


def inputs(n: int, seed: int = 1) -> np.ndarray:
    """float64 values over a wide range of binades, plus specials and exact ties."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * np.exp2(rng.integers(-40, 40, n).astype(np.float64))
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 1.5, 2.5, 3.5,
                         448.0, 464.0, 480.0, 57344.0, 65504.0, 65520.0, 2.0 ** -9,
                         2.0 ** -10, 3 * 2.0 ** -11, 1e-45, -1e-45, 3.4e38, -3.4e38])
    return np.concatenate([specials, x])


def float_paths(out: dict[str, str], full: bool) -> None:
    x64 = inputs(60_000 if full else 12_000)
    with np.errstate(over="ignore"):
        x32 = x64.astype(np.float32)
    for name in mf.PRESETS:
        fmt = mf.format(name)
        # The exact values of every code and the midpoints between neighbours: ties.
        vals = np.unique(mf.decode(np.arange(1 << fmt.bits, dtype=fmt.dtype), fmt, np.float64))
        vals = vals[np.isfinite(vals)]
        mids = (vals[1:] + vals[:-1]) / 2
        xf = np.concatenate([x64, vals, mids])
        with np.errstate(over="ignore"):
            xf32 = np.concatenate([x32, vals.astype(np.float32), mids.astype(np.float32)])
        if fmt.nan == "none":  # no NaN code: NaN input is an error by design
            xf, xf32 = xf[~np.isnan(xf)], xf32[~np.isnan(xf32)]
        sats = SATURATIONS if full else ["none", "finite"]
        for mode in DETERMINISTIC + STOCHASTIC:
            kw: dict[str, Any] = {}
            if mode in STOCHASTIC:
                kw = {"seed": 7}
                if mode != "stochastic":
                    kw["random_bits"] = 8 if mode != "stochastic_equal" else 1
            for sat in sats:
                for dt, xi in (("f32", xf32), ("f64", xf)):
                    out[f"encode/{name}/{mode}/{sat}/{dt}"] = _digest(
                        lambda xi=xi, mode=mode, sat=sat, kw=kw, fmt=fmt: mf.encode(
                            xi, fmt, rounding=mode, saturation=sat, **kw))
        out[f"encode/{name}/flush/f32"] = _digest(
            lambda fmt=fmt, xf32=xf32: mf.encode(xf32, fmt, flush_subnormals=True))
        out[f"encode/{name}/sr_bits/f32"] = _digest(
            lambda fmt=fmt, xf32=xf32: [mf.encode(xf32, fmt, rounding="stochastic_a",
                                                  random_bits=n, seed=3, offset=5)
                                        for n in (1, 4, 13, 23, 32)])
        codes = np.arange(1 << fmt.bits, dtype=fmt.dtype)
        out[f"decode/{name}"] = _digest(
            lambda fmt=fmt, codes=codes: [mf.decode(codes, fmt, np.float32),
                                          mf.decode(codes, fmt, np.float64)])


def arith_paths(out: dict[str, str], full: bool) -> None:
    e4m3 = mf.format("float8_e4m3fn")
    a = mf.from_codes(np.repeat(np.arange(256, dtype=np.uint8), 256), e4m3)
    b = mf.from_codes(np.tile(np.arange(256, dtype=np.uint8), 256), e4m3)
    c = mf.from_codes(np.arange(65536, dtype=np.uint32).astype(np.uint8)[::-1].copy(), e4m3)
    ops = {"add": mf.add, "subtract": mf.subtract, "multiply": mf.multiply,
           "divide": mf.divide}
    for op, f in ops.items():
        for mode in (DETERMINISTIC if full else ["nearest_even", "toward_zero", "odd"]):
            out[f"arith/e4m3/{op}/{mode}"] = _digest(lambda f=f, mode=mode: f(a, b,
                                                                               rounding=mode))
        out[f"arith/e4m3/{op}/sr"] = _digest(lambda f=f: f(a, b, rounding="stochastic_a",
                                                            random_bits=6, seed=11))
    out["arith/e4m3/fma"] = _digest(lambda: mf.fma(a, b, c))
    out["arith/e4m3/sqrt"] = _digest(lambda: mf.sqrt(a))
    rng = np.random.default_rng(5)
    for name in ("float16", "bfloat16"):
        fmt = mf.format(name)
        n = 200_000 if full else 50_000
        x = mf.from_codes(rng.integers(0, 65536, n).astype(np.uint16), fmt)
        y = mf.from_codes(rng.integers(0, 65536, n).astype(np.uint16), fmt)
        z = mf.from_codes(rng.integers(0, 65536, n).astype(np.uint16), fmt)
        for op, f in ops.items():
            out[f"arith/{name}/{op}"] = _digest(lambda f=f, x=x, y=y: f(x, y))
        out[f"arith/{name}/fma"] = _digest(lambda x=x, y=y, z=z: mf.fma(x, y, z))
        out[f"arith/{name}/sqrt"] = _digest(lambda x=x: mf.sqrt(x))
    out["arith/mixed/e4m3*e5m2->f16"] = _digest(
        lambda: mf.multiply(a, mf.asarray(np.linspace(-3, 3, 65536), "float8_e5m2"),
                            out_format="float16"))


def linalg_paths(out: dict[str, str], full: bool) -> None:
    rng = np.random.default_rng(9)
    m, k, n = (96, 160, 80) if full else (48, 96, 40)
    A = mf.asarray(rng.standard_normal((m, k)), "float8_e4m3fn")
    B = mf.asarray(rng.standard_normal((k, n)), "float8_e4m3fn")
    for acc in ("float32", "float64", "exact", "float16", "bfloat16"):
        for of in ("float16", "bfloat16", "float8_e4m3fn"):
            out[f"matmul/{acc}/{of}"] = _digest(
                lambda acc=acc, of=of: mf.matmul(A, B, accumulator=acc, out_format=of))
    out["matmul/sr"] = _digest(lambda: mf.matmul(A, B, accumulator="float32",
                                                 out_format="float8_e5m2",
                                                 rounding="stochastic_a", random_bits=8,
                                                 seed=2))
    H = mf.asarray(rng.standard_normal((m, k)), "bfloat16")
    G = mf.asarray(rng.standard_normal((k, n)), "bfloat16")
    out["matmul/bf16/acc_bf16"] = _digest(lambda: mf.matmul(H, G, accumulator="bfloat16",
                                                            out_format="bfloat16"))
    out["sum/e4m3/f16"] = _digest(lambda: mf.sum(A, axis=1, accumulator="float16",
                                                 out_format="float16"))
    x = mf.asarray(rng.standard_normal((2, 3, 12, 12)), "float8_e4m3fn")
    w = mf.asarray(rng.standard_normal((4, 3, 3, 3)), "float8_e4m3fn")
    out["conv2d/f32"] = _digest(lambda: mf.conv2d(x, w, accumulator="float32",
                                                  out_format="bfloat16"))


def fixed_lns_paths(out: dict[str, str], full: bool) -> None:
    x64 = inputs(40_000 if full else 10_000, seed=4) * 1e-3
    x64 = np.clip(x64[np.isfinite(x64)], -1e30, 1e30)  # fixed point has no NaN / Inf codes
    x32 = x64.astype(np.float32)
    for fx in (mf.FixedFormat(3, 4), mf.FixedFormat(7, 8), mf.FixedFormat(2, 5, signed=False)):
        for mode in DETERMINISTIC + ["stochastic_a"]:
            kw = {"random_bits": 8, "seed": 1} if mode == "stochastic_a" else {}
            for sat in ("finite", "wrap"):
                for dt, xi in (("f32", x32), ("f64", x64)):
                    out[f"fixed/{fx}/{mode}/{sat}/{dt}"] = _digest(
                        lambda fx=fx, xi=xi, mode=mode, sat=sat, kw=kw: mf.encode(
                            xi, fx, rounding=mode, saturation=sat, **kw))
        p = mf.asarray(x64[:5000] * 100, fx, saturation="finite")
        q = mf.asarray(x64[5000:10000] * 100, fx, saturation="finite")
        for op in (mf.add, mf.subtract, mf.multiply):
            out[f"fixed/{fx}/{op.__name__}"] = _digest(lambda p=p, q=q, op=op: op(p, q))
    for name in mf.LNS_PRESETS:
        ln = mf.format(name)
        for mode in ("nearest_even", "toward_zero", "stochastic_a"):
            kw = {"random_bits": 8, "seed": 1} if mode == "stochastic_a" else {}
            for dt, xi in (("f32", x32), ("f64", x64)):
                out[f"lns/{name}/{mode}/{dt}"] = _digest(
                    lambda ln=ln, xi=xi, mode=mode, kw=kw: mf.encode(xi, ln, rounding=mode,
                                                                     **kw))
        p = mf.asarray(x64[:5000] * 1e3, ln)
        q = mf.asarray(x64[5000:10000] * 1e3, ln)
        for alg in ("exact", "table", "interp", "mitchell"):
            out[f"lns/{name}/add/{alg}"] = _digest(
                lambda p=p, q=q, alg=alg: [mf.add(p, q, lns_add=alg),
                                           mf.subtract(p, q, lns_add=alg)])
        out[f"lns/{name}/mul_div"] = _digest(lambda p=p, q=q: [mf.multiply(p, q),
                                                               mf.divide(p, q)])


def block_paths(out: dict[str, str], full: bool) -> None:
    rng = np.random.default_rng(12)
    rows = 64 if full else 16
    x = (rng.standard_normal((rows, 256)) * np.exp2(rng.integers(-20, 20, (rows, 1)))
         ).astype(np.float32)
    for name in mf.BLOCK_PRESETS:
        bf = mf.format(name)
        for mode in ("nearest_even", "toward_zero"):
            for dt, xi in (("f32", x), ("f64", x.astype(np.float64))):
                out[f"block/{name}/{mode}/{dt}"] = _digest(
                    lambda bf=bf, xi=xi, mode=mode: mf.blocks.encode(xi, bf, rounding=mode))
        out[f"block/{name}/sr"] = _digest(
            lambda bf=bf: mf.blocks.encode(x, bf, rounding="stochastic_a", random_bits=8,
                                           seed=4))
        out[f"block/{name}/decode"] = _digest(
            lambda bf=bf: mf.blocks.decode(mf.blocks.encode(x, bf), bf, np.float32))


def digests(full: bool = False) -> dict[str, str]:
    """Digest of every path (the ``--full`` set uses more inputs, modes and saturations)."""
    out: dict[str, str] = {}
    for part in (float_paths, arith_paths, linalg_paths, fixed_lns_paths, block_paths):
        part(out, full)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="more inputs, modes and saturations")
    args = p.parse_args(argv)
    mf.set_num_threads(int(os.environ.get("MINIFLOAT_NUM_THREADS", "1")))
    json.dump({"level": _core.ISA, "digests": digests(args.full)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
