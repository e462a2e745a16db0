"""Fixed-point arithmetic and accumulation on MiniArrays against the exact oracle."""

from fractions import Fraction

import numpy as np
import oracle
import pytest

mf = pytest.importorskip("minifloat")
from minifloat.fixed import FixedFormat  # noqa: E402

FORMATS8 = [FixedFormat(3, 4), FixedFormat(4, 4, signed=False), FixedFormat(0, 7)]
MODES = oracle.DETERMINISTIC
OPS = ("add", "subtract", "multiply", "divide")


def all_pairs(f):
    a = np.repeat(np.arange(f.num_codes), f.num_codes).astype(f.dtype)
    b = np.tile(np.arange(f.num_codes), f.num_codes).astype(f.dtype)
    return a, b


@pytest.mark.parametrize("f", FORMATS8, ids=str)
@pytest.mark.parametrize("op", OPS)
def test_all_pairs_every_mode(f, op):
    a, b = all_pairs(f)
    if op == "divide":
        keep = oracle.fixed_ints(f, b) != 0
        a, b = a[keep.astype(bool)], b[keep.astype(bool)]
    A, B = mf.from_codes(a, f), mf.from_codes(b, f)
    num, den = oracle.fixed_exact_ratio(op, f, [(f, a), (f, b)])
    for sat in ("finite", "wrap"):
        for mode in MODES:
            got = getattr(mf, op)(A, B, rounding=mode, saturation=sat).codes
            want = oracle.fixed_round_ratio(f, num, den, mode, sat)
            bad = np.nonzero(got.astype(np.int64) != want)[0]
            assert bad.size == 0, (op, mode, sat, a[bad[:3]], b[bad[:3]], got[bad[:3]],
                                   want[bad[:3]])


def test_mixed_formats_into_wide_result(rng):
    fa, fb, fo = FixedFormat(3, 4), FixedFormat(1, 6), FixedFormat(7, 12)
    a = rng.integers(0, 256, 3000).astype(np.uint8)
    b = rng.integers(0, 256, 3000).astype(np.uint8)
    A, B = mf.from_codes(a, fa), mf.from_codes(b, fb)
    for op in ("add", "subtract", "multiply"):
        num, den = oracle.fixed_exact_ratio(op, fo, [(fa, a), (fb, b)])
        for mode in ("nearest_even", "toward_negative", "odd"):
            got = getattr(mf, op)(A, B, out_format=fo, rounding=mode).codes
            assert got.dtype == np.uint32 or got.dtype == np.uint16
            assert got.astype(np.int64).tolist() == \
                oracle.fixed_round_ratio(fo, num, den, mode).tolist(), (op, mode)


@pytest.mark.parametrize("f", [FixedFormat(15, 16), FixedFormat(0, 31), FixedFormat(-9, 40),
                               FixedFormat(20, 11, signed=False)], ids=str)
def test_wide_formats_sampled(f, rng):
    a = rng.integers(0, f.num_codes, 4000, dtype=np.uint64).astype(f.dtype)
    b = rng.integers(0, f.num_codes, 4000, dtype=np.uint64).astype(f.dtype)
    b[b == 0] = 1
    A, B = mf.from_codes(a, f), mf.from_codes(b, f)
    for op in OPS + ("fma",):
        operands = [(f, a), (f, b)] + ([(f, a[::-1].copy())] if op == "fma" else [])
        num, den = oracle.fixed_exact_ratio(op, f, operands)
        for mode, sat in (("nearest_even", "finite"), ("toward_zero", "wrap"),
                          ("odd", "finite"), ("toward_positive", "wrap")):
            args = [A, B] + ([mf.from_codes(a[::-1].copy(), f)] if op == "fma" else [])
            got = getattr(mf, op)(*args, rounding=mode, saturation=sat).codes
            want = oracle.fixed_round_ratio(f, num, den, mode, sat)
            assert np.array_equal(got.astype(np.int64), want), (op, mode, sat)


