"""The "interp" LNS addition algorithm (docs/lns_fixed.md §2.6): an independent scalar
reference of its integer specification, its declared error bound over every distance d, the
end-to-end addition of every operand pair, properties, parameters and table dumps."""

import math
from decimal import ROUND_FLOOR, Decimal, localcontext
from functools import cache

import numpy as np
import oracle
import pytest

mf = pytest.importorskip("minifloat")
from minifloat.lns import Interp, LNSFormat, interp_bound  # noqa: E402

LNS8 = mf.format("lns8")
LNS12 = mf.format("lns12")
LNS16 = mf.format("lns16")


# ---- an independent reference: the §2.6 specification with Python integers ----
def _ideal(F, d, same, prec=60):
    """2^F log2(1 +- 2^(-d/2^F)) as a Decimal (prec digits)."""
    with localcontext() as ctx:
        ctx.prec = prec
        ln2 = Decimal(2).ln()
        v = (-ln2 * d / (1 << F)).exp()
        return ((1 + v) if same else (1 - v)).ln() / ln2 * (1 << F)


@cache
def _entry(F, G, d, same):
    """round_nearest(2^G f(d)) from 60 digits (never close to a tie at these sizes)."""
    if same and d == 0:
        return 1 << (F + G)
    if not same and d == 1 << F:
        return -(1 << (F + G))
    with localcontext() as ctx:
        ctx.prec = 60
        v = _ideal(F, d, same) * (1 << G) + Decimal("0.5")
        n = int(v.to_integral_value(ROUND_FLOOR))
        assert abs(v - n) > Decimal(10) ** -30 and abs(v - n - 1) > Decimal(10) ** -30
        return n


@cache
def _ref_tables(F, s, G, c, k):
    """Table entries as functions (the spec reads T[j] up to the first zero entry)."""
    def last_index(same, first):
        j = first
        while _entry(F, G, j << s, same) != 0:
            j += 1
        return j
    return last_index(True, 0), last_index(False, (1 << c) >> s)


def _ref_poly(F, s, G, same, x, last):
    """P(T, x) of §2.6 with T[j] = _entry(j 2^s), last = index of the first zero entry."""
    sg = s + G
    j, t = x >> sg, x & ((1 << sg) - 1)
    if j >= last:
        return 0
    t0 = _entry(F, G, j << s, same)
    t1 = _entry(F, G, (j + 1) << s, same)
    return t0 + ((t1 - t0) * t + ((1 << sg) >> 1)) // (1 << sg)


def ref_interp(F, d, same, s, G, c, k):
    """The interp correction (units 2^-F) at distance d, straight from the specification."""
    last_sb, last_db = _ref_tables(F, s, G, c, k)
    if same:
        y = _ref_poly(F, s, G, True, d << G, last_sb)
    elif d == 0:
        return 0
    elif d >= 1 << c:
        y = _ref_poly(F, s, G, False, d << G, last_db)
    else:
        dh, dl = (d >> k) << k, d & ((1 << k) - 1)
        if dh == 0:
            y = _entry(F, G, dl, False)
        elif dl == 0:
            y = _entry(F, G, dh, False)
        else:
            h, lo = _entry(F, G, dh, False), _entry(F, G, dl, False)
            y = h + _ref_poly(F, s, G, True, (dh << G) + h - lo, last_sb)
    return (y + ((1 << G) >> 1)) >> G


def _params(F, it):
    r = it.resolved(F)
    return r.step_bits, r.guard_bits, r.critical_bits, r.cotrans_bits


CASES = [  # (frac_bits, log_bits W, Interp): every LNS format <= 10 bits has W <= 10
    *[(F, 10, Interp()) for F in range(10)],
    (3, 7, Interp(step_bits=0, guard_bits=0)), (3, 7, Interp(step_bits=2, guard_bits=1)),
    (4, 8, Interp(step_bits=3, guard_bits=5, critical_bits=5, cotrans_bits=2)),
    (4, 8, Interp(cotrans_bits=4)), (5, 9, Interp(critical_bits=3, step_bits=1)),
    (5, 11, Interp()), (7, 15, Interp()),
]


