"""Projection settings and input conversion shared by every codec (elementwise in
minifloat.codec, block-scaled in minifloat.blocks): the resolved rounding/saturation/random
source of a call and the exact input types the core reads.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import rounding as rnd
from .formats import FloatFormat

_ML_DTYPES_NAMES = {
    "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
    "float8_e4m3b11fnuz", "float8_e3m4", "float8_e4m3", "float8_e8m0fnu", "float6_e2m3fn",
    "float6_e3m2fn", "float4_e2m1fn", "int4", "uint4", "int2", "uint2",
}


def as_real_array(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as a C-contiguous array of a type the core reads exactly: float32, float64,
    int64 or uint64 (narrower types are widened exactly; float16 and ml_dtypes floats go to
    float32, whose values they all are)."""
    a = np.asarray(x)
    dt = a.dtype
    if dt.kind == "f":
        if dt.itemsize == 2:
            a = a.astype(np.float32)
        elif dt.itemsize > 8:
            a = _exact_parts(a) if np.finfo(dt).nmant > 52 else a.astype(np.float64)
    elif dt.kind == "b":
        a = a.astype(np.int64)
    elif dt.kind == "i":
        a = a.astype(np.int64, copy=False)
    elif dt.kind == "u":
        a = a.astype(np.uint64 if dt.itemsize == 8 else np.int64, copy=False)
    elif dt.kind == "V" and dt.name in _ML_DTYPES_NAMES:
        a = a.astype(np.float32)
    else:
        raise TypeError(f"{name} must hold real numbers (float, int or bool); got dtype {dt}")
    return _c_contiguous(a)


# Exact parts |x| = sig * 2^e_lsb of wider floats (x87 long double): the layout of
# csrc/module.cpp's PartsIn.  flags = class (0 finite, 1 zero, 2 inf, 3 nan) | sign << 8.
PARTS_DTYPE = np.dtype([("sig", "<u8"), ("e_lsb", "<i4"), ("flags", "<i4")])


def _exact_parts(a: np.ndarray) -> np.ndarray:
    """Decompose a long double array exactly (its significand has at most 64 bits)."""
    if np.finfo(a.dtype).nmant > 63:
        raise TypeError(f"dtype {a.dtype} has more than 64 significand bits; convert it first")
    out = np.zeros(a.shape, dtype=PARTS_DTYPE)
    mag = np.abs(a)
    cls = np.select([np.isnan(a), np.isinf(a), mag == 0], [3, 2, 1], 0)
    finite = cls == 0
    m, e = np.frexp(np.where(finite, mag, 1))
    out["sig"] = np.where(finite, np.ldexp(m, 64), 0).astype(np.uint64)
    out["e_lsb"] = e - 64
    out["flags"] = cls | (np.signbit(a).astype(np.int32) << 8)
    return out


def _c_contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` in C order (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


def _random_array(random: Any, shape: tuple[int, ...], nbits: int) -> np.ndarray:
    r = np.asarray(random)
    if r.dtype.kind not in "iu":
        raise TypeError(f"random must be an integer array, got dtype {r.dtype}")
    try:
        r = np.broadcast_to(r, shape)
    except ValueError:
        raise ValueError(f"random has shape {r.shape}, which does not broadcast to x's shape "
                         f"{shape}") from None
    if r.size and (r.min() < 0 or int(r.max()) >= 1 << nbits):
        raise ValueError(f"random values must be in 0..2**{nbits}-1 (random_bits={nbits})")
    return _c_contiguous(r.astype(np.uint32))


class Projection(NamedTuple):
    """Resolved projection settings as the core takes them."""

    mode: int  # project.h Rounding
    sat: int  # project.h Saturation
    nbits: int  # random bits N (0: deterministic)
    flush: bool
    rsrc: int  # 0 none, 1 Philox(seed, offset), 2 explicit `random` array
    seed: int
    offset: int
    random: np.ndarray | None
    rounding: str


def resolve_projection(
    f: FloatFormat,
    shape: tuple[int, ...],
    *,
    rounding: str | None = None,
    saturation: str | None = None,
    random_bits: int | None = None,
    seed: int | None = None,
    offset: int = 0,
    random: Any = None,
    flush_subnormals: bool | None = None,
) -> Projection:
    """Per-call keywords over the thread's context (``mf.config``) over the defaults, checked;
    a stochastic mode also draws its random-bit source for ``prod(shape)`` elements."""
    ctx = rnd.current()
    mode = rnd.check_rounding(ctx.rounding if rounding is None else rounding)
    sat = rnd.check_saturation(ctx.saturation if saturation is None else saturation)
    flush = ctx.flush_subnormals if flush_subnormals is None else flush_subnormals
    if sat == "wrap" and isinstance(f, FloatFormat):
        raise ValueError("saturation='wrap' is only defined for fixed-point formats")
    if sat == "nan" and not f.has_nan:
        raise ValueError(f"saturation='nan' needs a format with a NaN code; {f} has none")
    nbits = rnd.random_bits_for(mode, ctx.random_bits if random_bits is None else random_bits)
    rsrc, s, off, rarr = 0, 0, 0, None
    if nbits:
        if random is not None:
            rsrc, rarr = 2, _random_array(random, shape, nbits)
        else:
            rsrc = 1
            s, off = rnd.draw_seed(int(np.prod(shape, dtype=np.int64)), seed, offset)
    elif random is not None:
        raise ValueError(f"random= is only used by stochastic roundings, not rounding={mode!r}")
    return Projection(rnd.ROUNDINGS[mode], rnd.SATURATIONS[sat], nbits, bool(flush), rsrc, s,
                      off, rarr, mode)
