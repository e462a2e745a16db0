"""Logarithmic number system (LNS) formats: the :class:`LNSFormat` descriptor and its presets
(pure data; the codec is minifloat.codec, the arithmetic minifloat.arith.lns).

A code of ``LNSFormat(int_bits, frac_bits, signed=True)`` is ``sign | L``: ``L`` is a
two's-complement integer of ``W = int_bits + frac_bits`` bits (``int_bits`` includes the log's
own sign), read as the fixed-point logarithm ``L / 2^F`` with ``F = frac_bits``:

    value(sign, L) = (-1)^sign * 2^(L / 2^F)      for L > -2^(W-1)
    L = -2^(W-1), sign 0: zero;   L = -2^(W-1), sign 1: NaN

With ``infinities=True`` the largest L of each sign is +-Inf. Overflow saturates to the largest
finite magnitude (``saturation="finite"``/``"propagate"``/``"none"`` without infinities), or goes
to Inf (``"none"`` with infinities) or NaN (``"nan"``). The full contract is docs/lns_fixed.md §2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ._check import check_int
from .log_tables import pow2_values


@dataclass(frozen=True)
class LNSFormat:
    """A logarithmic number format: sign bit + two's-complement fixed-point log2.

    Args:
        int_bits: integer bits of the log, including its sign (1..11).
        frac_bits: fraction bits F of the log (0..12); the ratio of neighbouring magnitudes
            is 2^(2^-F).
        signed: a sign bit is present (total bits = signed + int_bits + frac_bits, 2..16;
            codes uint8 or uint16). Unsigned formats have only positive values and zero.
        infinities: the largest log of each sign is +-Inf (else it is the largest finite).
        name: a label; not part of equality.
    """

    int_bits: int
    frac_bits: int
    signed: bool = True
    infinities: bool = False
    name: str | None = field(default=None, compare=False)

    def __init__(self, int_bits: int, frac_bits: int, *, signed: bool = True,
                 infinities: bool = False, name: str | None = None) -> None:
        i = check_int("int_bits", int_bits, 1, 11)
        f = check_int("frac_bits", frac_bits, 0, 12)
        for k, v in (("signed", signed), ("infinities", infinities)):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{k} must be True or False, got {v!r}")
        bits = int(signed) + i + f
        if not 2 <= bits <= 16:
            raise ValueError(f"total bits (signed + int_bits + frac_bits) = {bits}; "
                             "allowed: 2..16")
        if i + f < 2 + int(bool(infinities)):
            raise ValueError("int_bits + frac_bits must leave a finite non-zero value; "
                             "allowed: >= 2 (>= 3 with infinities)")
        object.__setattr__(self, "int_bits", i)
        object.__setattr__(self, "frac_bits", f)
        object.__setattr__(self, "signed", bool(signed))
        object.__setattr__(self, "infinities", bool(infinities))
        object.__setattr__(self, "name", name)

    @property
    def spec(self) -> tuple[int, int, int, int]:
        """The descriptor tuple of the C++ core (lns.h ``make_lns_spec``)."""
        return (self.int_bits, self.frac_bits, int(self.signed), int(self.infinities))

    def __repr__(self) -> str:
        extra = "" if self.signed else ", signed=False"
        extra += ", infinities=True" if self.infinities else ""
        label = f", name={self.name!r}" if self.name else ""
        return f"LNSFormat(int_bits={self.int_bits}, frac_bits={self.frac_bits}{extra}{label})"

    def __str__(self) -> str:
        return self.name or repr(self)

    def replace(self, **changes: Any) -> LNSFormat:
        """A copy with some parameters changed."""
        kw: dict[str, Any] = {"int_bits": self.int_bits, "frac_bits": self.frac_bits,
                              "signed": self.signed, "infinities": self.infinities}
        kw.update(changes)
        return LNSFormat(kw.pop("int_bits"), kw.pop("frac_bits"), **kw)

    # ---- layout ----
    @property
    def bits(self) -> int:
        """Total bits of a code."""
        return int(self.signed) + self.int_bits + self.frac_bits

    @property
    def log_bits(self) -> int:
        """W = int_bits + frac_bits: width of the log field."""
        return self.int_bits + self.frac_bits

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of codes: uint8 (<= 8 bits) or uint16."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def num_codes(self) -> int:
        """2**bits."""
        return 1 << self.bits

    @property
    def log_min(self) -> int:
        """Smallest L of a non-zero value: -2^(W-1) + 1."""
        return -(1 << (self.log_bits - 1)) + 1

    @property
    def log_max(self) -> int:
        """Largest L of a finite value: 2^(W-1) - 1, one less with infinities."""
        return (1 << (self.log_bits - 1)) - 1 - int(self.infinities)

    def code_of(self, L: int, negative: bool = False) -> int:
        """The code of sign and log integer L (any L of the field, specials included)."""
        w = self.log_bits
        if not -(1 << (w - 1)) <= L < (1 << (w - 1)):
            raise ValueError(f"L={L} does not fit the {w}-bit log field")
        if negative and not self.signed:
            raise ValueError(f"{self} has no sign bit")
        return (int(negative) << w) | (L & ((1 << w) - 1))

    has_zero = True

    @property
    def has_nan(self) -> bool:
        """Signed formats have a NaN (sign 1 with the zero log code)."""
        return self.signed

    @property
    def has_inf(self) -> bool:
        """The format has +-Inf."""
        return self.infinities

    @property
    def code_of_zero(self) -> int:
        """Code of 0: sign 0, L = -2^(W-1)."""
        return 1 << (self.log_bits - 1)

    @property
    def code_of_nan(self) -> int | None:
        """Code of NaN: sign 1, L = -2^(W-1) (None for unsigned formats)."""
        return (1 << self.log_bits) | (1 << (self.log_bits - 1)) if self.signed else None

    @property
    def code_of_inf(self) -> int | None:
        """Code of +Inf (None without infinities)."""
        return self.code_of(self.log_max + 1) if self.infinities else None

    @property
    def code_of_max(self) -> int:
        """Code of the largest finite value."""
        return self.code_of(self.log_max)

    @property
    def code_of_one(self) -> int:
        """Code of 1 (L = 0)."""
        return 0

    @property
    def max(self) -> float:
        """Largest finite value 2^(log_max / 2^F) (rounded to float64)."""
        return float(pow2_values(np.array([self.log_max]), self.frac_bits)[0])

    @property
    def min(self) -> float:
        """-max for signed formats, else 0."""
        return -self.max if self.signed else 0.0

    @property
    def smallest_normal(self) -> float:
        """Smallest positive value 2^(log_min / 2^F)."""
        return float(pow2_values(np.array([self.log_min]), self.frac_bits)[0])

    smallest_subnormal = smallest_normal

    @property
    def eps(self) -> float:
        """next(1) - 1 = 2^(2^-F) - 1."""
        return float(2.0 ** math.ldexp(1.0, -self.frac_bits) - 1.0)

    @cached_property
    def _table(self) -> np.ndarray:
        c = np.arange(self.num_codes, dtype=np.int64)
        W = self.log_bits
        field = c & ((1 << W) - 1)
        L = field - ((field >> (W - 1)) << W)  # two's complement
        neg = (c >> W) & 1 if self.signed else np.zeros_like(c)
        special = field == 1 << (W - 1)  # zero (sign 0) or NaN (sign 1)
        t = pow2_values(np.where(special, 0, L), self.frac_bits)
        if self.infinities:
            t[L == self.log_max + 1] = np.inf
        t[special] = 0.0
        t = np.where(neg == 1, -t, t)
        t[special & (neg == 1)] = np.nan
        t.setflags(write=False)
        return t

    def value_table(self) -> np.ndarray:
        """float64 value of every code: 2^(L/2^F) correctly rounded (exact for integer logs)."""
        return self._table


LNS_PRESETS: dict[str, LNSFormat] = {
    "lns8": LNSFormat(4, 3, name="lns8"),     # LNS-Madam's 8-bit format: base 2^(1/8)
    "lns12": LNSFormat(6, 5, name="lns12"),
    "lns16": LNSFormat(8, 7, name="lns16"),   # bfloat16-like range and precision
}
