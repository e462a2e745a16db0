"""Arithmetic on LNS codes (docs/lns_fixed.md §2.3-2.7), dispatched from minifloat.ops and
minifloat.linalg: exact products and quotients (log sums), additions by the ``lns_add=``
algorithm (minifloat.formats.lns_add), contractions with LNS, float or linear-bins
accumulators.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import numpy as np

from .. import _core
from ..codec import PARTS_DTYPE, decode, encode_resolved, resolve_projection
from ..formats import FixedFormat, FloatFormat, LNSFormat
from ..formats.lns_add import Interp, LinearBins, check_lns_add, gauss_for
from ..formats.log_tables import threshold_table
from ..rounding import current


def _current_add() -> Any:
    return current().lns_add


def call_lns_add(algorithm: Any, formats: list[Any]) -> Any:
    """A call's ``lns_add=`` keyword, checked: an allowed value (:func:`check_lns_add`) on a call
    whose operands, result or accumulator include an LNS format (ValueError otherwise: the
    keyword could not act and would be ignored silently)."""
    algorithm = check_lns_add(algorithm)
    if not any(isinstance(f, LNSFormat) for f in formats):
        names = ", ".join(dict.fromkeys(str(f) for f in formats))
        what = repr(algorithm) if isinstance(algorithm, (str, Interp)) else "a table"
        raise ValueError(f"lns_add={what} selects the addition of LNS formats; this call "
                         f"has none ({names}); drop lns_add")
    return algorithm


_OPS = {"add": 0, "subtract": 1, "multiply": 2, "divide": 3, "sqrt": 5, "negative": 6,
        "absolute": 7, "positive": 8}


def elementwise(name: str, codes: list[np.ndarray], fmts: list[Any], fo: Any, p: Any,
                out: np.ndarray, power: int = 0, algorithm: Any = None) -> bool:
    """``out`` = codes of op ``name`` (a minifloat.ops name, or "power") on LNS operands,
    rounded once into ``fo``. Binary operations need operands with the result's frac_bits
    (compatible logs); unary copies also convert between LNS, float and fixed-point formats.
    Returns False if a NaN result has no code."""
    src = fmts[0]
    if name in ("positive", "negative", "absolute"):
        if isinstance(src, LNSFormat) and not isinstance(fo, LNSFormat):
            return bool(_core.lns_convert(np.ascontiguousarray(codes[0]), src.spec,
                                          threshold_table(src.frac_bits), _OPS[name], fo.spec,
                                          p.mode, p.sat, p.nbits, int(p.flush), p.rsrc, p.seed,
                                          p.offset, p.random, out))
        if isinstance(src, (FloatFormat, FixedFormat)):
            v = decode(codes[0], cast(Any, src))  # exact in float64
            v = {"positive": np.positive, "negative": np.negative, "absolute": np.abs}[name](v)
            return encode_resolved(v, fo, p, out)
    if not all(isinstance(f, LNSFormat) for f in [*fmts, fo]):
        raise ValueError(f"{name}: operands {', '.join(map(str, fmts))} -> {fo} mix LNS with "
                         "another number system; convert operands with astype() first")
    if name not in ("positive",) and any(f.frac_bits != fo.frac_bits for f in fmts):
        raise ValueError(f"{name}: LNS operands and result must have the same frac_bits "
                         f"(got {[f.frac_bits for f in fmts]} -> {fo.frac_bits}); convert first")
    op = 9 if name == "power" else _OPS.get(name)
    if op is None:
        raise ValueError(f"{name} is not defined on LNS formats")
    gauss = None
    if name in ("add", "subtract"):
        gauss = gauss_for(fo, _current_add() if algorithm is None else algorithm).as_tuple()
    a = np.ascontiguousarray(codes[0])
    b = np.ascontiguousarray(codes[1]) if len(codes) > 1 else a
    fb = fmts[1] if len(fmts) > 1 else src
    if (op <= 1 and p.nbits == 0 and a.size >= _PAIR_TABLE_MIN
            and max(src.bits, fb.bits, fo.bits) <= 8):
        table = _pair_table(op, src, fb, fo, p.mode, p.sat, _gauss_key(gauss))
        return bool(_core.gather2(a, b, table, fb.num_codes, out) < fo.num_codes)
    return bool(_core.lns_arith(op, a, src.spec, b, fb.spec, fo.spec,
                                threshold_table(fo.frac_bits), p.mode, p.sat, p.nbits, p.rsrc,
                                p.seed, p.offset, p.random, gauss, int(power), out))


# Deterministic + and - with <= 8-bit LNS operands and result from this many elements on: a
# table of every operand pair's result code, built once by the same kernel (lns_arith) and
# cached (* and / are a few integer operations: the kernel is faster than the lookup).
_PAIR_TABLE_MIN = 1 << 12


def _gauss_key(gauss: tuple[Any, ...] | None) -> Any:
    """A hashable stand-in for GaussLog.as_tuple() (its arrays' bytes)."""
    if gauss is None:
        return None
    return (*(np.asarray(g).tobytes() for g in gauss[:6]), int(gauss[6]))


@lru_cache(maxsize=64)
def _pair_table(op: int, fa: LNSFormat, fb: LNSFormat, fo: LNSFormat, mode: int, sat: int,
                gkey: Any) -> np.ndarray:
    """uint16 result code of op (0 add, 1 subtract, 2 multiply, 3 divide) for every pair of
    codes (a, b) at a * fb.num_codes + b, from the kernel itself; 0xFFFF marks a NaN result
    without a code."""
    gauss = None
    if gkey is not None:
        dts = (np.int32, np.uint8, np.uint64, np.int32, np.uint8, np.uint64)
        gauss = (*(np.frombuffer(k, dtype=dt) for k, dt in zip(gkey[:6], dts)), gkey[6])
    a = np.repeat(np.arange(fa.num_codes, dtype=np.uint16), fb.num_codes)
    b = np.tile(np.arange(fb.num_codes, dtype=np.uint16), fa.num_codes)
    table = np.empty(a.size, dtype=np.uint16)
    _core.lns_arith(op, a, fa.spec, b, fb.spec, fo.spec, threshold_table(fo.frac_bits), mode,
                    sat, 0, 0, 0, 0, None, gauss, 0, table)
    table.setflags(write=False)
    return table


def ones_like_codes(shape: tuple[int, ...]) -> tuple[np.ndarray, LNSFormat]:
    """Codes and format of an array of exact 1s (L = 0 in any LNS format)."""
    return np.zeros(shape, dtype=np.uint8), LNSFormat(2, 0)


def contract(a: np.ndarray, fa: Any, b: np.ndarray | None, fb: Any, fo: Any, kind: int,
             facc: Any, order: str, block: int, projection: dict[str, Any],
             algorithm: Any = None) -> np.ndarray:
    """Codes of ``a @ b`` (or row sums of a) for LNS operands: exact products (log sums),
    accumulated by ``kind`` (linalg ACC_*: 1 an LNS format with the operands' frac_bits,
    2 float32, 3 float64: each product's value rounded to the float first), in ``order``,
    then projected once into ``fo`` (LNS, float or fixed point). ``algorithm``: the LNS
    addition algorithm of an LNS accumulator (None: the context's ``lns_add``)."""
    if not isinstance(fa, LNSFormat) or (b is not None and not isinstance(fb, LNSFormat)):
        raise ValueError(f"contraction of {fa} with {fb}: LNS operands must not be mixed with "
                         "other number systems; convert with astype() first")
    if b is not None and fb.frac_bits != fa.frac_bits:
        raise ValueError("LNS operands of a product must have the same frac_bits")
    M, K = a.shape
    N = 1 if b is None else b.shape[1]
    if kind == 4:
        pl = resolve_projection(cast(Any, fo), (M * N,), **projection)
        if pl.rsrc == 2:
            raise ValueError("random= is not supported for contractions; use seed=")
        return _linear_bins(a, fa, b, fb, fo, facc, pl)
    if kind == 0:
        raise ValueError("accumulator='exact' is not defined for LNS (sums of LNS values are "
                         "not finite binary fractions); use an LNS format, 'float32' or "
                         "'float64'")
    if kind < 0:
        raise ValueError("accumulator='float32_blas' is for float formats; use 'float32'")
    sacc: tuple[int, ...] = fa.spec
    gauss = None
    if kind == 1:
        if not isinstance(facc, LNSFormat) or facc.frac_bits != fa.frac_bits:
            raise ValueError(f"accumulator {facc}: LNS products accumulate in an LNS format "
                             f"with frac_bits={fa.frac_bits}, 'float32' or 'float64'")
        sacc = facc.spec
        gauss = gauss_for(facc, _current_add() if algorithm is None else algorithm).as_tuple()
    if isinstance(fo, LNSFormat):
        out_kind = 0
    elif isinstance(fo, FloatFormat):
        out_kind = 1
    elif isinstance(fo, FixedFormat):
        out_kind = 2
    else:
        raise ValueError(f"out_format {fo} is not a number format")
    p = resolve_projection(cast(Any, fo), (M * N * (K + 1),), **projection)
    if p.rsrc == 2:
        raise ValueError("random= is not supported for contractions; use seed=")
    out = np.empty((M, N), dtype=fo.dtype)
    thr_o = threshold_table(fo.frac_bits) if out_kind == 0 else threshold_table(fa.frac_bits)
    ok = _core.lns_contract(np.ascontiguousarray(a), fa.spec,
                            None if b is None else np.ascontiguousarray(b),
                            (fb if b is not None else fa).spec, M, K, N, kind, sacc, gauss,
                            fo.spec, out_kind, threshold_table(fa.frac_bits), thr_o, p.mode,
                            p.sat, p.nbits, int(p.flush), int(order == "pairwise"), block,
                            p.rsrc, p.seed, p.offset, out)
    if not ok:
        raise ValueError(f"a NaN result has no code in {fo}")
    return out


def _linear_bins(a: np.ndarray, fa: LNSFormat, b: np.ndarray | None, fb: LNSFormat,
                 fo: Any, bins_acc: LinearBins, p: Any) -> np.ndarray:
    """Codes of the linear-bins contraction (see LinearBins), projected with ``p``."""
    F = fa.frac_bits
    tab = bins_acc.table(F)
    M, K = a.shape
    N = 1 if b is None else b.shape[1]

    def logs(codes: np.ndarray, f: LNSFormat) -> tuple[np.ndarray, ...]:
        c = codes.astype(np.int64)
        W = f.log_bits
        field = c & ((1 << W) - 1)
        L = field - ((field >> (W - 1)) << W)
        neg = (c >> W) & 1 if f.signed else np.zeros_like(c)
        zero = field == (1 << (W - 1))
        nan = zero & (neg == 1)
        inf = (L == f.log_max + 1) & bool(f.infinities) & ~zero
        return L, neg, zero & ~nan, nan, inf

    La, na, za, nana, ia = logs(a, fa)
    if b is None:
        Lb = np.zeros((K, 1), np.int64)
        nb = np.zeros((K, 1), np.int64)
        zb = nanb = ib = np.zeros((K, 1), bool)
    else:
        Lb, nb, zb, nanb, ib = logs(b, fb)
    parts = np.zeros((M, N), dtype=PARTS_DTYPE)
    e_min = 2 * (-(1 << (fa.log_bits - 1))) >> F  # below every product's e
    for i in range(M):
        L = La[i][:, None] + Lb
        neg = (na[i][:, None] ^ nb).astype(bool)
        zero = za[i][:, None] | zb
        nan = nana[i][:, None] | nanb | (ia[i][:, None] & zb) | (za[i][:, None] & ib)
        inf = (ia[i][:, None] | ib) & ~nan
        e = (L >> F) - e_min
        r = L & ((1 << F) - 1)
        for j in range(N):
            col_nan = bool(nan[:, j].any())
            pinf = bool((inf[:, j] & ~neg[:, j]).any())
            ninf = bool((inf[:, j] & neg[:, j]).any())
            if col_nan or (pinf and ninf):
                parts[i, j] = (0, 0, 3)
                continue
            if pinf or ninf:
                parts[i, j] = (0, 0, 2 | (int(ninf) << 8))
                continue
            live = ~zero[:, j]
            bins = [0] * (1 << F)
            for ee, rr, ng in zip(e[live, j].tolist(), r[live, j].tolist(),
                                  neg[live, j].tolist()):
                bins[rr] += -(1 << ee) if ng else (1 << ee)
            S = sum(bv * t for bv, t in zip(bins, tab))
            e_lsb = e_min - (bins_acc.width - 1)
            if S == 0:
                parts[i, j] = (0, 0, 1)
                continue
            sgn, mag = int(S < 0), abs(S)
            nb_ = mag.bit_length()
            if nb_ > 62:  # 61 bits and the half-LSB sticky bit (arith.h): one rounding
                sh = nb_ - 61
                q = mag >> sh
                mag, e_lsb = 2 * q + int(mag != q << sh), e_lsb + sh - 1
            parts[i, j] = (mag, e_lsb, sgn << 8)
    out = np.empty((M, N), dtype=fo.dtype)
    if not encode_resolved(parts, fo, p, out):
        raise ValueError(f"a NaN result has no code in {fo}")
    return out
