"""Block-scaled encode / decode / quantize (docs/semantics.md §8): argument checks, the
canonical layout of the blocks, and the calls into the core (csrc/include/minifloat/block.h).

``encode(x, BlockFormat)`` returns :class:`BlockCodes`: one element code per element (x's
shape), one scale code per block (x's shape with each block axis divided by its block size,
rounded up) and the per-tensor scale.  minifloat.codec dispatches here for block formats.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from .backends import cpu, cuda, cuda_blocks
from .formats import BlockFormat, FixedFormat, FloatFormat
from .projection import _c_contiguous, as_real_array, resolve_projection


class BlockCodes(NamedTuple):
    """The encoding of an array in a block format.

    Attributes:
        codes: element codes, the input's shape (uint8 or uint16).
        scales: scale codes, the input's shape with each block axis reduced to its number of
            blocks (uint8 for E8M0/E4M3 scales).
        tensor_scale: the per-tensor scale T (a float32 value; 1.0 for one-level formats).
        format: the BlockFormat (set by encode; mf.matmul of two BlockCodes reads it).
    """

    codes: np.ndarray
    scales: np.ndarray
    tensor_scale: float = 1.0
    format: BlockFormat | None = None


def _axes(bf: BlockFormat, ndim: int) -> tuple[int, ...]:
    out = []
    for a in bf.axis:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimension(s) "
                             f"(block format {bf})")
        out.append(a % ndim)
    if len(out) == 2 and out[0] == out[1]:
        raise ValueError(f"axis {bf.axis} names the same axis twice for {ndim}-d input")
    return tuple(out)


def block_layout(shape: tuple[int, ...], bf: BlockFormat) -> tuple[tuple[int, ...],
                                                                  tuple[int, ...]]:
    """(layout, scale_shape): the core's (outer, n0, mid, n1, inner, k0, k1) for an array of
    ``shape`` and the shape of its scale array.  Raises ValueError when a block axis is not a
    multiple of its block size and the format has no padding rule."""
    if len(shape) == 0:
        raise ValueError("x must have at least one dimension (the block axis); got a scalar")
    axes = _axes(bf, len(shape))
    pairs = sorted(zip(axes, bf.block_size))
    for a, k in pairs:
        if shape[a] % k and bf.padding is None:
            raise ValueError(f"axis {a} has length {shape[a]}, not a multiple of block_size "
                             f"{k}; choose padding='zeros' (BlockFormat(..., padding='zeros')) "
                             "or pad the input")
    scale_shape = list(shape)
    for a, k in pairs:
        scale_shape[a] = -(-shape[a] // k)
    if len(pairs) == 1:
        (a, k), = pairs
        layout = (math.prod(shape[:a]), 1, 1, shape[a], math.prod(shape[a + 1:]), 1, k)
    else:
        (a, ka), (b, kb) = pairs
        layout = (math.prod(shape[:a]), shape[a], math.prod(shape[a + 1:b]), shape[b],
                  math.prod(shape[b + 1:]), ka, kb)
    return layout, tuple(scale_shape)


def _block_input_gpu(x: Any) -> Any:
    """A CuPy x as float32 or float64 (float16 widened exactly); TypeError otherwise."""
    cuda.require()
    if x.dtype.kind == "f" and x.dtype.itemsize == 2:
        return x.astype(np.float32)
    if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
        raise TypeError(f"block formats on the GPU take float16/float32/float64 input, got "
                        f"dtype {x.dtype}")
    return x


def _block_input(x: Any) -> np.ndarray:
    """x as C-contiguous float32 or float64 (exact: wider and integer inputs must fit)."""
    a = as_real_array(x)
    if a.dtype in (np.float32, np.float64):
        return a
    if a.dtype.kind in "iu":
        f = a.astype(np.float64)
        if a.size and not np.array_equal(f.astype(a.dtype), a):
            raise ValueError("integer x has values that float64 does not hold exactly; "
                             "block formats take float32/float64 input")
        return f
    raise TypeError(f"block formats take float input up to float64, got dtype {a.dtype}")


def _tensor_scale(a: Any, bf: BlockFormat) -> float:
    """T: 1.0, the format's fixed value, or RN_f32(amax / (scale max * element max)) over the
    finite elements (1.0 when that amax is 0 or the quotient rounds to 0); the amax of a CuPy
    array is taken on its device."""
    if bf.tensor_scale is None:
        return 1.0
    if isinstance(bf.tensor_scale, float):
        return bf.tensor_scale
    amax = cuda_blocks.finite_amax(a) if cuda.is_cupy_array(a) else cpu.finite_amax(a)
    if amax == 0.0:
        return 1.0
    t = cpu.divide_round_f32(amax, float(bf.scale.max) * float(bf.element.max))
    return t if t > 0.0 else 1.0


def encode(x: Any, bf: BlockFormat, *, rounding: str | None = None,
           saturation: str | None = None, random_bits: int | None = None,
           seed: int | None = None, offset: int = 0, random: Any = None,
           flush_subnormals: bool | None = None) -> BlockCodes:
    """Encode ``x`` in block format ``bf`` (keywords as minifloat.encode; ``saturation``
    defaults to the format's, "finite").  Each block's scale comes from its largest
    magnitude by ``bf.scale_rule``; each element is rounded once from x / (s * T)."""
    if flush_subnormals:
        raise ValueError("flush_subnormals is not defined for block formats; allowed: "
                         "None or False")
    gpu = cuda.is_cupy_array(x)
    a = _block_input_gpu(x) if gpu else _block_input(x)
    layout, scale_shape = block_layout(a.shape, bf)
    sat = bf.saturation if saturation is None else saturation
    if cuda.is_cupy_array(random):
        random = random.get()
    p = resolve_projection(bf.element, a.shape, rounding=rounding, saturation=sat,  # type: ignore[arg-type]
                           random_bits=random_bits, seed=seed, offset=offset, random=random,
                           flush_subnormals=False)
    if isinstance(bf.element, FloatFormat) and p.nbits and bf.element.man_bits + p.nbits > 50:
        raise ValueError(f"random_bits={p.nbits} with {bf.element.man_bits} mantissa bits "
                         "exceeds the 50 bits a block element's exact quotient keeps; "
                         "use fewer random bits")
    if gpu:  # the same definition on the device (backends/cuda_blocks.py)
        t = _tensor_scale(a, bf)
        gcodes, gscodes = cuda_blocks.encode(a, bf, t, layout, scale_shape, p.mode, p.sat,
                                             p.nbits, p.rsrc, p.seed, p.offset, p.random)
        return BlockCodes(gcodes, gscodes.astype(bf.scale_dtype), t, bf)
    t = _tensor_scale(a, bf)
    codes = np.empty(a.shape, dtype=bf.dtype)
    scodes = np.empty(scale_shape, dtype=np.uint32)
    ok = cpu.block_encode(a, layout, bf.core_spec(t), p.mode, p.sat, p.nbits, p.rsrc, p.seed,
                      p.offset, p.random, codes, scodes)
    if not ok:
        raise ValueError(f"x has NaN or Inf in a block, whose scale must then be NaN, but "
                         f"the scale format {bf.scale} has no NaN; replace them first "
                         "(e.g. np.nan_to_num)")
    return BlockCodes(codes, scodes.astype(bf.scale_dtype), t, bf)


def check_codes(bc: Any, bf: BlockFormat) -> tuple[np.ndarray, np.ndarray, float]:
    """(codes, scales, T) of ``bc`` checked against ``bf``: integer codes in range, the scale
    shape the layout needs, a positive finite T."""
    codes, scales = np.asarray(bc[0]), np.asarray(bc[1])
    t = float(bc[2]) if len(bc) >= 3 else 1.0
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"tensor_scale must be a positive finite value, got {t!r}")
    for name, arr, fmt in (("codes", codes, bf.element), ("scales", scales, bf.scale)):
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= fmt.num_codes):
            raise ValueError(f"{name} must be in 0..{fmt.num_codes - 1} for {fmt}")
    _, scale_shape = block_layout(codes.shape, bf)
    if scales.shape != scale_shape:
        raise ValueError(f"scales has shape {scales.shape}; codes of shape {codes.shape} in "
                         f"{bf} need {scale_shape}")
    return codes, scales, t


@lru_cache(maxsize=64)
def value_table(fmt: FloatFormat | FixedFormat) -> np.ndarray:
    """Exact float64 values of every code of ``fmt`` (NaN codes NaN)."""
    if isinstance(fmt, FloatFormat):
        return cpu.value_table(fmt)
    out = np.empty(fmt.num_codes, dtype=np.float64)
    cpu.fixed_decode(np.arange(fmt.num_codes, dtype=fmt.dtype), fmt, out)
    out.flags.writeable = False
    return out


def decode(bc: Any, bf: BlockFormat, dtype: Any = np.float64) -> np.ndarray:
    """Values of :class:`BlockCodes` ``bc`` (or a (codes, scales[, tensor_scale]) tuple):
    element value * scale value * T, exact in float64 and rounded once to float32."""
    if not isinstance(bc, tuple) or len(bc) not in (2, 3, 4):
        raise TypeError("codes of a block format must be a BlockCodes (codes, scales, "
                        f"tensor_scale) from encode(), got {type(bc).__name__}")
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype must be a float dtype, got {dt}")
    if cuda.is_cupy_array(bc[0]):
        return _decode_gpu(bc, bf, dt)
    codes, scales, t = check_codes(bc, bf)
    layout, _ = block_layout(codes.shape, bf)
    c = _c_contiguous(codes.astype(bf.dtype, copy=False))
    s = _c_contiguous(scales.astype(bf.scale_dtype, copy=False))
    work = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float64)
    out = np.empty(codes.shape, dtype=work)
    if out.size:
        cpu.block_decode(c, s, layout, value_table(bf.element), value_table(bf.scale), t, out)
    return out if work == dt else out.astype(dt)


def _decode_gpu(bc: Any, bf: BlockFormat, dt: np.dtype) -> Any:
    """decode() of CuPy element and scale codes, with check_codes' checks."""
    codes, scales = bc[0], bc[1]
    t = float(bc[2]) if len(bc) >= 3 else 1.0
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"tensor_scale must be a positive finite value, got {t!r}")
    if not cuda.is_cupy_array(scales):
        raise ValueError("codes are on a GPU but scales are not; move both with cupy.asarray")
    for name, arr, fmt in (("codes", codes, bf.element), ("scales", scales, bf.scale)):
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= fmt.num_codes):
            raise ValueError(f"{name} must be in 0..{fmt.num_codes - 1} for {fmt}")
    layout, scale_shape = block_layout(tuple(codes.shape), bf)
    if tuple(scales.shape) != scale_shape:
        raise ValueError(f"scales has shape {tuple(scales.shape)}; codes of shape "
                         f"{tuple(codes.shape)} in {bf} need {scale_shape}")
    work = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float64)
    out = cuda_blocks.decode(codes, scales, t, bf, layout, work,
                             (value_table(bf.element), value_table(bf.scale)))
    return out if work == dt else out.astype(dt)


def quantize(x: Any, bf: BlockFormat, **projection: Any) -> np.ndarray:
    """``decode(encode(x, bf, ...))`` in x's float dtype (float64 for integer input)."""
    a = x if cuda.is_cupy_array(x) else np.asarray(x)
    dt = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    return decode(encode(a, bf, **projection), bf, dtype=dt)


__all__ = ["BlockCodes", "block_layout", "check_codes", "decode", "encode", "quantize",
           "value_table"]
