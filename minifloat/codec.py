"""encode / decode / quantize: argument checking and dispatch to the backend.

``encode(x)`` is the projection of docs/semantics.md §2-3 applied to each element's exact
value; ``decode(codes)`` gives exact values; ``quantize = decode(encode(x))``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import rounding as rnd
from .backends import cpu, cuda
from .formats import FixedFormat, FloatFormat, FormatLike, LNSFormat, format

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


def encode(
    x: Any,
    fmt: FormatLike,
    *,
    rounding: str | None = None,
    saturation: str | None = None,
    random_bits: int | None = None,
    seed: int | None = None,
    offset: int = 0,
    random: Any = None,
    flush_subnormals: bool | None = None,
) -> np.ndarray:
    """Project each element of ``x`` into ``fmt`` and return the codes (uint8 or uint16).

    Every element is rounded once from its exact value: ``t`` = |x| truncated to the format's
    precision, ``u`` the next value away from zero, ``nu = (|x|-t)/(u-t)``; the rounding mode
    decides t or u (see :mod:`minifloat.rounding`), then saturation handles overflow.

    Args:
        x: real array-like (floats of any width, integers, bool, ml_dtypes floats).
        fmt: a FloatFormat or a preset name.
        rounding: rounding mode name (default: the context's, else ``"nearest_even"``).
        saturation: ``"none"``, ``"finite"``, ``"propagate"`` or ``"nan"``.
        random_bits: N for stochastic modes (1..32).
        seed: Philox seed; element i uses stream position ``offset + i``.
        offset: first stream position when ``seed`` is given.
        random: explicit N-bit random integers R, broadcastable to x's shape.
        flush_subnormals: results that are subnormal after rounding become zero.

    Raises:
        ValueError: bad names/parameters, or a NaN input to a format without NaN.
        TypeError: x is not real (complex, object, strings).
    """
    f = format(fmt)
    if cuda.is_cupy_array(x):  # CuPy input: codes computed and returned on its device
        cuda.require()
        if not isinstance(f, FloatFormat):
            raise TypeError(f"the GPU backend encodes FloatFormat only, not {f}; "
                            "use x.get() for fixed-point and LNS formats")
        p = resolve_projection(f, tuple(x.shape), rounding=rounding, saturation=saturation,
                               random_bits=random_bits, seed=seed, offset=offset,
                               random=random.get() if cuda.is_cupy_array(random) else random,
                               flush_subnormals=flush_subnormals)
        return cuda.encode(x, f, p.mode, p.sat, p.nbits, p.flush, p.rsrc, p.seed, p.offset,
                           p.random)  # type: ignore[no-any-return]
    a = as_real_array(x)
    p = resolve_projection(f, a.shape, rounding=rounding, saturation=saturation,
                           random_bits=random_bits, seed=seed, offset=offset, random=random,
                           flush_subnormals=flush_subnormals)
    out = np.empty(a.shape, dtype=f.dtype)
    if not encode_resolved(a, f, p, out):
        raise ValueError(f"x contains NaN, but {f} has no NaN code; replace NaNs first "
                         "(e.g. np.nan_to_num)")
    return out


def encode_resolved(x: Any, f: FloatFormat, p: Projection, out: np.ndarray) -> bool:
    """Project ``x`` into ``out`` (codes of ``f``, x's size) with resolved settings ``p``;
    False if some element has no code (NaN into a format without NaN)."""
    a = x if isinstance(x, np.ndarray) and x.dtype == PARTS_DTYPE else as_real_array(x)
    if isinstance(f, FloatFormat):
        return cpu.encode(a, f, p.mode, p.sat, p.nbits, p.flush, p.rsrc, p.seed, p.offset,
                          p.random, out)
    if isinstance(f, FixedFormat):
        return cpu.fixed_encode(a, f, p.mode, p.sat, p.nbits, p.rsrc, p.seed, p.offset,
                                p.random, out)
    if isinstance(f, LNSFormat):
        return cpu.lns_encode(a, f, p.mode, p.sat, p.nbits, p.rsrc, p.seed, p.offset, p.random,
                              out)
    raise TypeError(f"fmt must be a FloatFormat, FixedFormat or LNSFormat, got {f!r}")


def _decode_into(c: np.ndarray, f: Any, out: np.ndarray) -> int:
    """Values of contiguous codes ``c`` of ``f`` into ``out``; returns the max code."""
    if isinstance(f, FloatFormat):
        return cpu.decode(c, f, out)
    if isinstance(f, FixedFormat):
        return cpu.fixed_decode(c, f, out)
    return cpu.lns_decode(c, f, out)


def decode(codes: Any, fmt: FormatLike, dtype: Any = np.float64) -> np.ndarray:
    """Exact values of ``codes`` in ``fmt`` (NaN for NaN codes) as ``dtype``.

    float64 is exact for every format; float32 is exact when the format's values fit it and
    otherwise rounds to nearest-even; other float dtypes are cast from float64 by NumPy.
    """
    f = format(fmt)
    if cuda.is_cupy_array(codes):
        return _decode_cupy(codes, f, dtype)  # type: ignore[no-any-return]
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise TypeError(f"codes must be an integer array, got dtype {c.dtype}")
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype must be a float dtype, got {dt}")
    if c.dtype != f.dtype:
        if c.size and (c.min() < 0 or c.max() >= f.num_codes):
            raise ValueError(f"codes must be in 0..{f.num_codes - 1} for {f}")
        c = c.astype(f.dtype)
    c = _c_contiguous(c)
    work = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float64)
    out = np.empty(c.shape, dtype=work)
    top = _decode_into(c, f, out) if c.size else 0
    if top >= f.num_codes:
        raise ValueError(f"codes must be in 0..{f.num_codes - 1} for {f}")
    return out if work == dt else out.astype(dt)


def _decode_cupy(codes: Any, f: FloatFormat, dtype: Any) -> Any:
    """decode() of a CuPy array on its device (same checks as the CPU path)."""
    cuda.require()
    if not isinstance(f, FloatFormat):
        raise TypeError(f"the GPU backend decodes FloatFormat only, not {f}; "
                        "use codes.get() for fixed-point and LNS formats")
    if codes.dtype.kind not in "iu":
        raise TypeError(f"codes must be an integer array, got dtype {codes.dtype}")
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype must be a float dtype, got {dt}")
    c = codes
    if c.dtype != f.dtype:
        if c.size and (int(c.min()) < 0 or int(c.max()) >= f.num_codes):
            raise ValueError(f"codes must be in 0..{f.num_codes - 1} for {f}")
        c = c.astype(f.dtype)
    work = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float64)
    out = cuda.decode(c, f, work)
    return out if work == dt else out.astype(dt)


def quantize(x: Any, fmt: FormatLike, **projection: Any) -> np.ndarray:
    """``decode(encode(x, fmt, **projection))`` in x's float dtype (float64 for integer input)."""
    a = x if cuda.is_cupy_array(x) else np.asarray(x)
    dt = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    return decode(encode(a, fmt, **projection), fmt, dtype=dt)


def philox_words(seed: int, offset: int, n: int) -> np.ndarray:
    """The raw 32-bit Philox4x32-10 words at stream positions ``offset .. offset+n-1``
    (docs/semantics.md §4), for regenerating the random bits of a stochastic call."""
    rnd.check_seed(seed)
    return cpu.philox_words(seed, offset, n)
