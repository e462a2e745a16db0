"""Fixed-point formats: the :class:`FixedFormat` descriptor and the Sakr-Shanbhag
precision rules (pure data; the codec is minifloat.codec, the arithmetic minifloat.arith.fixed).

A code of ``FixedFormat(int_bits, frac_bits, signed=True)`` is an integer ``c`` of
``bits = signed + int_bits + frac_bits`` bits, two's complement when signed, with value

    value(c) = c * 2^-frac_bits,       c in [-2^(bits-1), 2^(bits-1) - 1]   (signed)
                                       c in [0, 2^bits - 1]                 (unsigned)

so ``int_bits`` counts the integer bits *without* the sign bit (Q-format "Qm.n" in the TI
convention: ``FixedFormat(3, 4)`` is 8 bits, range [-8, 7.9375], step 1/16).
``frac_bits`` may be negative (an LSB above 1) and ``int_bits`` may be negative (a purely
fractional range below 1/2) as long as 1 <= bits <= 32.

Projection (docs/lns_fixed.md §1) rounds ``|x| * 2^frac_bits`` to an integer with any rounding
mode of docs/semantics.md §2 (t = truncation toward zero, u = t + 1, "t is odd" = t's LSB),
then saturates (``saturation="finite"``, also what ``"none"``/``"propagate"`` mean here, since
there is no Inf or NaN) or wraps modulo 2^bits (``saturation="wrap"``). NaN has no code
(ValueError); +-Inf saturate to the extreme codes under every saturation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ._check import check_int

FRAC_BITS_RANGE = (-32, 64)


@dataclass(frozen=True)
class FixedFormat:
    """A binary fixed-point format (two's complement when ``signed``).

    Args:
        int_bits: integer bits, not counting the sign bit (may be negative).
        frac_bits: fraction bits F, -32..64; the LSB weighs 2^-F.
        signed: two's complement with a sign bit (total bits = signed + int_bits + frac_bits,
            1..32; codes are uint8, uint16 or uint32).
        name: a label; not part of equality.
    """

    int_bits: int
    frac_bits: int
    signed: bool = True
    name: str | None = field(default=None, compare=False)

    def __init__(self, int_bits: int, frac_bits: int, *, signed: bool = True,
                 name: str | None = None) -> None:
        i = check_int("int_bits", int_bits, -96, 64)
        f = check_int("frac_bits", frac_bits, *FRAC_BITS_RANGE)
        if not isinstance(signed, (bool, np.bool_)):
            raise TypeError(f"signed must be True or False, got {signed!r}")
        bits = int(signed) + i + f
        if not 1 <= bits <= 32 or i + f < 0 or (not signed and i + f < 1):
            raise ValueError(f"total bits (signed + int_bits + frac_bits) = {bits}; allowed: "
                             "1..32 with int_bits + frac_bits >= 0 (>= 1 when unsigned)")
        object.__setattr__(self, "int_bits", i)
        object.__setattr__(self, "frac_bits", f)
        object.__setattr__(self, "signed", bool(signed))
        object.__setattr__(self, "name", name)

    # ---- plumbing ----
    @property
    def spec(self) -> tuple[int, int, int]:
        """The descriptor tuple of the C++ core (fixed.h ``make_fixed_spec``)."""
        return (self.int_bits, self.frac_bits, int(self.signed))

    def __repr__(self) -> str:
        extra = "" if self.signed else ", signed=False"
        label = f", name={self.name!r}" if self.name else ""
        return f"FixedFormat(int_bits={self.int_bits}, frac_bits={self.frac_bits}{extra}{label})"

    def __str__(self) -> str:
        return self.name or (f"{'s' if self.signed else 'u'}fix{self.bits}"
                             f"_{self.int_bits}.{self.frac_bits}")

    def replace(self, **changes: Any) -> FixedFormat:
        """A copy with some parameters changed."""
        kw: dict[str, Any] = {"int_bits": self.int_bits, "frac_bits": self.frac_bits,
                              "signed": self.signed}
        kw.update(changes)
        return FixedFormat(kw.pop("int_bits"), kw.pop("frac_bits"), **kw)

    # ---- sizes and codes ----
    @property
    def bits(self) -> int:
        """Total bits of a code."""
        return int(self.signed) + self.int_bits + self.frac_bits

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of codes: uint8 (<= 8 bits), uint16 (<= 16) or uint32."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16 if self.bits <= 16
                        else np.uint32)

    @property
    def num_codes(self) -> int:
        """2**bits."""
        return 1 << self.bits

    @property
    def max_int(self) -> int:
        """Largest integer c: 2^(bits-1) - 1 signed, 2^bits - 1 unsigned."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min_int(self) -> int:
        """Smallest integer c: -2^(bits-1) signed, 0 unsigned."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    has_nan = False
    has_inf = False
    has_zero = True
    code_of_nan = None
    code_of_inf = None
    code_of_zero = 0

    @property
    def fits_float32(self) -> bool:
        """Every value is a float32 (|c| < 2^24 and the LSB within float32's range)."""
        return max(-self.min_int, self.max_int) <= 1 << 24 and -149 <= -self.frac_bits and \
            self.bits - self.frac_bits <= 127

    @property
    def code_of_max(self) -> int:
        """Code of the largest value."""
        return self.max_int

    @property
    def code_of_min(self) -> int:
        """Code of the smallest (most negative) value."""
        return self.min_int & ((1 << self.bits) - 1)

    def code_of_int(self, c: int) -> int:
        """The code of integer c (two's complement in ``bits`` bits)."""
        if not self.min_int <= c <= self.max_int:
            raise ValueError(f"integer {c} is outside {self.min_int}..{self.max_int} of {self}")
        return c & ((1 << self.bits) - 1)

    # ---- finfo-style properties ----
    @property
    def resolution(self) -> float:
        """The LSB: 2^-frac_bits (also ``eps``)."""
        return math.ldexp(1.0, -self.frac_bits)

    eps = resolution

    @property
    def max(self) -> float:
        """Largest value: max_int * 2^-frac_bits."""
        return math.ldexp(float(self.max_int), -self.frac_bits)

    @property
    def min(self) -> float:
        """Smallest value: -2^int_bits when signed, 0 unsigned."""
        return math.ldexp(float(self.min_int), -self.frac_bits)

    @property
    def smallest_subnormal(self) -> float:
        """The smallest positive value (the LSB)."""
        return self.resolution

    smallest_normal = smallest_subnormal

    @cached_property
    def _small_table(self) -> np.ndarray | None:
        if self.bits > 16:
            return None
        c = np.arange(self.num_codes, dtype=np.int64)
        if self.signed:  # two's complement
            c = np.where(c >= 1 << (self.bits - 1), c - (1 << self.bits), c)
        out = np.ldexp(c.astype(np.float64), -self.frac_bits)  # |c| < 2^16: exact
        out.setflags(write=False)
        return out

    def value_table(self) -> np.ndarray:
        """Exact float64 value of every code, c * 2^-frac_bits (formats up to 16 bits)."""
        t = self._small_table
        if t is None:
            raise ValueError(f"{self} has 2^{self.bits} codes; value tables stop at 16 bits")
        return t


def sakr_precision(dynamic_range: float, lsb: float) -> int:
    """Per-tensor precision rule of Sakr & Shanbhag (ICLR 2019): the bits needed to cover
    ``dynamic_range`` (largest magnitude) with step ``lsb`` plus a sign bit,

        B = ceil(log2(dynamic_range / lsb)) + 1.
    """
    if not (dynamic_range > 0 and lsb > 0 and math.isfinite(dynamic_range)
            and math.isfinite(lsb)):
        raise ValueError("dynamic_range and lsb must be finite and > 0")
    ratio = dynamic_range / lsb
    if not math.isfinite(ratio):
        raise ValueError("dynamic_range / lsb overflows float64")
    m, e = math.frexp(ratio)  # ratio = m 2^e, 0.5 <= m < 1: ceil(log2) exactly
    return max(1, (e - 1 if m == 0.5 else e) + 1)


def fixed_for_range(dynamic_range: float, lsb: float, *, signed: bool = True) -> FixedFormat:
    """The smallest FixedFormat whose LSB 2^-F is <= ``lsb`` (F = ceil(-log2 lsb)) and whose
    range [-2^I, 2^I) (or [0, 2^I) unsigned) reaches ``dynamic_range`` (I = ceil(log2 range)):
    the Sakr-Shanbhag precision rule with a power-of-two LSB."""
    if not (0 < dynamic_range < math.inf and 0 < lsb < math.inf):
        raise ValueError("dynamic_range and lsb must be finite and > 0")
    f = 1 - math.frexp(lsb)[1]
    m, e = math.frexp(dynamic_range)
    i = e - 1 if m == 0.5 else e
    i = max(i, -f if signed else 1 - f)
    return FixedFormat(i, f, signed=signed)
