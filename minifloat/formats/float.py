"""Binary floating-point formats: :class:`FloatFormat`, IEEE P3109 formats and the presets.

A float format is ``sign | E | M`` with ``e`` exponent and ``m`` mantissa bits and any
integer ``bias`` (docs/semantics.md §1). Its value ladder is

    k = (E << m) | M,     value(k) = M * 2^(1-bias-m)              if subnormals and E == 0
                          value(k) = (2^m + M) * 2^(E-bias-m)      otherwise

A bias larger than the IEEE default 2^(e-1)-1 shifts the whole range toward small magnitudes:
the "asymmetric exponent offset". This module is pure data: the layout constants below
(:func:`derive`) are the definitions of docs/semantics.md §1, the same ones the C++ core's
``make_float_spec`` (spec.h) computes for its kernels; a test checks the two agree on every
layout.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ._check import check_bool, check_int

NAN_LAYOUTS = ("ieee", "max", "negzero", "none")


def derive(e: int, m: int, bias: int, signed: int, subnormals: int, infinities: int,
           nan_layout: int, negative_zero: int) -> dict[str, Any]:
    """Layout constants of a float format (parameters as in ``FloatFormat.spec``).

    With the all-ones magnitude ``top = 2^(e+m) - 1`` and ``ones = top & ~(2^m - 1)`` (the
    all-ones exponent):

    - ``"ieee"``: NaN = ones | 2^(m-1) (m > 0), Inf = ones; the largest finite magnitude
      ``kmax`` is ones - 1 with infinities, else ones (an ordinary value);
    - ``"max"``: NaN = top, Inf = top - 1; kmax = top - 1 - infinities;
    - ``"negzero"`` / ``"none"``: NaN (negzero only) is the code ``sign|0``, Inf = top;
      kmax = top - infinities.

    ``emin`` is the exponent of the lowest normal binade (1 - bias, or -bias without
    subnormals); zero exists only with subnormals (E == 0 is then the subnormal binade).
    """
    bits = int(signed) + e + m
    top = (1 << (e + m)) - 1
    sign_bit = 1 << (bits - 1) if signed else 0
    if nan_layout == 0:  # ieee
        ones = top & ~((1 << m) - 1)
        has_nan, inf_mag = m > 0, ones
        nan_code = ones | (1 << (m - 1)) if m > 0 else None
        kmax = ones - 1 if infinities else ones
    elif nan_layout == 1:  # max
        has_nan, inf_mag, nan_code = True, top - 1, top
        kmax = top - 1 - int(bool(infinities))
    else:  # negzero / none
        has_nan, inf_mag = nan_layout == 2, top
        nan_code = sign_bit if has_nan else None
        kmax = top - int(bool(infinities))
    return {
        "bits": bits, "emin": 1 - bias if subnormals else -bias, "kmax": kmax,
        "has_zero": bool(subnormals), "has_nan": bool(has_nan), "has_inf": bool(infinities),
        "sign_bit": sign_bit, "mag_mask": top, "num_codes": 1 << bits, "code_of_max": kmax,
        "code_of_nan": nan_code, "code_of_inf": inf_mag if infinities else None,
        "code_of_zero": 0 if subnormals else None,
    }


def magnitudes(k: np.ndarray, m: int, bias: int, subnormals: bool) -> np.ndarray:
    """value(k) of magnitude indices ``k`` (int64 array, finite codes only) as exact float64:
    M * 2^(1-bias-m) in the subnormal binade, (2^m + M) * 2^(E-bias-m) otherwise."""
    E, M = k >> m, k & ((1 << m) - 1)
    sub = (E == 0) & bool(subnormals)
    sig = np.where(sub, M, M + (1 << m)).astype(np.float64)
    out = np.ldexp(sig, np.where(sub, 1, E) - bias - m)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format with ``exp_bits`` exponent and ``man_bits`` mantissa bits.

    Args:
        exp_bits: exponent width e (0..15).
        man_bits: mantissa (fraction) width m (0..15); precision p = m + 1.
        bias: exponent bias, any integer; default ``2**(e-1) - 1`` (0 when ``exp_bits=0``).
        signed: a sign bit is present (total bits = signed + e + m, 2..16).
        subnormals: ``E == 0`` is the subnormal binade (with zero); when False it is a normal
            binade and the format has no zero (OCP E8M0).
        infinities: the format has +-Inf (position set by ``nan``).
        nan: NaN layout, one of ``"ieee"``, ``"max"``, ``"negzero"``, ``"none"``.
        negative_zero: the code ``sign|0`` is -0; must be False with ``nan="negzero"``.
        name: a label; not part of equality.
    """

    exp_bits: int
    man_bits: int
    bias: int = None  # type: ignore[assignment]
    signed: bool = True
    subnormals: bool = True
    infinities: bool = True
    nan: str = "ieee"
    negative_zero: bool = True
    name: str | None = field(default=None, compare=False)

    def __init__(
        self,
        exp_bits: int,
        man_bits: int,
        *,
        bias: int | None = None,
        signed: bool = True,
        subnormals: bool = True,
        infinities: bool = True,
        nan: str = "ieee",
        negative_zero: bool = True,
        name: str | None = None,
    ) -> None:
        e = check_int("exp_bits", exp_bits, 0, 15)
        m = check_int("man_bits", man_bits, 0, 15)
        signed = check_bool("signed", signed)
        subnormals = check_bool("subnormals", subnormals)
        infinities = check_bool("infinities", infinities)
        negative_zero = check_bool("negative_zero", negative_zero)
        if e == 0 and m == 0:
            raise ValueError("exp_bits=0 with man_bits=0 leaves no value bits; "
                             "allowed: exp_bits + man_bits >= 1")
        bits = int(signed) + e + m
        if not 2 <= bits <= 16:
            raise ValueError(f"total bits (signed + exp_bits + man_bits) = {bits}; allowed: 2..16")
        if nan not in NAN_LAYOUTS:
            raise ValueError(f"nan={nan!r} is not a NaN layout; allowed: {', '.join(NAN_LAYOUTS)}")
        if bias is None:
            bias = 2 ** (e - 1) - 1 if e > 0 else 0
        bias = check_int("bias", bias, -(2**20), 2**20)
        if not signed:
            negative_zero = False
            if nan == "negzero":
                raise ValueError("nan='negzero' needs a sign bit (the NaN is the negative-zero "
                                 "code); for unsigned formats allowed: 'max', 'ieee', 'none'")
        elif nan == "negzero" and negative_zero:
            raise ValueError("nan='negzero' uses the negative-zero code as NaN: pass "
                             "negative_zero=False")
        elif nan != "negzero" and not negative_zero:
            raise ValueError("negative_zero=False is only defined with nan='negzero' "
                             "(the freed code becomes the NaN)")
        if nan == "ieee" and (e == 0 or m == 0):
            raise ValueError("nan='ieee' needs exp_bits >= 1 and man_bits >= 1 (NaN codes have "
                             "an all-ones exponent and a non-zero mantissa); allowed otherwise: "
                             "'max', 'negzero', 'none'")
        for k, v in (("exp_bits", e), ("man_bits", m), ("bias", bias), ("signed", signed),
                     ("subnormals", subnormals), ("infinities", infinities), ("nan", nan),
                     ("negative_zero", negative_zero), ("name", name)):
            object.__setattr__(self, k, v)
        d = self._derived
        if d["kmax"] < (1 if d["has_zero"] else 0):
            raise ValueError(f"{self!r} has no non-zero finite value")
        top_exp = (d["kmax"] >> m) - bias
        low_exp = d["emin"] - (m if subnormals else 0)
        if top_exp > 1023 or low_exp < -1074:
            raise ValueError(
                f"{self!r} has values outside float64's range (2^{low_exp} .. 2^{top_exp}); "
                "allowed: every finite value exactly representable in float64")

    # ---- plumbing ----
    @property
    def spec(self) -> tuple[int, ...]:
        """The descriptor tuple passed to the C++ core (spec.h ``make_float_spec``)."""
        return (self.exp_bits, self.man_bits, self.bias, int(self.signed), int(self.subnormals),
                int(self.infinities), NAN_LAYOUTS.index(self.nan), int(self.negative_zero))

    @cached_property
    def _derived(self) -> dict[str, Any]:
        return derive(*self.spec)

    @cached_property
    def _ladder(self) -> np.ndarray:
        """value(k) for every finite magnitude index k = 0..kmax (read-only, increasing)."""
        k = np.arange(self._derived["kmax"] + 1, dtype=np.int64)
        return magnitudes(k, self.man_bits, self.bias, self.subnormals)

    def replace(self, **changes: Any) -> FloatFormat:
        """A copy with some parameters changed, e.g. ``fmt.replace(bias=11)``."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        kw.update(changes)
        if "name" not in changes:
            kw["name"] = None
        return FloatFormat(kw.pop("exp_bits"), kw.pop("man_bits"), **kw)

    def __repr__(self) -> str:
        parts = [f"exp_bits={self.exp_bits}", f"man_bits={self.man_bits}", f"bias={self.bias}"]
        for k, default in (("signed", True), ("subnormals", True), ("infinities", True),
                           ("nan", "ieee"), ("negative_zero", True)):
            v = getattr(self, k)
            if v != default and not (k == "negative_zero" and (not self.signed
                                                               or self.nan == "negzero")):
                parts.append(f"{k}={v!r}")
        if self.name:
            parts.append(f"name={self.name!r}")
        return f"FloatFormat({', '.join(parts)})"

    def __str__(self) -> str:
        return self.name or repr(self)

    # ---- finfo-style properties (np.finfo / ml_dtypes.finfo names) ----
    @property
    def bits(self) -> int:
        """Total bits of a code."""
        return int(self._derived["bits"])

    @property
    def nexp(self) -> int:
        """Exponent bits."""
        return self.exp_bits

    @property
    def nmant(self) -> int:
        """Mantissa bits (precision - 1)."""
        return self.man_bits

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of codes: uint8 for <= 8 bits, else uint16."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def num_codes(self) -> int:
        """2**bits."""
        return int(self._derived["num_codes"])

    @property
    def has_zero(self) -> bool:
        """False only for formats without subnormals (no zero code, e.g. E8M0)."""
        return bool(self._derived["has_zero"])

    @property
    def zero_is_unsigned(self) -> bool:
        """The format has one zero and no -0 code (P3109 formats, every unsigned format).

        Dividing by such a zero gives NaN for every dividend (P3109's Divide; arith.h
        ``zero_is_unsigned``), where a signed zero gives IEEE 754's +-Inf."""
        return self.has_zero and not (self.signed and self.negative_zero)

    @property
    def has_nan(self) -> bool:
        """The format has a NaN code."""
        return bool(self._derived["has_nan"])

    @property
    def has_inf(self) -> bool:
        """The format has +-Inf."""
        return bool(self._derived["has_inf"])

    @property
    def code_of_max(self) -> int:
        """Code of the largest finite value."""
        return int(self._derived["code_of_max"])

    @property
    def code_of_nan(self) -> int | None:
        """Canonical (positive) NaN code, or None."""
        return self._derived["code_of_nan"]

    @property
    def code_of_inf(self) -> int | None:
        """Code of +Inf, or None."""
        return self._derived["code_of_inf"]

    @property
    def code_of_zero(self) -> int | None:
        """Code of +0, or None for formats without zero."""
        return self._derived["code_of_zero"]

    @property
    def max(self) -> float:
        """Largest finite value: value(code_of_max)."""
        return float(self._ladder[-1])

    @property
    def min(self) -> float:
        """-max for signed formats; the smallest value for unsigned ones (as ml_dtypes)."""
        if self.signed:
            return -self.max
        return 0.0 if self.has_zero else float(self._ladder[0])

    @property
    def minexp(self) -> int:
        """Exponent of the smallest normal binade: 1 - bias, or -bias without subnormals."""
        return int(self._derived["emin"])

    @property
    def maxexp(self) -> int:
        """floor(log2(max)) + 1 (np.finfo convention: the first exponent that overflows)."""
        return math.frexp(self.max)[1]

    @property
    def smallest_normal(self) -> float:
        """2**minexp."""
        return math.ldexp(1.0, self.minexp)

    @property
    def smallest_subnormal(self) -> float:
        """2**(minexp - man_bits) with subnormals and man_bits > 0, else smallest_normal."""
        if self.subnormals and self.man_bits > 0:
            return math.ldexp(1.0, self.minexp - self.man_bits)
        return self.smallest_normal

    def _neighbours_of_one(self) -> tuple[float, float] | None:
        vals = self._ladder
        i = int(np.searchsorted(vals, 1.0))
        if i < len(vals) and vals[i] == 1.0 and 0 < i < len(vals) - 1:
            return float(vals[i - 1]), float(vals[i + 1])
        return None

    @property
    def eps(self) -> float:
        """next(1) - 1: the gap above 1 (2**-man_bits when 1 is not an inner value)."""
        nb = self._neighbours_of_one()
        return nb[1] - 1.0 if nb else math.ldexp(1.0, -self.man_bits)

    @property
    def epsneg(self) -> float:
        """1 - prev(1): the gap below 1 (2**-(man_bits+1) unless 1 sits at the bottom of the
        normal range, where the subnormal spacing below is 2**-man_bits)."""
        nb = self._neighbours_of_one()
        return 1.0 - nb[0] if nb else math.ldexp(1.0, -self.man_bits - 1)

    @property
    def resolution(self) -> float:
        """10**-precision, as np.finfo (decimal digits)."""
        return 10.0 ** -math.floor((self.man_bits + 1) * math.log10(2))


