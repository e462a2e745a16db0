"""Saving MiniArrays and exchanging them with ml_dtypes.

``save``/``load`` write an ``.npz`` holding the codes and the format's parameters, so a file
read back gives the same codes in the same format (no value round trip).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .array import MiniArray, from_codes
from .formats import PRESETS, FloatFormat

_FIELDS = ("exp_bits", "man_bits", "bias", "signed", "subnormals", "infinities", "nan",
           "negative_zero")


def save(file: str | os.PathLike[str], a: MiniArray) -> None:
    """Write ``a`` to ``file`` (.npz): codes plus the format's parameters and name."""
    if not isinstance(a, MiniArray):
        raise TypeError(f"save expects a MiniArray, got {type(a).__name__}")
    f = a.format
    meta: dict[str, Any] = {k: np.asarray(getattr(f, k)) for k in _FIELDS}
    meta["codes"] = a.codes
    meta["format_name"] = np.asarray(f.name or "")
    np.savez(file, **meta)


def load(file: str | os.PathLike[str]) -> MiniArray:
    """Read a MiniArray written by :func:`save`."""
    with np.load(file, allow_pickle=False) as z:
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


__all__ = ["from_ml_dtypes", "load", "save"]
