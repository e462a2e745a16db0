"""Exact tables of powers 2^(k/2^F) (docs/lns_fixed.md §2.1), computed from the definitions.

Every entry is computed with Python's decimal module (exp and ln correctly rounded at the
working precision) and accepted only when the value's error interval decides it; otherwise it
is recomputed at higher precision, so each entry is exact. Pure Python: the LNS codec (C++)
takes :func:`threshold_table` as its input, and the LNS descriptor reads its values here.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal, getcontext, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

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



def pow2_values(L: np.ndarray, frac_bits: int) -> np.ndarray:
    """2^(L / 2^F) correctly rounded to float64 (round to nearest even, overflow to +inf) for
    an int64 array of logs L. With L = q 2^F + r (0 <= r < 2^F) and T = thr[2r]
    (:func:`threshold_table`), the value is 2^q T / 2^63 exactly when r = 0 and lies strictly
    between 2^q T / 2^63 and 2^q (T + 1) / 2^63 otherwise; no float64 rounding boundary lies
    inside that interval (T has 64 bits), so rounding 2^q (T + 1/2) / 2^63 decides it."""
    F = frac_bits
    thr = threshold_table(F)
    L = np.asarray(L, dtype=np.int64)
    q, r = L >> F, L & ((1 << F) - 1)

    def exact(qq: int, rr: int) -> float:
        num = 2 * int(thr[2 * rr]) + (1 if rr else 0)
        try:
            return float(Fraction(num) * Fraction(2) ** (qq - 64))
        except OverflowError:
            return float("inf")

    # 2^(r/2^F) rounded once into [1, 2]; scaling by 2^q is exact inside the normal range.
    mant = np.array([exact(0, j) for j in range(1 << F)])
    out = np.ldexp(mant[r], q)
    edge = (q < -1021) | (q > 1022)
    for i in zip(*np.nonzero(edge)):
        out[i] = exact(int(q[i]), int(r[i]))
    return out
