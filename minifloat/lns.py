"""Logarithmic number system (LNS) formats: :class:`LNSFormat` and its presets.

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

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, getcontext, localcontext
from functools import cached_property, lru_cache
from typing import Any, cast

import numpy as np

from . import _core
from .formats import _check_int


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
        i = _check_int("int_bits", int_bits, 1, 11)
        f = _check_int("frac_bits", frac_bits, 0, 12)
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
        return float(self.value_table()[self.code_of_max])

    @property
    def min(self) -> float:
        """-max for signed formats, else 0."""
        return -self.max if self.signed else 0.0

    @property
    def smallest_normal(self) -> float:
        """Smallest positive value 2^(log_min / 2^F)."""
        return float(self.value_table()[self.code_of(self.log_min)])

    smallest_subnormal = smallest_normal

    @property
    def eps(self) -> float:
        """next(1) - 1 = 2^(2^-F) - 1."""
        return float(2.0 ** math.ldexp(1.0, -self.frac_bits) - 1.0)

    @cached_property
    def _table(self) -> np.ndarray:
        t = np.asarray(_core.lns_decode_table(self.spec, threshold_table(self.frac_bits)))
        t.setflags(write=False)
        return t

    def value_table(self) -> np.ndarray:
        """float64 value of every code: 2^(L/2^F) correctly rounded (exact for integer logs)."""
        return self._table

    # ---- codec hooks (called by minifloat.codec) ----
    def _encode_into(self, x: np.ndarray, mode: int, sat: int, nbits: int, rsrc: int, seed: int,
                     offset: int, random: np.ndarray | None, out: np.ndarray) -> bool:
        return bool(_core.lns_encode(x, self.spec, threshold_table(self.frac_bits), mode, sat,
                                     nbits, rsrc, seed, offset, random, out))

    def _decode_into(self, codes: np.ndarray, out: np.ndarray) -> int:
        return int(_core.decode(codes, _padded_table(self, out.dtype), out))


@lru_cache(maxsize=64)
def _padded_table(fmt: LNSFormat, dtype: np.dtype) -> np.ndarray:
    """value_table in ``dtype``, NaN-padded to every value of the code dtype."""
    t = np.full(1 << (8 * fmt.dtype.itemsize), np.nan, dtype=dtype)
    with np.errstate(over="ignore"):
        t[: fmt.num_codes] = fmt.value_table()
    t.setflags(write=False)
    return t


LNS_PRESETS: dict[str, LNSFormat] = {
    "lns8": LNSFormat(4, 3, name="lns8"),     # LNS-Madam's 8-bit format: base 2^(1/8)
    "lns12": LNSFormat(6, 5, name="lns12"),
    "lns16": LNSFormat(8, 7, name="lns16"),   # bfloat16-like range and precision
}


# ---- tables (docs/lns_fixed.md §2.1, §2.4) ----
# Every entry is computed with Python's decimal module (exp and ln correctly rounded at the
# working precision) and accepted only when the value's error interval decides it; otherwise
# it is recomputed at higher precision, so each entry is exact.

_ONE_BELOW = 2**64


def _decide(f: Callable[[Any], Any]) -> Any:
    """Run ``f(ctx_error)`` at increasing decimal precision until it returns non-None."""
    for prec in (45, 90, 180, 480):
        with localcontext() as ctx:
            ctx.prec = prec
            got = f(Decimal(10) ** (8 - prec))
        if got is not None:
            return got
    raise ArithmeticError("LNS table entry undecided at 480 digits")  # pragma: no cover


def _floor_if_clear(v: Any, err: Any) -> int | None:
    """floor(v) when the interval v*(1 -+ err) has a single floor, else None."""
    lo = (v - abs(v) * err).to_integral_value(ROUND_FLOOR)
    hi = (v + abs(v) * err).to_integral_value(ROUND_FLOOR)
    return int(lo) if lo == hi else None


@lru_cache(maxsize=32)
def threshold_table(frac_bits: int) -> np.ndarray:
    """thr[k] = floor(2^(k / 2^(F+1)) * 2^63), k = 0 .. 2^(F+1)-1 (uint64, read-only): the
    magnitudes that decide every rounding of a conversion into LNS with F fraction bits."""
    n = 1 << (frac_bits + 1)
    out = np.empty(n, dtype=np.uint64)
    out[0] = 1 << 63  # the only rational power (k = 0)
    for k in range(1, n):
        def entry(err: Any, k: int = k) -> int | None:
            return _floor_if_clear((_ln2(getcontext().prec) * k / n).exp() * 2**63, err)
        out[k] = _decide(entry)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class GaussLog:
    """Gaussian-log corrections for every distance d = -z >= 0 of two logs (units 2^-F):
    sb(z) = 2^F log2(1 + 2^(z/2^F)) (same signs), db(z) = 2^F log2(1 - 2^(z/2^F)).
    For the exact algorithm: floor, flags (bit 0 inexact, bit 1 fraction above 1/2, bit 2 nu
    inexact) and the value-domain fraction floor(nu*2^64) of each; entries past the end
    repeat the last one."""

    sb_floor: np.ndarray
    sb_flags: np.ndarray
    sb_nu: np.ndarray
    db_floor: np.ndarray
    db_flags: np.ndarray
    db_nu: np.ndarray
    table_only: bool

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.sb_floor, self.sb_flags, self.sb_nu, self.db_floor, self.db_flags,
                self.db_nu, int(self.table_only))


@lru_cache(maxsize=8)
def _ln2(prec: int) -> Any:
    """ln 2 at ``prec`` digits (computed once per precision)."""
    with localcontext() as ctx:
        ctx.prec = prec
        return Decimal(2).ln()


@lru_cache(maxsize=1 << 16)
def _pow2(prec: int, F: int, t: int) -> Any:
    """2^(t / 2^F) at ``prec`` digits (neighbouring table entries share their t)."""
    with localcontext() as ctx:
        ctx.prec = prec
        return (_ln2(prec) * t / Decimal(2) ** F).exp()


def _gauss_entry(F: int, d: int, same: bool) -> tuple[int, int, int]:
    """(floor, flags, nu64) of sb (same) or db at distance d (see GaussLog)."""
    def entry(err: Any) -> tuple[int, int, int] | None:
        ln2 = _ln2(getcontext().prec)
        scale = Decimal(2) ** F
        v = (-ln2 * d / scale).exp()
        y = 1 + v if same else 1 - v
        s = y.ln() / ln2 * scale
        if same and d == 0:
            return (1 << F, 0, 0)  # 1 + 1 = 2
        if not same and d == 1 << F:
            return (-(1 << F), 0, 0)  # 1 - 1/2 = 1/2: the only other rational case
        t = _floor_if_clear(s, err * 4)
        if t is None:
            return None
        frac = s - t
        if abs(frac - Decimal("0.5")) <= abs(s) * err * 8 + err:
            return None
        above = int(frac > Decimal("0.5"))
        lo = _pow2(getcontext().prec, F, t)
        hi = _pow2(getcontext().prec, F, t + 1)
        if same and d == 1:  # t = 2^F - 1: u = 2, t's value 2v, so nu = (1-v)/(2-2v) = 1/2
            return (t, 1 | (above << 1), 1 << 63)
        nu = (y - lo) / (hi - lo) * _ONE_BELOW
        # absolute error: cancellation in y - lo and hi - lo costs at most ~2^(F+2) * |y|
        abs_err = err * _ONE_BELOW * 2 ** (F + 4)
        near = nu.to_integral_value()
        if abs(nu - near) <= abs_err:
            if getcontext().prec < 180:
                return None  # undecided: more digits
            # Still within 10^-150 of an integer: taken as that integer, exactly.
            return (t, 1 | (above << 1), min(max(int(near), 0), _ONE_BELOW - 1))
        f64 = int(nu.to_integral_value(ROUND_FLOOR))
        return (t, 1 | (above << 1) | 4, min(max(f64, 0), _ONE_BELOW - 1))
    return cast(tuple[int, int, int], _decide(entry))


@lru_cache(maxsize=16)
def gauss_exact(frac_bits: int, dmax: int) -> GaussLog:
    """The exact-algorithm data for distances 0..dmax, cut at the essential zero (the first
    distance from which every entry is the same)."""
    cols: dict[bool, list[tuple[int, int, int]]] = {True: [], False: []}
    for same in (True, False):
        rows = cols[same]
        for d in range(dmax + 1):
            if not same and d == 0:
                rows.append((0, 0, 0))  # x - x = +0 is handled before the table
                continue
            rows.append(_gauss_entry(frac_bits, d, same))
            last = rows[-1]
            ess = (0, 5, 0) if same else (-1, 7, _ONE_BELOW - 1)
            if last == ess:
                break
    arrs = [np.array([r[i] for r in cols[s]], dtype=dt) for s in (True, False)
            for i, dt in ((0, np.int32), (1, np.uint8), (2, np.uint64))]
    for a in arrs:
        a.setflags(write=False)
    return GaussLog(arrs[0], arrs[1], arrs[2], arrs[3], arrs[4], arrs[5], table_only=False)


def gauss_table(frac_bits: int, dmax: int) -> GaussLog:
    """The "table" algorithm: integer corrections round-to-nearest(sb), round-to-nearest(db)
    at full resolution, cut at the essential zero (sb rounds to 0, db to 0)."""
    ex = gauss_exact(frac_bits, dmax)
    sb = ex.sb_floor + ((ex.sb_flags >> 1) & 1).astype(np.int32)
    db = ex.db_floor + ((ex.db_flags >> 1) & 1).astype(np.int32)
    return lns_add_table(sb, db)


def lns_add_table(sb: Any, db: Any) -> GaussLog:
    """A user-supplied table algorithm: integer corrections sb[d], db[d] for d = 0, 1, ...
    (d = |La - Lb|); distances past the end use the last entry (so end each table at its
    essential zero). db[0] is never used (x - x = +0)."""
    sb_a = np.ascontiguousarray(sb, dtype=np.int32)
    db_a = np.ascontiguousarray(db, dtype=np.int32)
    if sb_a.ndim != 1 or db_a.ndim != 1 or not sb_a.size or not db_a.size:
        raise ValueError("sb and db must be non-empty 1-D integer tables")
    z8 = [np.zeros(a.size, dtype=np.uint8) for a in (sb_a, db_a)]
    z64 = [np.zeros(a.size, dtype=np.uint64) for a in (sb_a, db_a)]
    return GaussLog(sb_a, z8[0], z64[0], db_a, z8[1], z64[1], table_only=True)


def mitchell_corrections(frac_bits: int, dmax: int) -> tuple[np.ndarray, np.ndarray]:
    """The integer corrections of the tableless "mitchell" algorithm for d = 0..dmax:
    with q = d >> F, r = d mod 2^F, Mitchell's antilog 2^(-d/2^F) ~ (2^(F+1) - r) / 2^(F+1+q)
    and Mitchell's log log2(1 + y) ~ y (sb), log2(w) ~ e + (w / 2^e - 1) (db, w = 1 - v):

        sb(d) = (2^(F+1) - r) >> (q + 1)
        db(d) = ((e - (F+1+q)) << F) + floor(((w - 2^e) << F) / 2^e),
                w = 2^(F+1+q) - (2^(F+1) - r),  e = floor(log2 w)   (d >= 1)

    Both are shift-and-add circuits; the arrays are their outputs (bit-exact emulation)."""
    F = frac_bits
    sb, db = [], []
    for d in range(dmax + 1):
        q, r = d >> F, d & ((1 << F) - 1)
        a = (1 << (F + 1)) - r
        sb.append(a >> (q + 1) if q + 1 < 63 else 0)
        if d == 0:
            db.append(0)
            continue
        w = (1 << (F + 1 + q)) - a
        e = w.bit_length() - 1
        db.append(((e - (F + 1 + q)) << F) + (((w - (1 << e)) << F) >> e))
        if q > F + 66:  # from here on sb = 0 and db = -1: the essential zero
            break
    return np.array(sb, dtype=np.int64), np.array(db, dtype=np.int64)


def mitchell_bound(frac_bits: int, d: int, same: bool) -> float:
    """Declared error bound (in units 2^-F of the log) of the "mitchell" correction at
    distance d: sb: (0.0861 + 0.0431) 2^F + 1 (Mitchell's log and antilog errors, plus the
    floor); db: the same for d >= 2^F (v <= 1/2), and for d < 2^F, where w = 1 - v is small,
    that plus 2^F log2(1 + 0.0431 / w_min) with w_min = 1 - 2^(-d/2^F) (the antilog's error
    relative to w)."""
    F = frac_bits
    base = (0.0861 + 0.0431) * 2**F + 1
    if same or d >= 1 << F:
        return base
    w_min = 1 - 2.0 ** (-d / 2**F)
    return base + 2**F * math.log2(1 + 0.0431 / w_min)


# ---- "interp": index split, first-order interpolation, cotransformation (lns_fixed.md §2.6) ----
def _rounded_gauss(frac_bits: int, guard_bits: int, d: int, same: bool) -> int:
    """round_nearest(2^G * sb(d)) (same) or round_nearest(2^G * db(d)) (d >= 1): one verified
    table entry (no ties: the value is an integer only for sb(0) and db(2^F), else irrational)."""
    F, G = frac_bits, guard_bits
    if same and d == 0:
        return 1 << (F + G)
    if not same and d == 1 << F:
        return -(1 << (F + G))

    def entry(err: Any) -> int | None:
        ln2 = _ln2(getcontext().prec)
        v = (-ln2 * d / (Decimal(2) ** F)).exp()
        y = 1 + v if same else 1 - v
        s = y.ln() / ln2 * (Decimal(2) ** (F + G))
        # absolute error: relative error of s, plus the cancellation in 1 - v (|y| >= 2^-F/2)
        tol = err * (abs(s) + Decimal(2) ** (2 * F + G + 4))
        lo = (s + Decimal("0.5") - tol).to_integral_value(ROUND_FLOOR)
        hi = (s + Decimal("0.5") + tol).to_integral_value(ROUND_FLOOR)
        return int(lo) if lo == hi else None
    return cast(int, _decide(entry))


@dataclass(frozen=True)
class InterpTables:
    """The integer tables of the "interp" algorithm for one ``frac_bits`` (the ROM contents of
    a hardware unit), every entry ``round_nearest(2^G * f(x))`` in units 2^-(F+G):

    - ``sb[j]`` = sb(j * 2^s) for j = 0 .. len(sb) - 1 (the last entry is the first 0);
    - ``db[j - db_first]`` = db(j * 2^s) for j = db_first .. (last entry: the first 0), with
      ``db_first = 2^c >> s`` (interpolated db is used only for d >= 2^c);
    - ``cotrans_high[i]`` = db(i * 2^k) for i = 0 .. 2^(c-k) - 1 (entry 0 unused, stored as 0);
    - ``cotrans_low[m]`` = db(m) for m = 0 .. 2^k - 1 (entry 0 unused, stored as 0).
    """

    frac_bits: int
    step_bits: int
    guard_bits: int
    critical_bits: int
    cotrans_bits: int
    sb: np.ndarray
    db: np.ndarray
    db_first: int
    cotrans_high: np.ndarray
    cotrans_low: np.ndarray


@dataclass(frozen=True)
class Interp:
    """The "interp" LNS addition algorithm: ``lns_add=mf.lns.Interp(...)`` (the string
    ``"interp"`` is ``Interp()``). A coarse table of sb/db every 2^s distances (units 2^-F),
    first-order interpolation between its entries with G guard bits and explicit rounding, and
    a cotransformation for subtraction in the critical region 0 < d < 2^c, all in integer
    arithmetic; docs/lns_fixed.md §2.6 specifies every bit.

    Args:
        step_bits: s: the coarse tables sample every 2^s distances; the low s bits of d (with
            the guard bits) interpolate. None: ``frac_bits // 2``.
        guard_bits: G: table entries and the interpolation carry G fraction bits below the
            log's LSB; the correction is rounded (nearest, ties up) to the LSB once at the end.
        critical_bits: c: subtraction with 0 < d < 2^c uses the cotransformation (where db is
            singular); must be >= s. None: ``frac_bits`` (operands within a factor 2).
        cotrans_bits: k: the cotransformation splits d = dH + dL with dL = d mod 2^k, and reads
            db(dH) and db(dL) from two small tables (k = c: one table of every d < 2^c, no
            cotransformation). None: ``critical_bits - critical_bits // 2``.
    """

    step_bits: int | None = None
    guard_bits: int = 3
    critical_bits: int | None = None
    cotrans_bits: int | None = None

    def __post_init__(self) -> None:
        for name in ("step_bits", "critical_bits", "cotrans_bits"):
            v = getattr(self, name)
            if v is not None:
                _check_int(name, v, 0, 16)
        _check_int("guard_bits", self.guard_bits, 0, 16)
        s, c, k = self.step_bits, self.critical_bits, self.cotrans_bits
        if s is not None and c is not None and s > c:
            raise ValueError(f"step_bits={s} > critical_bits={c}; allowed: step_bits <= "
                             "critical_bits (the db table starts at d = 2^critical_bits)")
        if k is not None and c is not None and k > c:
            raise ValueError(f"cotrans_bits={k} > critical_bits={c}; allowed: cotrans_bits "
                             "<= critical_bits")

    def resolved(self, frac_bits: int) -> Interp:
        """The parameters in force for ``frac_bits`` (defaults filled in), checked."""
        F = _check_int("frac_bits", frac_bits, 0, 12)
        c = F if self.critical_bits is None else self.critical_bits
        s = min(F // 2, c) if self.step_bits is None else self.step_bits
        k = c - c // 2 if self.cotrans_bits is None else self.cotrans_bits
        return Interp(s, self.guard_bits, c, k)

    def describe(self, frac_bits: int) -> str:
        """``interp(step_bits=.., guard_bits=.., critical_bits=.., cotrans_bits=..)`` for F."""
        r = self.resolved(frac_bits)
        return (f"interp(step_bits={r.step_bits},guard_bits={r.guard_bits},"
                f"critical_bits={r.critical_bits},cotrans_bits={r.cotrans_bits})")

    def tables(self, frac_bits: int) -> InterpTables:
        """The coarse and cotransformation tables for ``frac_bits`` (see InterpTables)."""
        r = self.resolved(frac_bits)
        return _interp_tables(frac_bits, cast(int, r.step_bits), r.guard_bits,
                              cast(int, r.critical_bits), cast(int, r.cotrans_bits))

    def corrections(self, frac_bits: int, dmax: int) -> tuple[np.ndarray, np.ndarray]:
        """The integer corrections (units 2^-F) sb(d), db(d) for d = 0..dmax (db[0] = 0 is
        never used: x - x = +0), evaluated with the integer arithmetic of §2.6 (int64)."""
        t = self.tables(frac_bits)
        dmax = _check_int("dmax", dmax, 0, 1 << 20)
        d = np.arange(dmax + 1, dtype=np.int64)
        return _interp_eval(t, d, True), _interp_eval(t, d, False)


@lru_cache(maxsize=32)
def _interp_tables(F: int, s: int, G: int, c: int, k: int) -> InterpTables:
    def column(same: bool, first: int) -> np.ndarray:
        out, j = [], first
        while True:  # up to the first 0 (the essential zero; |f| decreases towards 0)
            out.append(_rounded_gauss(F, G, j << s, same))
            if out[-1] == 0:
                break
            j += 1
        return np.array(out, dtype=np.int64)

    db_first = (1 << c) >> s
    high = np.array([0] + [_rounded_gauss(F, G, i << k, False)
                           for i in range(1, 1 << (c - k))], dtype=np.int64)
    low = np.array([0] + [_rounded_gauss(F, G, m, False) for m in range(1, 1 << k)],
                   dtype=np.int64)
    arrs = [column(True, 0), column(False, db_first), high, low]
    for a in arrs:
        a.setflags(write=False)
    return InterpTables(F, s, G, c, k, arrs[0], arrs[1], db_first, arrs[2], arrs[3])


def _interp_poly(table: np.ndarray, first: int, x: np.ndarray, sg: int) -> np.ndarray:
    """P(T, x): first-order interpolation of table T (entry j at x = j 2^sg, j >= first) at
    x (units 2^-(F+G), int64): T[j] + floor((Δ t + 2^(sg-1)) / 2^sg), j = x >> sg,
    t = x mod 2^sg, Δ = T[j+1] - T[j]; from the last entry (a 0) on, that entry."""
    j = (x >> sg) - first
    last = table.size - 1
    jj = np.minimum(j, last)
    t = np.where(j >= last, 0, x & ((1 << sg) - 1))
    t0 = table[jj]
    delta = table[np.minimum(jj + 1, last)] - t0
    half = (1 << sg) >> 1
    return t0 + ((delta * t + half) >> sg)


def _interp_eval(t: InterpTables, d: np.ndarray, same: bool) -> np.ndarray:
    """The "interp" correction (units 2^-F) at every distance d (int64 array)."""
    G, sg = t.guard_bits, t.step_bits + t.guard_bits
    if same:
        y = _interp_poly(t.sb, 0, d << G, sg)
    else:
        crit = (d > 0) & (d < (1 << t.critical_bits))
        y = _interp_poly(t.db, t.db_first, np.maximum(d, 1 << t.critical_bits) << G, sg)
        k = t.cotrans_bits
        dh, dl = d >> k, d & ((1 << k) - 1)
        hi_ = t.cotrans_high[np.where(crit, np.minimum(dh, t.cotrans_high.size - 1), 0)]
        lo_ = t.cotrans_low[np.where(crit, dl, 0)]
        # db(dH + dL) = db(dH) + sb(dH + db(dH) - db(dL)); the sb argument is > dH >= 2^k
        arg = np.where(crit & (dh > 0) & (dl > 0), ((dh << k) << G) + hi_ - lo_, 0)
        cot = np.where(dh == 0, lo_, np.where(dl == 0, hi_,
                                              hi_ + _interp_poly(t.sb, 0, arg, sg)))
        y = np.where(crit, cot, np.where(d == 0, 0, y))
    return (y + ((1 << G) >> 1)) >> G


def interp_bound(frac_bits: int, d: int, same: bool, algorithm: Any = "interp") -> float:
    """Declared error bound (units 2^-F) of the "interp" correction at distance d, from its
    construction (lns_fixed.md §2.6): 1/2 (final rounding) plus, in guard units 2^-G, 1/2 per
    rounded table entry and 1/2 for the interpolation's rounding, plus the linear-interpolation
    error h^2/8 * max|f''| over the segment (h = 2^s, f'' = 2^-F ln2 2^-u / (1 -+ 2^-u)^2,
    u = d/2^F, largest at the segment's start). In the cotransformation region: 1/2 + 2^-G/2
    when d is a table point (dL = 0 or dH = 0), else 1/2 + 2 * 2^-G + the sb interpolation
    error with max|f''| = 2^-F ln2 / 4."""
    r = _as_interp(algorithm).resolved(frac_bits)
    F, G, s, c = frac_bits, r.guard_bits, cast(int, r.step_bits), cast(int, r.critical_bits)
    k = cast(int, r.cotrans_bits)
    h2 = float(1 << (2 * s)) / 8 * 2.0 ** -F * math.log(2)
    g = 2.0 ** -G
    if not same and 0 < d < 1 << c:
        if d >> k == 0 or d & ((1 << k) - 1) == 0:
            return 0.5 + g / 2
        return 0.5 + 2 * g + h2 / 4
    u = ((d >> s) << s) / 2**F
    w = 2.0 ** -u
    phi = w / (1 + w) ** 2 if same else w / (1 - w) ** 2
    return 0.5 + g + h2 * phi


def _as_interp(algorithm: Any) -> Interp:
    if algorithm == "interp":
        return Interp()
    if isinstance(algorithm, Interp):
        return algorithm
    raise ValueError(f"algorithm={algorithm!r}; allowed: 'interp' or a minifloat.lns.Interp")


@lru_cache(maxsize=32)
def _interp_gauss(algorithm: Interp, frac_bits: int, dmax: int) -> GaussLog:
    sb, db = algorithm.corrections(frac_bits, dmax)

    def cut(a: np.ndarray) -> np.ndarray:  # drop the constant tail (C++ reuses the last entry)
        diff = np.nonzero(a != a[-1])[0]
        return a[: int(diff[-1]) + 2] if diff.size else a[:1]
    return lns_add_table(cut(sb), cut(db))


LNS_ADD_ALGORITHMS = ("exact", "table", "interp", "mitchell")


@lru_cache(maxsize=16)
def _mitchell_tables(frac_bits: int, dmax: int) -> GaussLog:
    sb, db = mitchell_corrections(frac_bits, dmax)
    return lns_add_table(sb, db)


def gauss_for(fmt: LNSFormat, algorithm: Any) -> GaussLog:
    """The Gaussian-log data of ``lns_add=`` for additions whose result is in ``fmt``."""
    algorithm = check_lns_add(algorithm)
    if isinstance(algorithm, GaussLog):
        return algorithm
    dmax = (1 << fmt.log_bits) - 1
    if algorithm == "exact":
        return gauss_exact(fmt.frac_bits, dmax)
    if algorithm == "table":
        return gauss_table(fmt.frac_bits, dmax)
    if algorithm == "mitchell":
        return _mitchell_tables(fmt.frac_bits, dmax)
    return _interp_gauss(_as_interp(algorithm).resolved(fmt.frac_bits), fmt.frac_bits, dmax)


def check_lns_add(algorithm: Any) -> Any:
    """Validate an ``lns_add=`` value: "exact", "table", "interp", "mitchell", an
    :class:`Interp` or a table from :func:`lns_add_table`; returns it (ValueError otherwise)."""
    if isinstance(algorithm, (GaussLog, Interp)) or (
            isinstance(algorithm, str) and algorithm in LNS_ADD_ALGORITHMS):
        return algorithm
    raise ValueError(f"lns_add={algorithm!r}; allowed: {', '.join(map(repr, LNS_ADD_ALGORITHMS))}"
                     ", a minifloat.lns.Interp(...) or a table from "
                     "minifloat.lns.lns_add_table(sb, db)")


def _current_add() -> Any:
    from .rounding import current

    return current().lns_add


def call_lns_add(algorithm: Any, formats: list[Any]) -> Any:
    """A call's ``lns_add=`` keyword, checked: an allowed value (:func:`check_lns_add`) on a call
    whose operands, result or accumulator include an LNS format (ValueError otherwise: the
    keyword could not act and would be ignored silently)."""
    algorithm = check_lns_add(algorithm)
    if not any(isinstance(f, LNSFormat) for f in formats):
        names = ", ".join(dict.fromkeys(str(f) for f in formats))
        what = repr(algorithm) if isinstance(algorithm, (str, Interp)) else "a table"
        raise ValueError(f"lns_add={what} selects the addition of LNS formats; this call "
                         f"has none ({names}); drop lns_add")
    return algorithm


def parse_lns_add(text: str) -> Any:
    """An ``lns_add`` value from text: "exact", "table", "interp", "mitchell", or
    ``interp(step_bits=2,guard_bits=4)`` (the form of :meth:`Interp.describe`; omitted
    parameters take their defaults)."""
    t = text.strip()
    if t in LNS_ADD_ALGORITHMS:
        return t
    if t.startswith("interp(") and t.endswith(")"):
        kw: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in t[7:-1].split(","))):
            key, eq, val = part.partition("=")
            key = key.strip()
            if not eq or key not in Interp.__dataclass_fields__:
                raise ValueError(f"lns_add={text!r}: {part!r} is not a parameter; allowed: "
                                 f"{', '.join(Interp.__dataclass_fields__)}")
            try:
                kw[key] = int(val)
            except ValueError:
                raise ValueError(f"lns_add={text!r}: {key} must be an integer") from None
        return Interp(**kw)
    raise ValueError(f"lns_add={text!r}; allowed: {', '.join(LNS_ADD_ALGORITHMS)} or "
                     "interp(step_bits=S,guard_bits=G,critical_bits=C,cotrans_bits=K)")


def lns_add(algorithm: Any) -> contextlib.AbstractContextManager[Any]:
    """``with mf.lns.lns_add("table"):`` selects the LNS addition algorithm for this thread's
    block: the same as ``mf.config(lns_add=...)`` (default ``"exact"``: correctly rounded
    under every rounding mode). Allowed: "exact", "table", "interp", "mitchell", an
    :class:`Interp` or a table from :func:`lns_add_table`. A call's ``lns_add=`` keyword
    overrides it for that call."""
    from .rounding import config

    return config(lns_add=check_lns_add(algorithm))


# ---- arithmetic on LNS codes (dispatched from minifloat.ops / minifloat.linalg) ----
_OPS = {"add": 0, "subtract": 1, "multiply": 2, "divide": 3, "sqrt": 5, "negative": 6,
        "absolute": 7, "positive": 8}


def elementwise(name: str, codes: list[np.ndarray], fmts: list[Any], fo: Any, p: Any,
                out: np.ndarray, power: int = 0, algorithm: Any = None) -> bool:
    """``out`` = codes of op ``name`` (a minifloat.ops name, or "power") on LNS operands,
    rounded once into ``fo``. Binary operations need operands with the result's frac_bits
    (compatible logs); unary copies also convert between LNS, float and fixed-point formats.
    Returns False if a NaN result has no code."""
    from .codec import decode, encode_resolved
    from .fixed import FixedFormat
    from .formats import FloatFormat

    src = fmts[0]
    if name in ("positive", "negative", "absolute"):
        if isinstance(src, LNSFormat) and not isinstance(fo, LNSFormat):
            return bool(_core.lns_convert(np.ascontiguousarray(codes[0]), src.spec,
                                          threshold_table(src.frac_bits), _OPS[name], fo.spec,
                                          p.mode, p.sat, p.nbits, int(p.flush), p.rsrc, p.seed,
                                          p.offset, p.random, out))
        if isinstance(src, (FloatFormat, FixedFormat)):
            v = decode(codes[0], cast(Any, src))  # exact in float64
            v = {"positive": np.positive, "negative": np.negative, "absolute": np.abs}[name](v)
            return encode_resolved(v, fo, p, out)
    if not all(isinstance(f, LNSFormat) for f in [*fmts, fo]):
        raise ValueError(f"{name}: operands {', '.join(map(str, fmts))} -> {fo} mix LNS with "
                         "another number system; convert operands with astype() first")
    if name not in ("positive",) and any(f.frac_bits != fo.frac_bits for f in fmts):
        raise ValueError(f"{name}: LNS operands and result must have the same frac_bits "
                         f"(got {[f.frac_bits for f in fmts]} -> {fo.frac_bits}); convert first")
    op = 9 if name == "power" else _OPS.get(name)
    if op is None:
        raise ValueError(f"{name} is not defined on LNS formats")
    gauss = None
    if name in ("add", "subtract"):
        gauss = gauss_for(fo, _current_add() if algorithm is None else algorithm).as_tuple()
    a = np.ascontiguousarray(codes[0])
    b = np.ascontiguousarray(codes[1]) if len(codes) > 1 else a
    fb = fmts[1] if len(fmts) > 1 else src
    if (op <= 1 and p.nbits == 0 and a.size >= _PAIR_TABLE_MIN
            and max(src.bits, fb.bits, fo.bits) <= 8):
        table = _pair_table(op, src, fb, fo, p.mode, p.sat, _gauss_key(gauss))
        return bool(_core.gather2(a, b, table, fb.num_codes, out) < fo.num_codes)
    return bool(_core.lns_arith(op, a, src.spec, b, fb.spec, fo.spec,
                                threshold_table(fo.frac_bits), p.mode, p.sat, p.nbits, p.rsrc,
                                p.seed, p.offset, p.random, gauss, int(power), out))


# Deterministic + and - with <= 8-bit LNS operands and result from this many elements on: a
# table of every operand pair's result code, built once by the same kernel (lns_arith) and
# cached (* and / are a few integer operations: the kernel is faster than the lookup).
_PAIR_TABLE_MIN = 1 << 12


def _gauss_key(gauss: tuple[Any, ...] | None) -> Any:
    """A hashable stand-in for GaussLog.as_tuple() (its arrays' bytes)."""
    if gauss is None:
        return None
    return (*(np.asarray(g).tobytes() for g in gauss[:6]), int(gauss[6]))


@lru_cache(maxsize=64)
def _pair_table(op: int, fa: LNSFormat, fb: LNSFormat, fo: LNSFormat, mode: int, sat: int,
                gkey: Any) -> np.ndarray:
    """uint16 result code of op (0 add, 1 subtract, 2 multiply, 3 divide) for every pair of
    codes (a, b) at a * fb.num_codes + b, from the kernel itself; 0xFFFF marks a NaN result
    without a code."""
    gauss = None
    if gkey is not None:
        dts = (np.int32, np.uint8, np.uint64, np.int32, np.uint8, np.uint64)
        gauss = (*(np.frombuffer(k, dtype=dt) for k, dt in zip(gkey[:6], dts)), gkey[6])
    a = np.repeat(np.arange(fa.num_codes, dtype=np.uint16), fb.num_codes)
    b = np.tile(np.arange(fb.num_codes, dtype=np.uint16), fa.num_codes)
    table = np.empty(a.size, dtype=np.uint16)
    _core.lns_arith(op, a, fa.spec, b, fb.spec, fo.spec, threshold_table(fo.frac_bits), mode,
                    sat, 0, 0, 0, 0, None, gauss, 0, table)
    table.setflags(write=False)
    return table


def ones_like_codes(shape: tuple[int, ...]) -> tuple[np.ndarray, LNSFormat]:
    """Codes and format of an array of exact 1s (L = 0 in any LNS format)."""
    return np.zeros(shape, dtype=np.uint8), LNSFormat(2, 0)


def power(a: Any, k: int, **projection: Any) -> Any:
    """a**k for an integer k on an LNS MiniArray: the exact log k*L, then saturation
    (0**0 = 1, 0**k = 0 for k > 0 and Inf/max for k < 0)."""
    from .array import MiniArray, from_codes
    from .codec import resolve_projection

    if not isinstance(a, MiniArray) or not isinstance(a.format, LNSFormat):
        raise TypeError("power needs an LNS MiniArray")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    f = a.format
    p = resolve_projection(cast(Any, f), a.shape, **projection)
    out = np.empty(a.shape, dtype=f.dtype)
    if not elementwise("power", [a.codes], [f], f, p, out, power=int(k)):
        raise ValueError(f"power: a NaN result has no code in {f}")
    return from_codes(out, cast(Any, f))


def contract(a: np.ndarray, fa: Any, b: np.ndarray | None, fb: Any, fo: Any, kind: int,
             facc: Any, order: str, block: int, projection: dict[str, Any],
             algorithm: Any = None) -> np.ndarray:
    """Codes of ``a @ b`` (or row sums of a) for LNS operands: exact products (log sums),
    accumulated by ``kind`` (linalg ACC_*: 1 an LNS format with the operands' frac_bits,
    2 float32, 3 float64: each product's value rounded to the float first), in ``order``,
    then projected once into ``fo`` (LNS, float or fixed point). ``algorithm``: the LNS
    addition algorithm of an LNS accumulator (None: the context's ``lns_add``)."""
    from .codec import resolve_projection
    from .fixed import FixedFormat
    from .formats import FloatFormat

    if not isinstance(fa, LNSFormat) or (b is not None and not isinstance(fb, LNSFormat)):
        raise ValueError(f"contraction of {fa} with {fb}: LNS operands must not be mixed with "
                         "other number systems; convert with astype() first")
    if b is not None and fb.frac_bits != fa.frac_bits:
        raise ValueError("LNS operands of a product must have the same frac_bits")
    M, K = a.shape
    N = 1 if b is None else b.shape[1]
    if kind == 4:
        pl = resolve_projection(cast(Any, fo), (M * N,), **projection)
        if pl.rsrc == 2:
            raise ValueError("random= is not supported for contractions; use seed=")
        return _linear_bins(a, fa, b, fb, fo, facc, pl)
    if kind == 0:
        raise ValueError("accumulator='exact' is not defined for LNS (sums of LNS values are "
                         "not finite binary fractions); use an LNS format, 'float32' or "
                         "'float64'")
    if kind < 0:
        raise ValueError("accumulator='float32_blas' is for float formats; use 'float32'")
    sacc: tuple[int, ...] = fa.spec
    gauss = None
    if kind == 1:
        if not isinstance(facc, LNSFormat) or facc.frac_bits != fa.frac_bits:
            raise ValueError(f"accumulator {facc}: LNS products accumulate in an LNS format "
                             f"with frac_bits={fa.frac_bits}, 'float32' or 'float64'")
        sacc = facc.spec
        gauss = gauss_for(facc, _current_add() if algorithm is None else algorithm).as_tuple()
    if isinstance(fo, LNSFormat):
        out_kind = 0
    elif isinstance(fo, FloatFormat):
        out_kind = 1
    elif isinstance(fo, FixedFormat):
        out_kind = 2
    else:
        raise ValueError(f"out_format {fo} is not a number format")
    p = resolve_projection(cast(Any, fo), (M * N * (K + 1),), **projection)
    if p.rsrc == 2:
        raise ValueError("random= is not supported for contractions; use seed=")
    out = np.empty((M, N), dtype=fo.dtype)
    thr_o = threshold_table(fo.frac_bits) if out_kind == 0 else threshold_table(fa.frac_bits)
    ok = _core.lns_contract(np.ascontiguousarray(a), fa.spec,
                            None if b is None else np.ascontiguousarray(b),
                            (fb if b is not None else fa).spec, M, K, N, kind, sacc, gauss,
                            fo.spec, out_kind, threshold_table(fa.frac_bits), thr_o, p.mode,
                            p.sat, p.nbits, int(p.flush), int(order == "pairwise"), block,
                            p.rsrc, p.seed, p.offset, out)
    if not ok:
        raise ValueError(f"a NaN result has no code in {fo}")
    return out


@dataclass(frozen=True)
class LinearBins:
    """The LNS-Madam / Dally linear-bins accumulator (``accumulator="linear_bins"`` or
    ``accumulator=LinearBins(width)``). Each exact product log L = La + Lb is split as
    L = e 2^F + r (0 <= r < 2^F); bin r accumulates (-1)^s 2^e exactly (an integer with the
    smallest e as unit); at the end

        sum = 2^(e_min - (width-1)) * sum_r bins[r] * tab[r],
        tab[r] = round_half_even(2^(r/2^F) * 2^(width-1))      (width-bit table)

    is projected once into the output format. Zero products are skipped; a NaN product, or
    +Inf and -Inf products together, give NaN; otherwise an Inf product gives that Inf."""

    width: int = 24

    def __post_init__(self) -> None:
        _check_int("width", self.width, 2, 62)

    @property
    def linear_bins_width(self) -> int:
        """The table width in bits (the marker minifloat.linalg looks for)."""
        return self.width

    def table(self, frac_bits: int) -> list[int]:
        """tab[r] for r = 0 .. 2^F - 1 (exact: from the verified thresholds to 63 bits)."""
        thr = threshold_table(frac_bits)
        out = []
        for r in range(1 << frac_bits):
            T = int(thr[2 * r])  # floor(2^(r/2^F) 2^63); the true value is in (T, T+1) for r > 0
            sh = 63 - (self.width - 1)
            q, rem = T >> sh, T & ((1 << sh) - 1)
            half = 1 << (sh - 1)
            # irrational for r > 0: rem + (0, 1) never equals the half exactly
            up = rem >= half if r else (rem > half or (rem == half and q & 1))
            out.append(q + int(up))
        return out


def _linear_bins(a: np.ndarray, fa: LNSFormat, b: np.ndarray | None, fb: LNSFormat,
                 fo: Any, bins_acc: LinearBins, p: Any) -> np.ndarray:
    """Codes of the linear-bins contraction (see LinearBins), projected with ``p``."""
    from .codec import PARTS_DTYPE, encode_resolved

    F = fa.frac_bits
    tab = bins_acc.table(F)
    M, K = a.shape
    N = 1 if b is None else b.shape[1]

    def logs(codes: np.ndarray, f: LNSFormat) -> tuple[np.ndarray, ...]:
        c = codes.astype(np.int64)
        W = f.log_bits
        field = c & ((1 << W) - 1)
        L = field - ((field >> (W - 1)) << W)
        neg = (c >> W) & 1 if f.signed else np.zeros_like(c)
        zero = field == (1 << (W - 1))
        nan = zero & (neg == 1)
        inf = (L == f.log_max + 1) & bool(f.infinities) & ~zero
        return L, neg, zero & ~nan, nan, inf

    La, na, za, nana, ia = logs(a, fa)
    if b is None:
        Lb = np.zeros((K, 1), np.int64)
        nb = np.zeros((K, 1), np.int64)
        zb = nanb = ib = np.zeros((K, 1), bool)
    else:
        Lb, nb, zb, nanb, ib = logs(b, fb)
    parts = np.zeros((M, N), dtype=PARTS_DTYPE)
    e_min = 2 * (-(1 << (fa.log_bits - 1))) >> F  # below every product's e
    for i in range(M):
        L = La[i][:, None] + Lb
        neg = (na[i][:, None] ^ nb).astype(bool)
        zero = za[i][:, None] | zb
        nan = nana[i][:, None] | nanb | (ia[i][:, None] & zb) | (za[i][:, None] & ib)
        inf = (ia[i][:, None] | ib) & ~nan
        e = (L >> F) - e_min
        r = L & ((1 << F) - 1)
        for j in range(N):
            col_nan = bool(nan[:, j].any())
            pinf = bool((inf[:, j] & ~neg[:, j]).any())
            ninf = bool((inf[:, j] & neg[:, j]).any())
            if col_nan or (pinf and ninf):
                parts[i, j] = (0, 0, 3)
                continue
            if pinf or ninf:
                parts[i, j] = (0, 0, 2 | (int(ninf) << 8))
                continue
            live = ~zero[:, j]
            bins = [0] * (1 << F)
            for ee, rr, ng in zip(e[live, j].tolist(), r[live, j].tolist(),
                                  neg[live, j].tolist()):
                bins[rr] += -(1 << ee) if ng else (1 << ee)
            S = sum(bv * t for bv, t in zip(bins, tab))
            e_lsb = e_min - (bins_acc.width - 1)
            if S == 0:
                parts[i, j] = (0, 0, 1)
                continue
            sgn, mag = int(S < 0), abs(S)
            nb_ = mag.bit_length()
            if nb_ > 62:  # 61 bits and the half-LSB sticky bit (arith.h): one rounding
                sh = nb_ - 61
                q = mag >> sh
                mag, e_lsb = 2 * q + int(mag != q << sh), e_lsb + sh - 1
            parts[i, j] = (mag, e_lsb, sgn << 8)
    out = np.empty((M, N), dtype=fo.dtype)
    if not encode_resolved(parts, fo, p, out):
        raise ValueError(f"a NaN result has no code in {fo}")
    return out
