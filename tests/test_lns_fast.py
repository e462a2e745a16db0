"""The fast LNS elementwise paths against the exact oracle (tests/oracle.py and the
independent high-precision Gaussian-log reference of test_lns.py):

- the branch-free kernel of ``lns_arith`` for + - * / (per-call plan, packed Gaussian-log
  table; zero/NaN/Inf operands through the general path), for uint8 and uint16 codes;
- the 64K-entry pair tables (every operand pair's result code, built once by that kernel and
  cached) that deterministic + and - of <= 8-bit formats use from ``_PAIR_TABLE_MIN`` elements;
- stochastic addition: every R of a small N against the oracle's decision on the exact
  value-domain fraction, and the Philox stream (explicit R = seeded R, any thread count).
"""

from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import oracle
import pytest
from test_lns import _finish, _gauss_reference, _mul_div, _pairs

mf = pytest.importorskip("minifloat")
from minifloat.arith import lns as mlns  # noqa: E402
from minifloat.lns import LNSFormat, lns_add_table  # noqa: E402

DET = ("nearest_even", "nearest_away", "nearest_zero", "toward_zero", "toward_positive",
       "toward_negative", "odd")
SMALL = [LNSFormat(3, 2), LNSFormat(2, 3, signed=False), LNSFormat(2, 3, infinities=True)]
SEVEN_BIT = [pytest.param(f, marks=pytest.mark.slow)
             for f in (LNSFormat(3, 4, signed=False), LNSFormat(4, 2))]


@pytest.fixture(params=["kernel", "pair_table"])
def path(request, monkeypatch):
    """Run the test through the kernel, or through the pair tables (<= 8-bit formats)."""
    monkeypatch.setattr(mlns, "_PAIR_TABLE_MIN", 1 << 62 if request.param == "kernel" else 0)
    return request.param


def _mitchell(F, d, same):
    """The documented shift-and-add corrections (docs/lns_fixed.md §2.4), written anew."""
    q, r = d >> F, d % (1 << F)
    a = (1 << (F + 1)) - r
    if same:
        return a >> (q + 1)
    w = (1 << (F + 1 + q)) - a
    e = w.bit_length() - 1
    return ((e - (F + 1 + q)) << F) + (((w - (1 << e)) << F) >> e)


_DECODED = {}


def _decode(fmt, code):
    key = (fmt, code)
    if key not in _DECODED:
        _DECODED[key] = oracle.lns_decode_log(fmt, code)
    return _DECODED[key]


def _add_exact(fmt, ca, cb, subtract, corr):
    """a +/- b before rounding: ("special", kind, neg, L) or ("num", neg, T, above, exact) with
    T the floor of the result's log; corr(d, same) -> (floor, above_half, exact)."""
    ka, na, La = _decode(fmt, ca)
    kb, nb, Lb = _decode(fmt, cb)
    if subtract and kb != "zero":
        nb = not nb
    if "nan" in (ka, kb) or (ka == kb == "inf" and na != nb):
        return ("special", "nan", False, None)
    if "inf" in (ka, kb):
        return ("special", "inf", na if ka == "inf" else nb, None)
    if ka == "zero" and kb == "zero":
        return ("special", "zero", False, None)
    if "zero" in (ka, kb):
        n, L = (nb, Lb) if ka == "zero" else (na, La)
        return ("num", n, L, False, True)
    big_L, big_n = (La, na) if La > Lb or (La == Lb and not na) else (Lb, nb)
    d = abs(La - Lb)
    if na != nb and d == 0:
        return ("special", "zero", False, None)
    t, above, exact = corr(d, na == nb)
    return ("num", big_n, big_L + t, above, exact)


def _round_finish(fmt, pre, rounding, sat="none"):
    if pre[0] == "special":
        return _finish(fmt, pre[1], pre[2], pre[3], rounding, sat)
    _, neg, L, above, exact = pre
    if neg and not fmt.signed:
        return fmt.code_of_zero  # a negative result in an unsigned format is zero
    if not exact:
        nu = Fraction(3, 4) if above else Fraction(1, 4)
        L += int(bool(oracle.rounds_away(nu, 1 if above else -1, L % 2 == 1, neg, rounding)))
    return _finish(fmt, "num", neg, L, rounding, sat)


def _add_want(fmt, ca, cb, subtract, corr, rounding, sat="none"):
    """Oracle code of a +/- b."""
    return _round_finish(fmt, _add_exact(fmt, ca, cb, subtract, corr), rounding, sat)


def _exact_corr(fmt):
    dmax = (1 << fmt.log_bits) - 1
    sb = _gauss_reference(fmt.frac_bits, dmax, True)
    db = _gauss_reference(fmt.frac_bits, dmax, False)
    return lambda d, same: (sb if same else db)[d]