@pytest.mark.parametrize("fo", [FixedFormat(3, 4), FixedFormat(2, 9), FixedFormat(0, 31),
                                FixedFormat(5, 2, signed=False)], ids=str)
def test_sqrt_every_code(fo):
    f = FixedFormat(3, 4)
    codes = np.array([c for c in range(256) if oracle.fixed_decode(f, c) >= 0], dtype=np.uint8)
    A = mf.from_codes(codes, f)
    for mode in MODES:
        got = mf.sqrt(A, out_format=fo, rounding=mode).codes
        want = [oracle.fixed_sqrt_code(f, c, fo, mode) for c in codes.tolist()]
        assert got.astype(np.int64).tolist() == want, mode
    with pytest.raises(ValueError, match="NaN"):
        mf.sqrt(mf.asarray([-1.0], f))


def test_stochastic_arith_matches_oracle():
    f = FixedFormat(3, 4)
    a, b = all_pairs(f)
    a, b = a[::7], b[::7]
    N = 5
    R = (np.arange(a.size) * 2654435761 % (1 << N)).astype(np.uint32)
    num, den = oracle.fixed_exact_ratio("multiply", f, [(f, a), (f, b)])
    for mode in ("stochastic_a", "stochastic_b", "stochastic_c"):
        got = mf.multiply(mf.from_codes(a, f), mf.from_codes(b, f), rounding=mode,
                          random_bits=N, random=R).codes
        want = oracle.fixed_round_ratio(f, num, den, mode, "finite", N, R)
        assert np.array_equal(got.astype(np.int64), want), mode


def test_division_by_zero_and_specials():
    f = FixedFormat(3, 4)
    x = mf.asarray([1.0, -2.0], f)
    z = mf.zeros(2, f)
    assert (x / z).tolist() == [f.max, f.min]  # +-Inf saturate
    with pytest.raises(ValueError, match="NaN"):
        z / z
    out = mf.asarray([5.0, 5.0], f)
    with pytest.raises(ValueError):
        mf.divide(z, z, out=out)
    assert out.tolist() == [5.0, 5.0]  # untouched on error
    assert (1 / mf.asarray([4.0, -0.5], f)).tolist() == [0.25, -2.0]


def test_mixing_systems_needs_astype():
    f = FixedFormat(3, 4)
    with pytest.raises(ValueError, match="astype"):
        mf.add(mf.asarray([1.0], f), mf.asarray([1.0], "e4m3"), out_format=f)
    # conversions are single roundings of exact values
    x = mf.asarray([0.3, -7.9], "bf16")
    assert x.astype(f).codes.tolist() == [oracle.fixed_project(f, float(v)) for v in x.tolist()]
    y = mf.asarray([0.3125, -7.9375], f).astype("e4m3")
    assert y.tolist() == [0.3125, -8.0]


def _exact_dot(fa, a, fb, b):
    return sum((oracle.fixed_decode(fa, x) * oracle.fixed_decode(fb, y) for x, y in zip(a, b)),
               Fraction(0))


def test_matmul_exact_accumulator(rng):
    fa, fo = FixedFormat(3, 4), FixedFormat(11, 8)
    A = rng.integers(0, 256, (5, 37)).astype(np.uint8)
    B = rng.integers(0, 256, (37, 4)).astype(np.uint8)
    for mode in ("nearest_even", "toward_zero", "odd"):
        got = mf.matmul(mf.from_codes(A, fa), mf.from_codes(B, fa), accumulator="exact",
                        out_format=fo, rounding=mode).codes
        want = [[oracle.fixed_project(fo, _exact_dot(fa, A[i], fa, B[:, j]), mode)
                 for j in range(4)] for i in range(5)]
        assert got.astype(np.int64).tolist() == want


