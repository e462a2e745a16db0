"""encode / decode / quantize: argument checking and dispatch to the backend.

``encode(x)`` is the projection of docs/semantics.md §2-3 applied to each element's exact
value; ``decode(codes)`` gives exact values; ``quantize = decode(encode(x))``.  Block-scaled
formats (:class:`~minifloat.formats.BlockFormat`, §8) go to :mod:`minifloat.blocks`: their
``encode`` returns a :class:`~minifloat.blocks.BlockCodes` (codes, scales, tensor_scale),
which their ``decode`` takes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import blocks
from . import rounding as rnd
from .backends import cpu, cuda, cuda_fixed_lns
from .formats import BlockFormat, FixedFormat, FloatFormat, FormatLike, LNSFormat, format
from .projection import (  # noqa: F401 - re-exported: the codec's public helpers
    PARTS_DTYPE,
    Projection,
    _c_contiguous,
    _random_array,
    as_real_array,
    resolve_projection,
)


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
    """Project each element of ``x`` into ``fmt`` and return the codes (uint8 or uint16);
    for a block format, a :class:`~minifloat.blocks.BlockCodes` (codes, scales, tensor scale).

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
    if isinstance(f, BlockFormat):  # type: ignore[unreachable]
        return blocks.encode(x, f, rounding=rounding,  # type: ignore[unreachable]
                             saturation=saturation, random_bits=random_bits, seed=seed,
                             offset=offset, random=random, flush_subnormals=flush_subnormals)
    if cuda.is_cupy_array(x):  # CuPy input: codes computed and returned on its device
        cuda.require()
        p = resolve_projection(f, tuple(x.shape), rounding=rounding, saturation=saturation,
                               random_bits=random_bits, seed=seed, offset=offset,
                               random=random.get() if cuda.is_cupy_array(random) else random,
                               flush_subnormals=flush_subnormals)
        if isinstance(f, FloatFormat):
            return cuda.encode(x, f, p.mode, p.sat, p.nbits, p.flush, p.rsrc, p.seed, p.offset,
                               p.random)  # type: ignore[no-any-return]
        return cuda_fixed_lns.encode(x, f, p.mode, p.sat, p.nbits, p.rsrc,  # type: ignore[no-any-return]
                                     p.seed, p.offset, p.random)
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
    if isinstance(f, BlockFormat):  # type: ignore[unreachable]
        return blocks.decode(codes, f, dtype)  # type: ignore[unreachable]
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


def _decode_cupy(codes: Any, f: FloatFormat | FixedFormat | LNSFormat, dtype: Any) -> Any:
    """decode() of a CuPy array on its device (same checks as the CPU path)."""
    cuda.require()
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
    out = cuda.decode(c, f, work) if isinstance(f, FloatFormat) else \
        cuda_fixed_lns.decode(c, f, work)
    return out if work == dt else out.astype(dt)


def quantize(x: Any, fmt: FormatLike, **projection: Any) -> np.ndarray:
    """``decode(encode(x, fmt, **projection))`` in x's float dtype (float64 for integer input)."""
    f = format(fmt)
    if isinstance(f, BlockFormat):  # type: ignore[unreachable]
        return blocks.quantize(x, f, **projection)  # type: ignore[unreachable]
    a = x if cuda.is_cupy_array(x) else np.asarray(x)
    dt = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    return decode(encode(a, fmt, **projection), fmt, dtype=dt)


def philox_words(seed: int, offset: int, n: int) -> np.ndarray:
    """The raw 32-bit Philox4x32-10 words at stream positions ``offset .. offset+n-1``
    (docs/semantics.md §4), for regenerating the random bits of a stochastic call."""
    rnd.check_seed(seed)
    return cpu.philox_words(seed, offset, n)
