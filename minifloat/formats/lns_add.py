"""LNS addition algorithms (docs/lns_fixed.md §2.4-2.6): the ``lns_add=`` values and the exact
integer tables each of them is defined by.

For two logs at distance d = |La - Lb| (units 2^-F) the sum's log is max(La, Lb) + sb(d)
(same signs) or + db(d) (opposite signs), with the Gaussian logarithms
sb(z) = 2^F log2(1 + 2^(-z/2^F)) and db(z) = 2^F log2(1 - 2^(-z/2^F)). The algorithms differ
in how they approximate sb and db: "exact" (correctly rounded under every mode), "table"
(round-to-nearest corrections at full resolution), "interp" (:class:`Interp`), "mitchell"
(shift-and-add), or a user table (:func:`lns_add_table`). :class:`LinearBins` is the
linear-bins accumulator of LNS-Madam. Pure Python: the C++ kernels take these tables as input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, getcontext
from functools import lru_cache
from typing import Any, cast

import numpy as np

from ._check import check_int
from .lns import LNSFormat
from .log_tables import _ONE_BELOW, _decide, _floor_if_clear, _ln2, _pow2, threshold_table


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
                check_int(name, v, 0, 16)
        check_int("guard_bits", self.guard_bits, 0, 16)
        s, c, k = self.step_bits, self.critical_bits, self.cotrans_bits
        if s is not None and c is not None and s > c:
            raise ValueError(f"step_bits={s} > critical_bits={c}; allowed: step_bits <= "
                             "critical_bits (the db table starts at d = 2^critical_bits)")
        if k is not None and c is not None and k > c:
            raise ValueError(f"cotrans_bits={k} > critical_bits={c}; allowed: cotrans_bits "
                             "<= critical_bits")

    def resolved(self, frac_bits: int) -> Interp:
        """The parameters in force for ``frac_bits`` (defaults filled in), checked."""
        F = check_int("frac_bits", frac_bits, 0, 12)
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
        dmax = check_int("dmax", dmax, 0, 1 << 20)
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
        check_int("width", self.width, 2, 62)

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