@pytest.mark.parametrize("order", ["sequential", "pairwise"])
@pytest.mark.parametrize("sat", ["finite", "wrap"])
def test_fixed_accumulator_each_step(rng, order, sat):
    fa, facc = FixedFormat(3, 4), FixedFormat(5, 6)
    K = 23
    A = rng.integers(0, 256, (3, K)).astype(np.uint8)
    B = rng.integers(0, 256, (K, 2)).astype(np.uint8)
    mode = "nearest_even"
    got = mf.matmul(mf.from_codes(A, fa), mf.from_codes(B, fa), accumulator=facc,
                    out_format=facc, order=order, block=4, rounding=mode, saturation=sat).codes

    def add(s, t):
        return oracle.fixed_decode(facc, oracle.fixed_project(facc, s + t, mode, sat))

    want = []
    for i in range(3):
        row = []
        for j in range(2):
            terms = [oracle.fixed_decode(fa, x) * oracle.fixed_decode(fa, y)
                     for x, y in zip(A[i], B[:, j])]
            if order == "sequential":
                s = Fraction(0)
                for t in terms:
                    s = add(s, t)
            else:
                sums = []
                for k0 in range(0, K, 4):
                    s = Fraction(0)
                    for t in terms[k0:k0 + 4]:
                        s = add(s, t)
                    sums.append(s)
                while len(sums) > 1:
                    nxt = [add(sums[q], sums[q + 1]) for q in range(0, len(sums) - 1, 2)]
                    if len(sums) % 2:
                        nxt.append(sums[-1])
                    sums = nxt
                s = sums[0]
            row.append(oracle.fixed_project(facc, s, mode, sat))
        want.append(row)
    assert got.astype(np.int64).tolist() == want


def test_float_accumulators(rng):
    fa = FixedFormat(3, 4)
    A = rng.integers(0, 256, (4, 50)).astype(np.uint8)
    B = rng.integers(0, 256, (50, 3)).astype(np.uint8)
    ma, mb = mf.from_codes(A, fa), mf.from_codes(B, fa)
    va, vb = mf.decode(A, fa), mf.decode(B, fa)
    # float32 / float64: every partial sum here is exact (<= 20 significant bits)
    for acc in ("float32", "float64"):
        got = mf.matmul(ma, mb, accumulator=acc, out_format=FixedFormat(12, 8)).codes
        want = [[oracle.fixed_project(FixedFormat(12, 8), float(va[i] @ vb[:, j]))
                 for j in range(3)] for i in range(4)]
        assert got.astype(np.int64).tolist() == want
    # a bfloat16 accumulator rounds after every step (RNE), checked with the float oracle
    bf = mf.format("bf16")
    got = mf.matmul(ma, mb, accumulator="bf16", out_format="bf16").codes
    want = []
    for i in range(4):
        row = []
        for j in range(3):
            s = Fraction(0)
            for x, y in zip(va[i], vb[:, j]):
                s = oracle.decode(bf, oracle.project(bf, s + Fraction(float(x)) * Fraction(float(y))))
                s = Fraction(0) if isinstance(s, tuple) else s
            row.append(oracle.project(bf, s))
        want.append(row)
    assert got.astype(np.int64).tolist() == want


def test_sum_and_stochastic_contract_reproducible(rng):
    f = FixedFormat(3, 4)
    x = mf.from_codes(rng.integers(0, 256, (6, 40)).astype(np.uint8), f)
    s1 = mf.sum(x, axis=1, accumulator=FixedFormat(7, 4), rounding="stochastic_a",
                random_bits=8, seed=7)
    s2 = mf.sum(x, axis=1, accumulator=FixedFormat(7, 4), rounding="stochastic_a",
                random_bits=8, seed=7)
    assert np.array_equal(s1.codes, s2.codes)
    exact = mf.sum(x, axis=1, accumulator="exact", out_format=FixedFormat(9, 4))
    assert np.all(np.abs(np.asarray(s1, dtype=np.float64) -
                         np.clip(np.asarray(exact, dtype=np.float64), f.min, f.max)) <= 40 / 16)
    with pytest.raises(ValueError, match="float64"):
        mf.matmul(mf.asarray(np.ones((2, 2)), FixedFormat(15, 16)),
                  mf.asarray(np.ones((2, 2)), FixedFormat(15, 16)), accumulator="float64")
