"""Number formats as the training code sees them: "float32" (no quantisation) or a codec format
(FloatFormat, FixedFormat, LNSFormat, BlockFormat), moved by an exponent offset.

An exponent offset ``k`` shifts a format's whole value grid by ``2**-k``: for a FloatFormat it
is the format with exponent bias ``bias + k`` (a larger bias moves the range toward small
magnitudes), for any other format it is the power-of-two scale ``2**-k`` applied to the
format's values. Both views describe the same grid: ``value = 2**-k * base_value``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from .. import formats as _formats
from ..formats import json as _json

FLOAT32 = "float32"
Format = Any  # FloatFormat, FixedFormat, LNSFormat (duck-typed: encode/decode take it)


def codec_format_types() -> tuple[type, ...]:
    """The format classes the codec offers: FloatFormat, FixedFormat, LNSFormat, BlockFormat."""
    return (_formats.FloatFormat, _formats.FixedFormat, _formats.LNSFormat,
            _formats.BlockFormat)


def resolve_format(spec: Any, name: str = "format") -> Any:
    """``"float32"``, a codec format object, a format name (``"e4m3"``, ``"bf16"``...) or a
    JSON-style dict (``{"kind": "float", "exp_bits": 4, "man_bits": 3, "bias": 11}``,
    ``{"kind": "fixed", "int_bits": 1, "frac_bits": 6}``, ``{"kind": "lns", ...}``,
    ``{"kind": "block", "element": {...}, "scale": {...}, "block_size": 32, ...}``)."""
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in ("float32", "fp32", "f32"):
            return FLOAT32
        try:
            return _formats.format(key)
        except ValueError as e:
            raise ValueError(f"{name}={spec!r}: {e}; or 'float32'") from None
    if isinstance(spec, codec_format_types()):
        return spec
    if isinstance(spec, dict):
        return _json.from_json(spec, name, resolve_format)
    raise TypeError(f"{name} must be 'float32', a format name, a format object or a dict; "
                    f"got {type(spec).__name__}")


def format_to_json(fmt: Any) -> Any:
    """A JSON value that :func:`resolve_format` turns back into ``fmt`` (``"float32"`` or
    :func:`minifloat.formats.json.to_json`'s dict)."""
    return FLOAT32 if fmt == FLOAT32 else _json.to_json(fmt)


def format_label(fmt: Any) -> str:
    """A short human label: ``float32``, ``E4M3 bias 11``, ``Fixed(1.6)``."""
    if fmt == FLOAT32:
        return FLOAT32
    if isinstance(fmt, _formats.FloatFormat):
        base = f"E{fmt.exp_bits}M{fmt.man_bits}"
        return f"{base} bias {fmt.bias}" if fmt.exp_bits else base
    if isinstance(fmt, _formats.BlockFormat):
        return str(fmt)
    return repr(fmt)


def bits_of(fmt: Any) -> int:
    """Storage bits per element code (32 for float32; a block format's element bits: its
    scales are counted by :func:`storage_bytes`)."""
    if fmt == FLOAT32:
        return 32
    return int(fmt.bits)


def storage_bytes(fmt: Any, n: int) -> int:
    """Bytes that ``n`` values take in ``fmt``, packed: ``ceil(n * bits / 8)``, plus for a
    block format one scale code per ``block_elems`` values (the per-tensor scale left out)."""
    b = (n * bits_of(fmt) + 7) // 8
    if isinstance(fmt, _formats.BlockFormat):
        b += (-(-n // fmt.block_elems) * fmt.scale.bits + 7) // 8
    return b


@lru_cache(maxsize=4096)
def with_offset(fmt: Any, offset: int) -> Any:
    """The FloatFormat whose bias is ``fmt.bias + offset`` (the offset-as-bias view)."""
    return fmt if offset == 0 else fmt.replace(bias=fmt.bias + offset)


def uses_bias(fmt: Any) -> bool:
    """Whether an offset is applied by changing the exponent bias (FloatFormat) rather than
    by a power-of-two scale of the format's values."""
    return isinstance(fmt, _formats.FloatFormat)


def format_max(fmt: Any) -> float:
    """Largest finite value of ``fmt`` (offset 0)."""
    return float(fmt.max)


def select_offset(amax: float, fmax: float, margin: int = 0) -> int:
    """The largest integer ``k`` with ``amax * 2**k <= fmax * 2**-margin``: the offset (added to
    the bias) that puts a tensor's largest magnitude ``amax`` just inside the format's range,
    keeping ``margin`` binades of headroom. Exact (frexp, no floating-point logarithm)."""
    if not amax > 0 or not math.isfinite(amax):
        raise ValueError(f"amax must be finite and > 0, got {amax}")
    ma, ea = math.frexp(amax)
    mm, em = math.frexp(fmax)
    return em - ea - (1 if ma > mm else 0) - margin


def check_projection(fmt: Any, rounding: str, saturation: str, random_bits: int | None,
                     role: str) -> None:
    """Validate a role's projection settings against the codec (clear error naming the role)."""
    from .. import rounding as rnd

    try:
        rnd.check_rounding(rounding)
        rnd.check_saturation(saturation)
        rnd.random_bits_for(rounding, random_bits)
    except ValueError as e:
        raise ValueError(f"role {role!r}: {e}") from None
    if fmt != FLOAT32 and saturation == "nan" and not getattr(fmt, "has_nan", True):
        raise ValueError(f"role {role!r}: saturation='nan' needs a format with a NaN")


def np_dtype_of(fmt: Any) -> np.dtype:
    """NumPy dtype of the codes of ``fmt``."""
    return np.dtype(fmt.dtype)