@pytest.mark.parametrize("F,W,it", CASES, ids=lambda v: str(v))
def test_corrections_match_reference_and_bound_every_d(F, W, it):
    """Every d of every LNS format with these F (W-bit logs: d <= 2^W - 2; W = 10 covers all
    formats of <= 10 bits; W = 11 and 15 are lns12 and lns16): the vectorised integer
    evaluation equals the scalar reference, and |correction - f(d)| <= interp_bound."""
    dmax = (1 << W) - 1
    sb, db = it.corrections(F, dmax)
    s, G, c, k = _params(F, it)
    for d in range(dmax + 1):
        for same, got in ((True, sb), (False, db)):
            if not same and d == 0:
                continue
            want = ref_interp(F, d, same, s, G, c, k)
            assert int(got[d]) == want, (d, same, int(got[d]), want)
            bound = interp_bound(F, d, same, it)
            # float64 first (error < 1e-9 ulp here); 30 digits when that is not decisive
            u = 2.0 ** (-d / (1 << F))
            approx = abs(want - (1 << F) * math.log1p(u if same else -u) / math.log(2))
            if bound - approx < 1e-6:
                err = abs(Decimal(want) - _ideal(F, d, same, prec=30))
                assert err <= Decimal(bound), (d, same, err)


@pytest.mark.parametrize("F,W", [(3, 7), (5, 11), (7, 15), (12, 14)])
def test_tables_monotone_and_default_bound_below_one_ulp(F, W):
    sb, db = Interp().corrections(F, (1 << W) - 1)
    assert np.all(np.diff(sb) <= 0) and np.all(np.diff(db[1:]) >= 0)
    assert sb[0] == 1 << F and db[1 << F] == -(1 << F)  # 1 + 1 = 2, 1 - 1/2 = 1/2: exact
    assert max(interp_bound(F, d, s) for d in range(1, 1 << W) for s in (True, False)) < 1
    t = Interp().tables(F)
    for tab in (t.sb, t.db):
        assert tab[-1] == 0 and np.all(tab[:-1] != 0) and np.all(np.diff(tab) * np.sign(
            tab[0]) <= 0)


def _pairs(fmt):
    n = fmt.num_codes
    return (np.repeat(np.arange(n), n).astype(fmt.dtype),
            np.tile(np.arange(n), n).astype(fmt.dtype))


def _expected_add(fmt, ca, cb, subtract, corr_sb, corr_db):
    """Oracle code of a + b (or a - b) whose correction comes from the reference tables."""
    W, F, signed, inf, lo, hi = oracle.lns_params(fmt)
    zero, nan = 1 << (W - 1), ((1 << W) | (1 << (W - 1)))
    ka, na, La = oracle.lns_decode_log(fmt, ca)
    kb, nb, Lb = oracle.lns_decode_log(fmt, cb)
    if subtract and kb != "zero":
        nb = not nb
    if "nan" in (ka, kb) or (ka == kb == "inf" and na != nb):
        return nan
    if "inf" in (ka, kb):
        return oracle.lns_code_of(fmt, na if ka == "inf" else nb, hi + 1)
    if ka == "zero" or kb == "zero":
        return zero if ka == kb else (oracle.lns_code_of(fmt, nb, Lb) if ka == "zero" else
                                      oracle.lns_code_of(fmt, na, La))
    big_L, big_n = (La, na) if La > Lb or (La == Lb and not na) else (Lb, nb)
    d = abs(La - Lb)
    if na != nb and d == 0:
        return zero
    L = big_L + (corr_sb if na == nb else corr_db)[d]
    if L > hi:
        return oracle.lns_code_of(fmt, big_n, hi + 1 if inf else hi)  # saturation "none"
    if L < lo:
        return zero
    return oracle.lns_code_of(fmt, big_n, L)


@pytest.mark.parametrize("fmt,it", [
    (LNS8, Interp()), (LNSFormat(3, 4, infinities=True), Interp(step_bits=1, guard_bits=2)),
    pytest.param(LNSFormat(5, 4), Interp(), marks=pytest.mark.slow),
    pytest.param(LNSFormat(4, 5), Interp(guard_bits=0), marks=pytest.mark.slow)], ids=str)
@pytest.mark.parametrize("op", ["add", "subtract"])
def test_interp_add_all_pairs(fmt, it, op):
    """All operand pairs through MiniArray (the C++ table path), against the reference
    corrections: the result is L_larger + correction, then saturation/underflow, under every
    rounding mode (the correction is final)."""
    F = fmt.frac_bits
    s, G, c, k = _params(F, it)
    dmax = (1 << fmt.log_bits) - 1
    corr_sb = [ref_interp(F, d, True, s, G, c, k) for d in range(dmax + 1)]
    corr_db = [ref_interp(F, d, False, s, G, c, k) for d in range(dmax + 1)]
    a, b = _pairs(fmt)
    A, B = mf.from_codes(a, fmt), mf.from_codes(b, fmt)
    want = np.array([_expected_add(fmt, x, y, op == "subtract", corr_sb, corr_db)
                     for x, y in zip(a.tolist(), b.tolist())])
    for algo in ([it, "interp"] if it == Interp() else [it]):
        with mf.lns.lns_add(algo):
            got = getattr(mf, op)(A, B).codes
        bad = np.nonzero(got.astype(np.int64) != want)[0]
        assert bad.size == 0, (a[bad[:4]], b[bad[:4]], got[bad[:4]], want[bad[:4]])
    with mf.lns.lns_add(it):  # the correction is used as is: the same under toward_zero
        fin = getattr(mf, op)(A, B, saturation="finite").codes
        assert np.array_equal(getattr(mf, op)(A, B, rounding="toward_zero",
                                              saturation="finite").codes, fin)


