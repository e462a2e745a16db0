"""Tensors in and out of minifloat's codec: CPU tensors through their NumPy view (zero-copy
for contiguous float32/float64), CUDA tensors through DLPack into CuPy, checked dtypes and
devices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..backends import cuda
from ..codec import decode, encode
from ..formats import FloatFormat, format

FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_DTYPE_NAMES = "torch.float32, torch.float64, torch.float16, torch.bfloat16"
_HALF = {torch.float16: "float16", torch.bfloat16: "bfloat16"}


def check_tensor(t: Any, name: str = "x") -> torch.Tensor:
    """``t`` if it is a real floating tensor on a supported device; else TypeError/ValueError
    naming ``name``."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {t.dtype}; allowed: {_DTYPE_NAMES}")
    dev = t.device.type
    if dev == "cuda":
        if not cuda.available():
            raise ValueError(f"{name} is on device {t.device}, which needs CuPy "
                             "(pip install 'minifloat[gpu]'); allowed without it: cpu")
    elif dev != "cpu":
        raise ValueError(f"{name} is on device {t.device}; allowed: cpu, cuda")
    return t


def to_array(t: torch.Tensor) -> Any:
    """The values of ``t`` as a NumPy array (CPU; a view when the dtype allows) or a CuPy
    array (CUDA, via DLPack). float16/bfloat16 come as exact float32."""
    t = t.detach()
    if t.dtype in _HALF:
        t = t.float()
    if t.device.type == "cuda":
        import cupy

        return cupy.from_dlpack(t)
    return t.numpy()


def from_array(a: Any, like: torch.Tensor) -> torch.Tensor:
    """A tensor of ``like``'s device from a NumPy/CuPy float array (no copy on CPU)."""
    if cuda.is_cupy_array(a):
        return torch.from_dlpack(a)
    return torch.from_numpy(np.ascontiguousarray(a))


def _cast_half(values: Any, dtype: torch.dtype, like: torch.Tensor) -> torch.Tensor:
    """Exact float64/float32 values rounded once (nearest-even, as NumPy/ml_dtypes casts)
    into float16/bfloat16, through minifloat's own encoder (torch's float64 -> float16 cast
    rounds twice, via float32)."""
    codes = encode(values, format(_HALF[dtype]), rounding="nearest_even", saturation="none")
    bits = from_array(codes.view(np.int16) if isinstance(codes, np.ndarray)
                      else codes.view("int16"), like)
    return bits.view(dtype)


def quantize_tensor(t: torch.Tensor, fmt: Any, projection: dict[str, Any]) -> torch.Tensor:
    """``mf.quantize`` of ``t``'s values into ``fmt``, as a tensor of t's dtype and shape
    (contiguous). Values equal bit for bit to ``mf.quantize`` on the same NumPy data."""
    f = format(fmt)
    a = to_array(t)
    codes = encode(a, f, **projection)
    if t.dtype in _HALF:
        exact32 = isinstance(f, FloatFormat) and f.man_bits <= 23 and f.maxexp <= 128 \
            and f.minexp - f.man_bits >= -149
        vals = decode(codes, f, np.float32 if exact32 else np.float64)
        return _cast_half(vals, t.dtype, t)
    dt = np.float32 if t.dtype == torch.float32 else np.float64
    return from_array(decode(codes, f, dt), t)


def values_to_tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A float32/float64 NumPy array as a tensor of ``like``'s dtype and device."""
    if like.dtype in _HALF:
        return _cast_half(a, like.dtype, like).to(like.device)
    out = torch.from_numpy(np.ascontiguousarray(a))
    return out.to(device=like.device, dtype=like.dtype)