def p3109(k: int, p: int, signed: bool = True, extended: bool = True) -> FloatFormat:
    """IEEE P3109 (interim report v4.0) Binary{K}p{P} format.

    Signed: exponent width K-P, bias 2^(K-P-1), NaN at 2^(K-1) (the negative-zero code), no -0;
    extended adds +Inf at 2^(K-1)-1 and -Inf at 2^K-1. Unsigned: exponent width K-P+1,
    bias 2^(K-P), NaN at 2^K-1, extended +Inf at 2^K-2. Subnormals always.
    """
    k = check_int("k", k, 3, 16)
    signed = check_bool("signed", signed)
    extended = check_bool("extended", extended)
    p = check_int("p", p, 1, k - 1 if signed else k)
    suffix = ("s" if signed else "u") + ("e" if extended else "f")
    name = f"binary{k}p{p}{suffix}"
    if signed:
        return FloatFormat(k - p, p - 1, bias=2 ** (k - p - 1), nan="negzero",
                           negative_zero=False, infinities=extended, name=name)
    return FloatFormat(k - p + 1, p - 1, bias=2 ** (k - p), signed=False, nan="max",
                       infinities=extended, name=name)


def _preset(name: str, e: int, m: int, **kw: Any) -> FloatFormat:
    return FloatFormat(e, m, name=name, **kw)


