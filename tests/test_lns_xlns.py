"""Differential tests against xlns (Arnold's reference LNS package, test extra).

How the conventions relate:
- xlns keeps a value as ``nd = 2*L + sign`` with ``L`` the log in units 2^-F of the global
  precision ``xlnssetF(F)`` (base B = 2^(2^-F)); our code is ``sign | L`` with a W-bit two's
  complement L. The same F makes the logs identical integers; xlns has no range limit (int64),
  so pairs whose exact result leaves our format (saturation, underflow to 0) are not compared.
- Multiplication and division: xlns adds/subtracts nd (``La ± Lb``, sign XOR); ours is the
  same exact integer operation, so every in-range pair must agree bit for bit.
- Addition: xlns computes ``max(nd_a, nd_b) + sbdb(-|La - Lb|, s)`` with the Gaussian log of
  the active ``sbdb_ufunc``. ``sbdb_ufunc_ideal`` is ``2*round(log_B|1 - 2s + B^z|)`` in float64:
  round-to-nearest of sb/db, which is what our correctly rounded ``"exact"`` algorithm gives
  under ``nearest_even`` (no ties exist: sb/db are irrational except at d = 0 and d = 2^F,
  where they are integers). The float64 evaluation could only differ where the true fraction
  is within ~1e-12 of 1/2; no d of these formats is (an equality assertion would show it).
  Excluded: ``x - x`` (xlns's ideal db uses ``B^-1`` at z = 0 and returns a tiny non-zero
  value; ours is +0 by definition).
- ``"mitchell"`` vs xlns's LPVIP (``xlnsconf.lpvip_ufunc.sbdb_ufunc_lpvip``, Arnold PATMOS
  2004): for same signs both are Mitchell's antilog ``((2^F + (z mod 2^F)) >> -(z >> F))``,
  i.e. our ``(2^(F+1) - r) >> (q + 1)``: identical on every z. For opposite signs LPVIP uses
  ``-(mitch(z + 2^F) + dbcor(-z))`` (a piecewise-constant correction), whereas ours applies
  Mitchell's logarithm to ``w = 1 - 2^z`` (docs/lns_fixed.md §2.4): different circuits, so
  only the same-sign additions must agree; the test also records that the subtractions differ.
"""

import numpy as np
import pytest

mf = pytest.importorskip("minifloat")
xl = pytest.importorskip("xlns")
from minifloat.lns import LNSFormat  # noqa: E402

FORMATS = [mf.format("lns8"), LNSFormat(3, 4), LNSFormat(5, 2), mf.format("lns12")]


@pytest.fixture
def xlns_F():
    """Run with xlns's global precision set per test, restoring the default (F = 23)."""
    old_f, old_sbdb = xl.xlnsF, xl.sbdb_ufunc
    yield lambda F: xl.xlnssetF(F)
    xl.xlnssetF(old_f)
    xl.sbdb_ufunc = old_sbdb


def _logs(fmt, codes):
    """(L, sign) of finite non-zero codes."""
    W = fmt.log_bits
    c = codes.astype(np.int64)
    field = c & ((1 << W) - 1)
    return field - ((field >> (W - 1)) << W), (c >> W) & 1


def _finite_codes(fmt):
    """Every finite non-zero code of fmt."""
    lo = -(1 << (fmt.log_bits - 1)) + 1
    Ls = np.arange(lo, fmt.log_max + 1)
    codes = [fmt.code_of(int(L), neg) for neg in ((False, True) if fmt.signed else (False,))
             for L in Ls]
    return np.array(codes, dtype=fmt.dtype)


def _xlnsnp(L, sign):
    x = xl.xlnsnp("")
    x.nd = (2 * L + sign).astype(np.int64)
    return x


def _code_of(fmt, L, sign):
    W = fmt.log_bits
    return ((sign << W) | (L & ((1 << W) - 1))).astype(np.int64)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("op", ["multiply", "divide"])
