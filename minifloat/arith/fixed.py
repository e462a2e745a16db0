"""Arithmetic on fixed-point codes (docs/lns_fixed.md §1.2-1.3), dispatched from
minifloat.ops and minifloat.linalg: exact results in wide integers (fixed.h, arith.h), one
projection into the result format.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from .. import _core
from ..codec import decode, encode_resolved, resolve_projection
from ..formats import FixedFormat, FloatFormat

# arith.h ArithOp numbers
_OPS = {"add": 0, "subtract": 1, "multiply": 2, "divide": 3, "fma": 4, "sqrt": 5,
        "negative": 6, "absolute": 7, "positive": 8}


def _check_alignment(name: str, fmts: list[Any], fo: FixedFormat) -> None:
    """Exact results are formed in 128-bit integers; reject the (exotic) format combinations
    whose alignment would not fit, rather than compute them wrongly."""
    fa = fmts[0]
    if name in ("add", "subtract") and abs(fa.frac_bits - fmts[1].frac_bits) > 94:
        raise ValueError(f"{name}: frac_bits {fa.frac_bits} and {fmts[1].frac_bits} differ by "
                         "more than 94; convert one operand first")
    if name == "fma":
        sab, fc = fa.frac_bits + fmts[1].frac_bits, fmts[2].frac_bits
        if sab - fc > 94 or fc - sab > 63:
            raise ValueError("fma: the product's scale 2^-(Fa+Fb) and the addend's 2^-Fc are "
                             "too far apart (allowed: -63 <= Fa+Fb-Fc <= 94)")
    if name == "sqrt" and 2 * fo.frac_bits - fa.frac_bits > 86:
        raise ValueError("sqrt: the result format has too many fraction bits for the operand "
                         "(allowed: 2*F_out - F_in <= 86)")


def elementwise(name: str, codes: list[np.ndarray], fmts: list[Any], fo: Any, p: Any,
                out: np.ndarray) -> bool:
    """``out`` = codes of op ``name`` on fixed-point operands, rounded once into ``fo``
    (projection settings ``p`` of minifloat.codec.resolve_projection). Unary copies
    (positive / negative / absolute) also convert between fixed point and float formats
    through exact float64 values. Returns False if a NaN result has no code."""
    if all(isinstance(f, FixedFormat) for f in [*fmts, fo]):
        _check_alignment(name, fmts, fo)
        ops = [np.ascontiguousarray(c) for c in codes]
        specs = [f.spec for f in fmts]
        while len(ops) < 3:
            ops.append(ops[0])
            specs.append(specs[0])
        return bool(_core.fixed_arith(_OPS[name], ops[0], specs[0], ops[1], specs[1], ops[2],
                                      specs[2], fo.spec, p.mode, p.sat, p.nbits, p.rsrc, p.seed,
                                      p.offset, p.random, out))
    exact_source = isinstance(fmts[0], (FixedFormat, FloatFormat))
    if name in ("positive", "negative", "absolute") and exact_source:
        v = decode(codes[0], fmts[0])  # exact in float64 for fixed-point and float formats
        v = {"positive": np.positive, "negative": np.negative, "absolute": np.abs}[name](v)
        return encode_resolved(v, fo, p, out)
    raise ValueError(f"{name}: operands {', '.join(map(str, fmts))} -> {fo} mix fixed point "
                     "with another number system; convert operands with astype() first")


def elementwise_gpu(name: str, codes: list[Any], fmts: list[Any], fo: Any, p: Any) -> Any:
    """:func:`elementwise` on CuPy codes, all formats fixed point: the ``mf_fixed_arith``
    kernel (minifloat.backends.cuda_fixed_lns) with the same exact operation, projection and
    Philox positions, so the codes equal the CPU's.  Returns the CuPy result codes."""
    from ..backends import cuda_fixed_lns

    _check_alignment(name, fmts, fo)
    return cuda_fixed_lns.arith(_OPS[name], codes, fmts, fo, p.mode, p.sat, p.nbits, p.rsrc,
                                p.seed, p.offset, p.random)


def contract(a: np.ndarray, fa: Any, b: np.ndarray | None, fb: Any, fo: Any, kind: int,
             facc: Any, order: str, block: int, projection: dict[str, Any]) -> np.ndarray:
    """Codes of ``a @ b`` (or row sums of a when b is None) for fixed-point operands:
    exact products, accumulated by ``kind`` (linalg ACC_*: 0 exact, 1 a format, 2 float32,
    3 float64) in ``order``, then projected once into ``fo`` (fixed or float)."""
    if not isinstance(fa, FixedFormat) or (b is not None and not isinstance(fb, FixedFormat)):
        raise ValueError(f"contraction of {fa} with {fb}: fixed-point operands must not be "
                         "mixed with other number systems; convert with astype() first")
    if kind < 0:
        raise ValueError("accumulator='float32_blas' is for float formats; use 'float32'")
    M, K = a.shape
    N = 1 if b is None else b.shape[1]
    sab = fa.frac_bits + (fb.frac_bits if b is not None else 0)
    acc, sacc = kind, cast(tuple[int, ...], fa.spec)
    if kind == 1:
        if isinstance(facc, FixedFormat):
            if sab - facc.frac_bits > 94 or facc.frac_bits - sab > 63:
                raise ValueError(f"accumulator {facc}: its frac_bits {facc.frac_bits} is too far "
                                 f"from the products' {sab} (allowed: -63 <= {sab} - F <= 94)")
            sacc = facc.spec
        elif isinstance(facc, FloatFormat):
            acc, sacc = 4, facc.spec
        else:
            raise ValueError(f"accumulator {facc} cannot accumulate fixed-point products")
    if kind == 3:
        mags = [max(-f.min_int, f.max_int).bit_length() for f in
                ([fa, fb] if b is not None else [fa])]
        if sum(mags) > 53:
            raise ValueError(f"accumulator='float64' needs float64-exact products; those of "
                             f"{fa} and {fb} have up to {sum(mags)} bits; use 'exact' or a format")
    if not isinstance(fo, (FixedFormat, FloatFormat)):
        raise ValueError(f"out_format {fo} cannot take a fixed-point sum; use astype() after")
    p = resolve_projection(cast(Any, fo), (M * N * (K + 1),), **projection)
    if p.rsrc == 2:
        raise ValueError("random= is not supported for contractions; use seed=")
    out = np.empty((M, N), dtype=fo.dtype)
    ok = _core.fixed_contract(np.ascontiguousarray(a), fa.spec,
                              None if b is None else np.ascontiguousarray(b),
                              (fb if b is not None else fa).spec, M, K, N, acc, sacc, fo.spec,
                              p.mode, p.sat, p.nbits, int(order == "pairwise"), block, p.rsrc,
                              p.seed, p.offset, out)
    if not ok:
        raise ValueError(f"a NaN result has no code in {fo} (it has no NaN)")
    return out


def ones_like_codes(shape: tuple[int, ...]) -> tuple[np.ndarray, FixedFormat]:
    """Codes and format of an array of exact 1s (the 2-bit FixedFormat(1, 0) holds 1)."""
    return np.ones(shape, dtype=np.uint8), FixedFormat(1, 0)