PRESETS: dict[str, FloatFormat] = {
    f.name: f
    for f in (
        _preset("float8_e4m3fn", 4, 3, nan="max", infinities=False),
        _preset("float8_e5m2", 5, 2),
        _preset("float8_e4m3fnuz", 4, 3, bias=8, nan="negzero", negative_zero=False,
                infinities=False),
        _preset("float8_e5m2fnuz", 5, 2, bias=16, nan="negzero", negative_zero=False,
                infinities=False),
        _preset("float8_e4m3b11fnuz", 4, 3, bias=11, nan="negzero", negative_zero=False,
                infinities=False),
        _preset("float8_e3m4", 3, 4),
        _preset("float8_e4m3", 4, 3),
        _preset("float8_e8m0fnu", 8, 0, bias=127, signed=False, subnormals=False, nan="max",
                infinities=False),
        _preset("float6_e2m3fn", 2, 3, bias=1, nan="none", infinities=False),
        _preset("float6_e3m2fn", 3, 2, bias=3, nan="none", infinities=False),
        _preset("float4_e2m1fn", 2, 1, bias=1, nan="none", infinities=False),
        _preset("float16", 5, 10),
        _preset("bfloat16", 8, 7),
    )
    if f.name
}

ALIASES: dict[str, str] = {
    "e4m3": "float8_e4m3fn", "e5m2": "float8_e5m2", "e4m3fnuz": "float8_e4m3fnuz",
    "e5m2fnuz": "float8_e5m2fnuz", "e4m3b11fnuz": "float8_e4m3b11fnuz", "e3m4": "float8_e3m4",
    "e8m0": "float8_e8m0fnu", "e2m3": "float6_e2m3fn", "e3m2": "float6_e3m2fn",
    "e2m1": "float4_e2m1fn", "fp16": "float16", "half": "float16", "bf16": "bfloat16",
}