def test_mul_div_match_xlns_every_pair(fmt, op, xlns_F):
    xlns_F(fmt.frac_bits)
    c = _finite_codes(fmt)
    cb = c if fmt.bits <= 8 else c[::9]  # every code times every 9th (lns12: 1.9M pairs)
    a, b = np.repeat(c, cb.size), np.tile(cb, c.size)
    La, sa = _logs(fmt, a)
    Lb, sb = _logs(fmt, b)
    x = _xlnsnp(La, sa) * _xlnsnp(Lb, sb) if op == "multiply" else \
        _xlnsnp(La, sa) / _xlnsnp(Lb, sb)
    L, s = x.nd >> 1, x.nd & 1
    ours = getattr(mf, op)(mf.from_codes(a, fmt), mf.from_codes(b, fmt)).codes.astype(np.int64)
    inside = (L >= -(1 << (fmt.log_bits - 1)) + 1) & (L <= fmt.log_max)
    assert inside.sum() > a.size // 2
    assert np.array_equal(ours[inside], _code_of(fmt, L[inside], s[inside]))


def _distance_pairs(fmt):
    """For every distance d = 1 .. 2^W - 2 and every sign pair: operands with logs Lbig and
    Lbig - d (Lbig as low as the range allows), in both orders."""
    lo, hi = -(1 << (fmt.log_bits - 1)) + 1, fmt.log_max
    d = np.arange(0, hi - lo + 1)
    big = np.minimum(lo + d + (1 << fmt.frac_bits), hi)
    big = np.maximum(big, lo + d)
    small = big - d
    La, Lb, sa, sb = [], [], [], []
    for s1 in (0, 1):
        for s2 in (0, 1):
            La += [big, small]
            Lb += [small, big]
            sa += [np.full(d.size, s1)] * 2
            sb += [np.full(d.size, s2)] * 2
    return [np.concatenate(v).astype(np.int64) for v in (La, sa, Lb, sb)]


def _compare_add(fmt, algorithm, same_only=False):
    """Our add (lns_add=algorithm, nearest_even) against xlnsnp's add with the active sbdb,
    on every distance z; returns the number of compared and differing additions per sign
    case."""
    La, sa, Lb, sb = _distance_pairs(fmt)
    a, b = _code_of(fmt, La, sa).astype(fmt.dtype), _code_of(fmt, Lb, sb).astype(fmt.dtype)
    ours = mf.add(mf.from_codes(a, fmt), mf.from_codes(b, fmt), lns_add=algorithm).codes
    x = _xlnsnp(La, sa) + _xlnsnp(Lb, sb)
    L, s = x.nd >> 1, x.nd & 1
    same = sa == sb
    keep = ~((~same) & (La == Lb))  # x - x: +0 here, xlns gives log_B(1 - B^-1)
    keep &= (L >= -(1 << (fmt.log_bits - 1)) + 1) & (L <= fmt.log_max)
    want = _code_of(fmt, L, s)
    stats = {}
    for name, mask in (("same", keep & same), ("opposite", keep & ~same)):
        stats[name] = (int(mask.sum()), int((ours.astype(np.int64)[mask] != want[mask]).sum()))
    return stats


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_exact_add_matches_xlns_ideal_every_z(fmt, xlns_F):
    xlns_F(fmt.frac_bits)
    xl.sbdb_ufunc = xl.sbdb_ufunc_ideal
    stats = _compare_add(fmt, "exact")
    for name, (n, bad) in stats.items():
        assert n >= 2 * (1 << fmt.log_bits) - 8 and bad == 0, (name, n, bad)


@pytest.mark.parametrize("fmt", [LNSFormat(3, 4), mf.format("lns12"), mf.format("lns16")],
                         ids=str)
def test_mitchell_add_matches_xlns_lpvip_every_z(fmt, xlns_F):
    lpvip = pytest.importorskip("xlnsconf.lpvip_ufunc")  # needs F >= 4 (its 1 << (F-4))
    xlns_F(fmt.frac_bits)
    xl.sbdb_ufunc = lpvip.sbdb_ufunc_lpvip
    stats = _compare_add(fmt, "mitchell")
    n, bad = stats["same"]
    assert n >= 2 * (1 << fmt.log_bits) - 8 and bad == 0, stats
    assert stats["opposite"][1] > 0  # a different subtraction circuit (module docstring)
