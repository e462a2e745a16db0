"""Argument checks shared by the format descriptors (clear TypeError/ValueError messages)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` as an int in ``lo..hi``; TypeError for non-integers (bool included), ValueError
    naming ``name`` and the allowed range otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name}={value} is out of range; allowed: {lo}..{hi}")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool (Python or NumPy bool only)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)