def _check_add(fmt, op, corr, modes, sats=("none",), algorithm="exact"):
    a, b = _pairs(fmt)
    A, B = mf.from_codes(a, fmt), mf.from_codes(b, fmt)
    pre = [_add_exact(fmt, x, y, op == "subtract", corr) for x, y in zip(a.tolist(), b.tolist())]
    for sat in sats:
        for mode in modes:
            want = [_round_finish(fmt, p, mode, sat) for p in pre]
            with mf.lns.lns_add(algorithm):
                got = getattr(mf, op)(A, B, rounding=mode, saturation=sat).codes
            bad = np.nonzero(got.astype(np.int64) != np.array(want))[0]
            assert bad.size == 0, (mode, sat, a[bad[:4]], b[bad[:4]], got[bad[:4]])


@pytest.mark.parametrize("fmt", SMALL + SEVEN_BIT, ids=str)
@pytest.mark.parametrize("op", ["add", "subtract"])
def test_exact_add_all_pairs_every_mode(fmt, op, path):
    sats = ("none", "finite", "propagate") + (("nan",) if fmt.signed else ())
    _check_add(fmt, op, _exact_corr(fmt), DET, ("none",))
    _check_add(fmt, op, _exact_corr(fmt), ("nearest_even", "toward_positive"), sats)


@pytest.mark.parametrize("op", ["add", "subtract"])
def test_exact_add_lns8_modes_not_in_test_lns(op, path):
    fmt = mf.format("lns8")
    _check_add(fmt, op, _exact_corr(fmt), ("nearest_away", "nearest_zero"))


@pytest.mark.parametrize("algorithm", ["table", "mitchell", "user"])
def test_table_algorithms_all_pairs(algorithm, path):
    fmt = LNSFormat(3, 3)
    F, dmax = fmt.frac_bits, (1 << fmt.log_bits) - 1
    exact = _exact_corr(fmt)
    if algorithm == "table":  # round-to-nearest of the exact correction, used as is
        corr = lambda d, same: (exact(d, same)[0] + int(bool(exact(d, same)[1])), False, True)  # noqa: E731
        alg = "table"
    elif algorithm == "mitchell":
        corr = lambda d, same: (_mitchell(F, d, same), False, True)  # noqa: E731
        alg = "mitchell"
    else:  # a short user table: distances past its end use the last entry
        rng = np.random.default_rng(3)
        sb, db = rng.integers(-3, 20, 40), rng.integers(-60, 1, 25)
        corr = lambda d, same: (int((sb if same else db)[min(d, (sb if same else db).size - 1)]),  # noqa: E731
                                False, True)
        alg = lns_add_table(sb, db)
    assert dmax > 40
    for op in ("add", "subtract"):
        _check_add(fmt, op, corr, ("nearest_even", "toward_negative"), ("none", "finite"),
                   algorithm=alg)


@pytest.mark.parametrize("fmt", SMALL + [mf.format("lns8")], ids=str)
@pytest.mark.parametrize("op", ["multiply", "divide"])
def test_mul_div_all_pairs_modes_and_saturations(fmt, op):
    a, b = _pairs(fmt)
    exact = [_mul_div(fmt, x, y, op) for x, y in zip(a.tolist(), b.tolist())]
    if not fmt.signed:  # 0/0 = NaN has no code in an unsigned format (test_nan_without_code)
        keep = np.array([e[0] != "nan" for e in exact])
        a, b, exact = a[keep], b[keep], [e for e, k in zip(exact, keep) if k]
    A, B = mf.from_codes(a, fmt), mf.from_codes(b, fmt)
    sats = ("none", "finite", "propagate") + (("nan",) if fmt.signed else ())
    modes = ("nearest_even", "toward_zero", "toward_positive", "toward_negative")
    combos = [(m, s) for s in sats for m in modes]
    if fmt.bits == 8:
        combos = [("nearest_even", "propagate"), ("toward_positive", "finite"),
                  ("toward_negative", "nan")]
    for mode, sat in combos:
        got = getattr(mf, op)(A, B, rounding=mode, saturation=sat).codes
        want = [_finish(fmt, k, n, L, mode, sat) for k, n, L in exact]
        assert got.astype(np.int64).tolist() == want, (mode, sat)


