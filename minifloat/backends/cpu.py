"""The CPU backend: thin calls into the compiled module ``minifloat._core``.

Value tables are cached per format: decoding is a gather through a table built once by the
exact C++ decoder (decode.h), padded with NaN to the full range of the code dtype so that an
out-of-range code can never read outside it (the caller rejects such codes).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from ..formats.log_tables import threshold_table

if TYPE_CHECKING:
    from ..formats import FixedFormat, FloatFormat, LNSFormat


def derive(spec: tuple[int, ...]) -> dict[str, Any]:
    """Derived constants of a format descriptor (spec.h)."""
    return dict(_core.derive(spec))


@lru_cache(maxsize=256)
def value_table(fmt: FloatFormat) -> np.ndarray:
    """Exact float64 value of every code of ``fmt`` (read-only)."""
    t = _core.decode_table(fmt.spec)
    t.setflags(write=False)
    return t


@lru_cache(maxsize=256)
def padded_table(fmt: FloatFormat, dtype: np.dtype) -> np.ndarray:
    """value_table cast to ``dtype`` (float32/float64), NaN-padded to 2**(8*itemsize) rows."""
    size = 1 << (8 * fmt.dtype.itemsize)
    t = np.full(size, np.nan, dtype=dtype)
    with np.errstate(over="ignore"):  # values beyond float32 decode to +-inf there (documented)
        t[: fmt.num_codes] = value_table(fmt)
    t.setflags(write=False)
    return t


def encode(x: np.ndarray, fmt: FloatFormat, mode: int, sat: int, nbits: int, flush: bool,
           rsrc: int, seed: int, offset: int, random: np.ndarray | None,
           out: np.ndarray) -> bool:
    """Project contiguous ``x`` (float32/float64/int64/uint64) into ``out``; False if some
    element has no faithful code (NaN into a format without NaN)."""
    return bool(_core.encode(x, fmt.spec, mode, sat, nbits, int(flush), rsrc, seed, offset,
                             random, out))


def decode(codes: np.ndarray, fmt: FloatFormat, out: np.ndarray) -> int:
    """Gather values of contiguous uint8/uint16 ``codes`` into ``out``; returns the max code."""
    return int(_core.decode(codes, padded_table(fmt, out.dtype), out))


def matmul_f32_codes(a: np.ndarray, fa: FloatFormat, b: np.ndarray, fb: FloatFormat,
                     fo: FloatFormat, mode: int, sat: int, nbits: int, flush: bool, rsrc: int,
                     seed: int, offset: int, out: np.ndarray) -> bool:
    """out = encode(A @ B) with sequential binary32 FMAs, from valid codes (2-D, contiguous)
    in one call; returns encode's result (False: a NaN result without a code)."""
    (M, K), N = a.shape, b.shape[1]
    return bool(_core.matmul_f32_codes(
        a, padded_table(fa, np.dtype(np.float32)), b, padded_table(fb, np.dtype(np.float32)),
        M, K, N, fo.spec, mode, sat, nbits, int(flush), rsrc, seed, offset, out))


def fixed_encode(x: np.ndarray, fmt: FixedFormat, mode: int, sat: int, nbits: int, rsrc: int,
                 seed: int, offset: int, random: np.ndarray | None, out: np.ndarray) -> bool:
    """Fixed-point projection (fixed.h) of contiguous ``x`` into ``out``; False for NaN."""
    return bool(_core.fixed_encode(x, fmt.spec, mode, sat, nbits, rsrc, seed, offset, random,
                                   out))


def fixed_decode(codes: np.ndarray, fmt: FixedFormat, out: np.ndarray) -> int:
    """Exact values of fixed-point codes into ``out``; returns the max code."""
    return int(_core.fixed_decode(codes, fmt.spec, out))


def lns_encode(x: np.ndarray, fmt: LNSFormat, mode: int, sat: int, nbits: int, rsrc: int,
               seed: int, offset: int, random: np.ndarray | None, out: np.ndarray) -> bool:
    """LNS projection (lns.h, log-domain rounding decided by the exact thresholds)."""
    return bool(_core.lns_encode(x, fmt.spec, threshold_table(fmt.frac_bits), mode, sat, nbits,
                                 rsrc, seed, offset, random, out))