def test_interp_properties_lns16():
    """x - x = +0, x + 0 = x, commutativity and sign symmetry on a sample of lns16 pairs."""
    rng = np.random.default_rng(4)
    fmt = LNS16
    a = rng.integers(0, 1 << 16, 20000).astype(np.uint16)
    b = rng.integers(0, 1 << 16, 20000).astype(np.uint16)
    A, B = mf.from_codes(a, fmt), mf.from_codes(b, fmt)
    finite = np.isfinite(A.values())
    with mf.lns.lns_add("interp"):
        s = (A + B).codes
        assert np.array_equal(s, (B + A).codes)
        assert np.all((A - A).codes[finite] == fmt.code_of_zero)
        assert np.array_equal((A + mf.zeros(A.shape, fmt)).codes[finite], A.codes[finite])
        assert np.array_equal((-(A + B)).codes, ((-A) + (-B)).codes)
        assert np.array_equal((A - B).codes, (A + (-B)).codes)


def test_parameters_tables_and_errors():
    it = Interp()
    assert it.resolved(7) == Interp(step_bits=3, guard_bits=3, critical_bits=7, cotrans_bits=4)
    assert it.describe(3) == "interp(step_bits=1,guard_bits=3,critical_bits=3,cotrans_bits=2)"
    t = it.tables(7)
    assert t.db_first == (1 << 7) >> 3 and t.cotrans_low.size == 16 and t.cotrans_high.size == 8
    assert t.sb[0] == 1 << 10 and t.sb[1] == _entry(7, 3, 8, True)
    assert t.db[0] == -(1 << 10) and t.db[1] == _entry(7, 3, 8 * 17, False)
    assert t.cotrans_low[5] == _entry(7, 3, 5, False)
    assert t.cotrans_high[3] == _entry(7, 3, 48, False)
    for bad, match in ((dict(step_bits=-1), "step_bits"), (dict(guard_bits=17), "guard_bits"),
                       (dict(step_bits=4, critical_bits=3), "step_bits"),
                       (dict(cotrans_bits=5, critical_bits=3), "cotrans_bits")):
        with pytest.raises(ValueError, match=match):
            Interp(**bad)
    with pytest.raises(TypeError):
        Interp(step_bits=1.5)
    with pytest.raises(ValueError, match="step_bits"):  # resolved: critical_bits = F = 2 < 3
        mf.add(mf.asarray([1.0], LNSFormat(4, 2)), mf.asarray([1.0], LNSFormat(4, 2)),
               lns_add=Interp(step_bits=3))
    with pytest.raises(ValueError, match="lns_add"):
        with mf.lns.lns_add("interpolate"):
            pass


def test_vectors_cli_records_parameters(tmp_path):
    """`minifloat vectors --lns-add interp(...)`: the header records every parameter and the
    rows are the reference's additions (subprocess outside the checkout, as test_cli_vectors)."""
    import subprocess
    import sys

    out = tmp_path / "interp.txt"
    p = subprocess.run([sys.executable, "-m", "minifloat", "vectors", "--format", "lns8",
                        "--op", "sub", "--lns-add", "interp(step_bits=0,guard_bits=5)",
                        "--out", str(out)], capture_output=True, text=True, cwd=tmp_path,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    lines = out.read_text().splitlines()
    assert "lns_add=interp(step_bits=0,guard_bits=5,critical_bits=3,cotrans_bits=2)" in lines[3]
    it = Interp(step_bits=0, guard_bits=5)
    s, G, c, k = _params(3, it)
    corr_sb = [ref_interp(3, d, True, s, G, c, k) for d in range(128)]
    corr_db = [ref_interp(3, d, False, s, G, c, k) for d in range(128)]
    rows = [ln.split() for ln in lines if not ln.startswith("#")]
    assert len(rows) == 65536
    for r in rows[::7]:
        a, b, got = int(r[0], 16), int(r[1], 16), int(r[2], 16)
        assert got == _expected_add(LNS8, a, b, True, corr_sb, corr_db), r
    p = subprocess.run([sys.executable, "-m", "minifloat", "vectors", "--format", "lns8",
                        "--op", "add", "--lns-add", "interp(step_bits=9)", "--out",
                        str(tmp_path / "bad.txt")], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert p.returncode == 2 and "step_bits" in p.stderr and not (tmp_path / "bad.txt").exists()
