"""Arithmetic of the non-float number systems: fixed point (:mod:`.fixed`) and LNS
(:mod:`.lns`). minifloat.ops and minifloat.linalg dispatch here when an operand, the result
or the accumulator is a FixedFormat or an LNSFormat (:func:`number_system`)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ..formats import LNSFormat
from . import fixed, lns


def number_system(fmts: list[Any]) -> ModuleType:
    """The module (:mod:`.lns` or :mod:`.fixed`) that computes on these formats."""
    return lns if any(isinstance(f, LNSFormat) for f in fmts) else fixed
