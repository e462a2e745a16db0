"""minifloat.fixed: fixed-point formats in one namespace (the user-facing module).

A code of ``FixedFormat(int_bits, frac_bits, signed=True)`` is a two's-complement integer c
with value c * 2^-frac_bits (docs/lns_fixed.md §1). The descriptor and the Sakr-Shanbhag
precision rules live in :mod:`minifloat.formats.fixed`, the codec in :mod:`minifloat.codec`,
the arithmetic in :mod:`minifloat.arith.fixed`; this module adds the weight quantizer.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from .arith.fixed import contract, elementwise
from .codec import quantize
from .formats import check_int
from .formats.fixed import FRAC_BITS_RANGE, FixedFormat, fixed_for_range, sakr_precision


def sakr_quantize(w: Any, bits: int) -> np.ndarray:
    """Sakr & Shanbhag (ICLR 2019) weight quantizer for weights in [-1, 1]:

        Qw(w, B) = min(1 - 2^(1-B), round(w * 2^(B-1)) * 2^(1-B))

    i.e. B-bit signed fixed point ``FixedFormat(0, B-1)`` (round to nearest, ties to even),
    clipped to [-1, 1 - 2^(1-B)]. Returns float64 values.
    """
    b = check_int("bits", bits, 2, 32)
    return quantize(np.asarray(w, dtype=np.float64), cast(Any, FixedFormat(0, b - 1)),
                    rounding="nearest_even", saturation="finite")


__all__ = ["FRAC_BITS_RANGE", "FixedFormat", "contract", "elementwise", "fixed_for_range",
           "sakr_precision", "sakr_quantize"]