@lru_cache(maxsize=64)
def lns_padded_table(fmt: LNSFormat, dtype: np.dtype) -> np.ndarray:
    """Every code's value (lns.h ``lns_decode_double``: 2^(L/2^F) correctly rounded) in
    ``dtype``, NaN-padded to every value of the code dtype (read-only)."""
    values = _core.lns_decode_table(fmt.spec, threshold_table(fmt.frac_bits))
    t = np.full(1 << (8 * fmt.dtype.itemsize), np.nan, dtype=dtype)
    with np.errstate(over="ignore"):
        t[: fmt.num_codes] = values
    t.setflags(write=False)
    return t


def lns_decode(codes: np.ndarray, fmt: LNSFormat, out: np.ndarray) -> int:
    """Values of LNS codes into ``out`` (a gather); returns the max code."""
    return int(_core.decode(codes, lns_padded_table(fmt, out.dtype), out))


def block_encode(x: np.ndarray, layout: tuple[int, ...], bspec: tuple[Any, ...], mode: int,
                 sat: int, nbits: int, rsrc: int, seed: int, offset: int,
                 random: np.ndarray | None, codes: np.ndarray, scodes: np.ndarray) -> bool:
    """Block-scaled projection (block.h) of contiguous float32/float64 ``x`` in the canonical
    ``layout`` into element ``codes`` and uint32 scale codes ``scodes``; False when a needed
    code does not exist (a NaN scale in a scale format without NaN)."""
    return bool(_core.block_encode(x, layout, bspec, mode, sat, nbits, rsrc, seed, offset,
                                   random, codes, scodes))


def block_decode(codes: np.ndarray, scodes: np.ndarray, layout: tuple[int, ...],
                 etable: np.ndarray, stable: np.ndarray, tensor: float, out: np.ndarray) -> None:
    """``out = etable[codes] * stable[scodes] * tensor`` over the blocks of ``layout``."""
    _core.block_decode(codes, scodes, layout, etable, stable, tensor, out)


def block_matmul(a: np.ndarray, b: np.ndarray, sa: np.ndarray, sb: np.ndarray,
                 shape: tuple[int, int, int], kb: int, t: float, kind: int,
                 sacc: tuple[int, ...], so: tuple[int, ...], proj: tuple[int, ...],
                 pairwise: int, block: int, fast: int, e0: int, limbs: int,
                 out: np.ndarray, pieces: np.ndarray | None = None) -> bool:
    """Codes of the block dot products (block_dot.h) of element values a (M, K), b (K, N)
    with per-element-block scale values sa (M, NB), sb (NB, N) and tensor scale product t;
    proj = (mode, sat, nbits, flush, rsrc, seed, offset); pieces (NP, M, K): a's elements cut
    by magnitude for the split path (fast must be set).  False: a NaN without a code."""
    M, K, N = shape
    mode, sat, nbits, flush, rsrc, seed, offset = proj
    return bool(_core.block_matmul(a, b, sa, sb, M, K, N, kb, t, kind, sacc, so, mode, sat,
                                   nbits, flush, pairwise, block, rsrc, seed, offset, fast, e0,
                                   limbs, out, np.empty(0) if pieces is None else pieces))


def divide_round_f32(a: float, d: float) -> float:
    """RN_binary32(a / d) from the exact quotient (a >= 0, d > 0 finite)."""
    return float(_core.divide_round_f32(a, d))


def finite_amax(x: np.ndarray) -> float:
    """Largest magnitude of the finite elements of contiguous float32/float64 ``x`` (0 if
    none)."""
    return float(_core.finite_amax(x))


def philox_words(seed: int, offset: int, n: int) -> np.ndarray:
    """Raw Philox4x32-10 words for stream positions offset .. offset+n-1."""
    return _core.philox_words(seed, offset, n)


def set_num_threads(n: int) -> None:
    """Worker threads for CPU kernels."""
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Current number of worker threads."""
    return int(_core.get_num_threads())
