"""Saving MiniArrays and exchanging them with ml_dtypes.

``save``/``load`` write an ``.npz`` holding the codes and the format's parameters, so a file
read back gives the same codes in the same format (no value round trip).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from .array import MiniArray, from_codes
from .block_array import BlockArray
from .formats import PRESETS, BlockFormat, FloatFormat
from .formats.json import from_json, to_json

_FIELDS = ("exp_bits", "man_bits", "bias", "signed", "subnormals", "infinities", "nan",
           "negative_zero")


def save(file: str | os.PathLike[str], a: MiniArray | BlockArray) -> None:
    """Write ``a`` to ``file`` (.npz): codes plus the format's parameters and name; a
    BlockArray also its scale codes and tensor scale; a fixed-point, LNS or block format as
    its JSON description (``minifloat.formats.json``)."""
    if isinstance(a, BlockArray):
        np.savez(file, codes=a.codes, scales=a.scales, tensor_scale=np.float64(a.tensor_scale),
                 format_json=np.asarray(json.dumps(to_json(a.format))))
        return
    if not isinstance(a, MiniArray):
        raise TypeError(f"save expects a MiniArray or a BlockArray, got {type(a).__name__}")
    f = a.format
    if not isinstance(f, FloatFormat):
        np.savez(file, codes=a.codes, format_json=np.asarray(json.dumps(to_json(f))))
        return
    meta: dict[str, Any] = {k: np.asarray(getattr(f, k)) for k in _FIELDS}
    meta["codes"] = a.codes
    meta["format_name"] = np.asarray(f.name or "")
    np.savez(file, **meta)


def load(file: str | os.PathLike[str]) -> MiniArray | BlockArray:
    """Read an array written by :func:`save` (codes checked against the format)."""
    with np.load(file, allow_pickle=False) as z:
        if "format_json" in z and "codes" in z:
            fmt = from_json(json.loads(str(z["format_json"])), "format_json")
            if isinstance(fmt, BlockFormat):
                if "scales" not in z or "tensor_scale" not in z:
                    raise ValueError(f"{file}: a block-format array file needs scales and "
                                     "tensor_scale")
                return BlockArray.from_block_codes(z["codes"], z["scales"],
                                                   float(z["tensor_scale"]), fmt)
            return from_codes(z["codes"], fmt)
        missing = [k for k in ("codes", *_FIELDS) if k not in z]
        if missing:
            raise ValueError(f"{file}: not a minifloat array file (missing {missing})")
        kw: dict[str, Any] = {k: z[k].item() for k in _FIELDS}
        name = str(z["format_name"]) if "format_name" in z else ""
        fmt = FloatFormat(kw.pop("exp_bits"), kw.pop("man_bits"), name=name or None, **kw)
        return from_codes(z["codes"], fmt)


def from_ml_dtypes(arr: np.ndarray) -> MiniArray:
    """Zero-copy MiniArray over an ml_dtypes (or float16) array of the same format."""
    a = np.asarray(arr)
    name = "float16" if a.dtype == np.float16 else a.dtype.name
    if name not in PRESETS:
        raise TypeError(f"dtype {a.dtype} is not an ml_dtypes float type that minifloat knows; "
                        f"known: {', '.join(PRESETS)}")
    fmt = PRESETS[name]
    return MiniArray(a.view(fmt.dtype), fmt)


def _pack_geometry(bits: Any) -> tuple[int, int, int]:
    """(bits, elements per group, bytes per group): a group is lcm(bits, 8) bits."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"bits={bits!r}; allowed: 1..8 (wider codes are stored one per uint16)")
    b = int(bits)
    group = b * 8 // math.gcd(b, 8)
    return b, group // b, group // 8


def pack_codes(codes: Any, bits: int) -> np.ndarray:
    """Codes of ``bits`` bits (1..8) packed densely into uint8, little-endian: code ``i`` of
    the flattened (C order) array occupies bits ``i*bits .. i*bits+bits-1`` of the byte
    stream, bit 0 being the LSB of byte 0 (two 4-bit codes per byte with the first in the low
    nibble, as OCP MX / torchao store FP4; four 6-bit codes in three bytes).  The last group is
    padded with zero bits; ``unpack_codes`` needs the count back."""
    b, per, nbytes = _pack_geometry(bits)
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise TypeError(f"codes must be an integer array, got dtype {c.dtype}")
    flat = c.reshape(-1).astype(np.uint64)
    if flat.size and (int(flat.max()) >> b or (c.dtype.kind == "i" and int(c.min()) < 0)):
        raise ValueError(f"codes must be in 0..{(1 << b) - 1} for bits={b}")
    groups = -(-flat.size // per)
    padded = np.zeros(groups * per, dtype=np.uint64)
    padded[:flat.size] = flat
    shifts = (np.arange(per, dtype=np.uint64) * np.uint64(b))
    words = np.bitwise_or.reduce(padded.reshape(groups, per) << shifts, axis=1)
    out = words.astype("<u8").view(np.uint8).reshape(groups, 8)[:, :nbytes]
    return np.ascontiguousarray(out).reshape(-1)


def unpack_codes(packed: Any, bits: int, shape: Any, dtype: Any = np.uint8) -> np.ndarray:
    """The codes :func:`pack_codes` packed, as an array of ``shape`` and ``dtype``."""
    b, per, nbytes = _pack_geometry(bits)
    p = np.asarray(packed)
    if p.dtype != np.uint8:
        raise TypeError(f"packed must be a uint8 array, got dtype {p.dtype}")
    shp = tuple(int(d) for d in np.atleast_1d(np.asarray(shape, dtype=np.int64)))
    n = math.prod(shp)
    groups = -(-n // per)
    if p.size != groups * nbytes:
        raise ValueError(f"packed has {p.size} bytes; {n} codes of {b} bits take "
                         f"{groups * nbytes}")
    buf = np.zeros((groups, 8), dtype=np.uint8)
    buf[:, :nbytes] = p.reshape(groups, nbytes)
    words = buf.view("<u8").reshape(groups, 1).astype(np.uint64)
    shifts = (np.arange(per, dtype=np.uint64) * np.uint64(b))
    vals = (words >> shifts) & np.uint64((1 << b) - 1)
    return vals.reshape(-1)[:n].astype(dtype).reshape(shp)


__all__ = ["from_ml_dtypes", "load", "pack_codes", "save", "unpack_codes"]