def _reference_at(F, d, same):
    """(floor, above_half, exact) of 2^F log2(1 +- 2^(-d/2^F)) for one distance d, with
    enough digits that 1 +- 2^(-d/2^F) keeps its 50 leading digits of the correction."""
    prec = 60 + (d >> F) * 31 // 100
    if same and d == 0:
        return (1 << F, False, True)
    if not same and d == 1 << F:
        return (-(1 << F), False, True)
    with localcontext() as ctx:
        ctx.prec = prec
        ln2 = Decimal(2).ln()
        v = (-ln2 * d / (1 << F)).exp()
        s = (1 + v if same else 1 - v).ln() / ln2 * (1 << F)
        t = int(s.to_integral_value(rounding="ROUND_FLOOR"))
        assert abs(s - t - Decimal("0.5")) > Decimal(10) ** -(prec - 15)
        return (t, s - t > Decimal("0.5"), False)


def _sample_pairs(fmt, rng, m):
    """Random code pairs: arbitrary, close logs (small d, cancellation), and specials."""
    a = rng.integers(0, fmt.num_codes, m)
    b = rng.integers(0, fmt.num_codes, m)
    near = slice(0, m // 2)
    b[near] = a[near] + rng.integers(-300, 300, m // 2)
    b[m // 2: m // 2 + 40] = a[m // 2: m // 2 + 40] ^ (1 << fmt.log_bits if fmt.signed else 0)
    b = b % fmt.num_codes
    specials = [fmt.code_of_zero] + ([fmt.code_of_nan] if fmt.signed else [])
    if fmt.has_inf:
        specials.append(fmt.code_of_inf)
    pos = rng.integers(0, m, 60)
    a[pos] = rng.choice(specials, 60)
    b[pos[:20]] = fmt.code_of_zero  # 0 + 0, NaN + 0, ...
    b[rng.integers(0, m, 40)] = rng.choice(specials, 40)
    return a.astype(fmt.dtype), b.astype(fmt.dtype)


@pytest.mark.parametrize("fmt", [mf.format("lns16"), LNSFormat(8, 7, infinities=True),
                                 LNSFormat(6, 9, signed=False), mf.format("lns12")], ids=str)
def test_wide_formats_sampled(fmt, rng):
    a, b = _sample_pairs(fmt, rng, 1500 if fmt.frac_bits < 9 else 600)
    A, B = mf.from_codes(a, fmt), mf.from_codes(b, fmt)
    cache = {}

    def corr(d, same):
        if (d, same) not in cache:
            cache[d, same] = _reference_at(fmt.frac_bits, d, same)
        return cache[d, same]

    for op in ("add", "subtract"):
        pre = [_add_exact(fmt, x, y, op == "subtract", corr)
               for x, y in zip(a.tolist(), b.tolist())]
        for mode in DET:
            got = getattr(mf, op)(A, B, rounding=mode).codes
            want = [_round_finish(fmt, p, mode) for p in pre]
            bad = np.nonzero(got.astype(np.int64) != np.array(want))[0]
            assert bad.size == 0, (op, mode, a[bad[:4]], b[bad[:4]], got[bad[:4]])
    for op in ("multiply", "divide"):
        exact = [_mul_div(fmt, x, y, op) for x, y in zip(a.tolist(), b.tolist())]
        keep = np.array([fmt.signed or e[0] != "nan" for e in exact])  # NaN: no unsigned code
        got = getattr(mf, op)(mf.from_codes(a[keep], fmt), mf.from_codes(b[keep], fmt),
                              rounding="toward_positive").codes
        want = [_finish(fmt, *e, "toward_positive") for e, k in zip(exact, keep) if k]
        assert got.astype(np.int64).tolist() == want, op


def _nu(F, d, same, t):
    """The value-domain fraction (y - 2^(t/2^F)) / (2^((t+1)/2^F) - 2^(t/2^F)) of the sum
    1 +- 2^(-d/2^F) = y (larger operand 1) between its log neighbours, as a Fraction."""
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        v = (-ln2 * d / (1 << F)).exp()
        y = 1 + v if same else 1 - v
        lo, hi = (ln2 * t / (1 << F)).exp(), (ln2 * (t + 1) / (1 << F)).exp()
        nu = (y - lo) / (hi - lo)
    return Fraction(nu)


@pytest.mark.parametrize("fmt", [mf.format("lns8"), mf.format("lns16")], ids=str)
@pytest.mark.parametrize("mode", ["stochastic_a", "stochastic_b", "stochastic_c",
                                  "stochastic_equal"])
def test_stochastic_add_every_R(fmt, mode):
    F, N = fmt.frac_bits, 5
    rng = np.random.default_rng(11)
    a, b = [], []
    cases = []
    for _ in range(12):
        La = int(rng.integers(-40, 40))
        d = int(rng.integers(1, 5 << F))
        same = bool(rng.integers(0, 2))
        t, above, exact = _reference_at(F, d, same)
        if exact:
            continue
        nu = _nu(F, d, same, t)
        if any(abs(nu * (1 << k) - round(nu * (1 << k))) < Fraction(1, 10**30)
               for k in (N, N + 1)):
            continue  # a decision boundary too close for the 64-bit fraction (documented)
        neg = bool(rng.integers(0, 2))
        for R in range(1 << N):
            a.append(fmt.code_of(La, neg))
            b.append(fmt.code_of(La - d, neg if same else not neg))
            cases.append((La + t, nu, neg, R))
    A = mf.from_codes(np.array(a, dtype=fmt.dtype), fmt)
    B = mf.from_codes(np.array(b, dtype=fmt.dtype), fmt)
    R = np.array([c[3] for c in cases], dtype=np.uint32)
    got = mf.add(A, B, rounding=mode, random_bits=N, random=R).codes
    for g, (T, nu, neg, r) in zip(got.tolist(), cases):
        up = oracle.rounds_away(nu, (nu > Fraction(1, 2)) - (nu < Fraction(1, 2)), T % 2 == 1,
                                neg, mode, N, r)
        assert g == oracle.lns_code_of(fmt, neg, T + int(bool(up))), (T, nu, r)


def test_stochastic_stream_seeded_offsets_and_threads(rng):
    fmt = mf.format("lns16")
    a, b = _sample_pairs(fmt, rng, 20000)
    A, B = mf.from_codes(a, fmt), mf.from_codes(b, fmt)
    for offset in (0, 3, 1 << 33):
        seeded = mf.subtract(A, B, rounding="stochastic_a", random_bits=9, seed=77,
                             offset=offset).codes
        R = oracle.random_stream(77, offset, a.size, 9).astype(np.uint32)
        explicit = mf.subtract(A, B, rounding="stochastic_a", random_bits=9, random=R).codes
        assert np.array_equal(seeded, explicit), offset
    big_a, big_b = np.tile(a, 10), np.tile(b, 10)  # above the parallel grain
    A2, B2 = mf.from_codes(big_a, fmt), mf.from_codes(big_b, fmt)
    mf.set_num_threads(1)
    one = mf.add(A2, B2, rounding="stochastic", seed=5).codes
    mf.set_num_threads(2)
    two = mf.add(A2, B2, rounding="stochastic", seed=5).codes
    assert np.array_equal(one, two)
    lo = mf.add(A2, B2, rounding="toward_zero").codes.astype(np.int64)
    hi = mf.add(A2, B2, rounding="toward_positive").codes.astype(np.int64)
    hi2 = mf.add(A2, B2, rounding="toward_negative").codes.astype(np.int64)
    s = one.astype(np.int64)
    assert np.all((s == lo) | (s == hi) | (s == hi2))  # one of the two neighbours


def test_uint8_and_uint16_operands_mixed(path):
    """Operands of different LNS formats with the same frac_bits (uint8 and uint16 codes)."""
    f8, f12 = LNSFormat(4, 3), LNSFormat(8, 3)
    a8 = np.arange(256, dtype=np.uint8)
    b12 = np.arange(0, f12.num_codes, 7, dtype=np.uint16)[:256]
    A, B = mf.from_codes(a8, f8), mf.from_codes(b12, f12)
    corr = _exact_corr(f12)
    for op in ("add", "subtract"):
        got = getattr(mf, op)(A, B, out_format=f12).codes
        want = []
        for x, y in zip(a8.tolist(), b12.tolist()):
            k, n, L = oracle.lns_decode_log(f8, x)
            xc = f12.code_of_zero if k == "zero" else f12.code_of_nan if k == "nan" else \
                f12.code_of(L, n)
            want.append(_add_want(f12, xc, y, op == "subtract", corr, "nearest_even"))
        assert got.astype(np.int64).tolist() == want, op


def test_nan_without_code_raises_and_pair_tables_cached(path):
    fmt = LNSFormat(2, 3, signed=False, infinities=True)
    inf = mf.from_codes(np.full(5000, fmt.code_of_inf, dtype=fmt.dtype), fmt)
    out = mf.from_codes(np.zeros(5000, dtype=fmt.dtype), fmt)
    with pytest.raises(ValueError, match="NaN"):
        mf.subtract(inf, inf, out=out)
    assert not out.codes.any()  # nothing written
    if path == "pair_table":
        mlns._pair_table.cache_clear()
        x = mf.from_codes(np.arange(fmt.num_codes, dtype=fmt.dtype), fmt)
        mf.add(x, x)
        mf.add(x, x)
        assert mlns._pair_table.cache_info().hits >= 1
