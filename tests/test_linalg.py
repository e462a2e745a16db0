"""Sums, dot, matmul, tensordot, einsum and conv2d with explicit accumulation
(minifloat/linalg.py docstring, docs/arithmetic.md).

Expected values are hand-computed (adversarial sums) or come from an exact reference:
Fraction products, the accumulator simulated step by step by tests/oracle.py (``accumulate``:
binary32/binary64 round-to-nearest-even after every addition, a format accumulator projected
after every addition, sequential or pairwise order), then oracle.project into the output
format.  Nothing is computed by minifloat.
"""

from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")

E4 = "float8_e4m3fn"
R4 = O.preset(E4)


# ---------------------------------------------------------------------------- reference


def acc_arg(acc):
    """The oracle's accumulator argument for a minifloat accumulator= value."""
    if acc in ("exact", "float32", "float64"):
        return acc
    return O.OFormat.of(mf.format(acc))


def ref_matmul(a, b, fo, accumulator, order="sequential", block=32, rounding="nearest_even",
               saturation="none", R=None, random_bits=None):
    """Expected codes of a @ b for 2-D MiniArrays (exact products, oracle accumulation).

    R: for a stochastic format accumulator, R[o] are the random integers of the steps of output
    element o (C order)."""
    ra, rb, ro = O.OFormat.of(a.format), O.OFormat.of(b.format), O.OFormat.of(mf.format(fo))
    M, K = a.shape
    N = b.shape[1]
    va = [[O.decode(ra, c) for c in row] for row in a.codes.tolist()]
    vb = [[O.decode(rb, c) for c in row] for row in b.codes.tolist()]
    out = np.empty((M, N), dtype=np.int64)
    acc = acc_arg(accumulator)
    for i in range(M):
        for j in range(N):
            terms = [O.exact_mul(va[i][k], vb[k][j]) for k in range(K)]
            Rs = None if R is None else R[i * N + j]
            try:
                s = O.accumulate(terms, acc, order, block, rounding, saturation, Rs,
                                 random_bits)
                out[i, j] = O.project_value(ro, s, rounding, saturation)
            except ValueError:  # a NaN (step or result) in a format without NaN
                out[i, j] = O.NAN_NO_CODE
    return out


def ref_sum_codes(codes, ref, **kw):
    """Oracle sum of a 1-D code sequence (terms are the values themselves)."""
    return ref_sum_values([O.decode(ref, c) for c in codes], ref, **kw)


def ref_sum_values(vals, ref_out, accumulator="float32", order="sequential", block=32,
                   rounding="nearest_even", saturation="none"):
    s = O.accumulate(vals, acc_arg(accumulator), order, block, rounding, saturation)
    return O.project_value(ref_out, s, rounding, saturation)


def finite_codes(ref, rng, shape, positive=False):
    """Random codes of finite values (non-negative ones if positive)."""
    fin = np.array([c for c in range(ref.num_codes)
                    if isinstance(O.decode(ref, c), (Fraction, tuple))
                    and (not positive or not O.value_negative(O.decode(ref, c)))])
    return rng.choice(fin, size=shape).astype(np.uint8 if ref.bits <= 8 else np.uint16)


def moderate_codes(fmt, rng, shape, lo=-6.0, hi=6.0):
    """Codes of random values with exponents in [lo, hi] (no overflow in products)."""
    x = rng.standard_normal(shape) * np.exp2(rng.uniform(lo, hi, shape))
    return mf.asarray(x, fmt).codes


def mini(codes, fmt):
    return mf.from_codes(codes, fmt)


def assert_codes(got, exp, fo, what=""):
    got = np.asarray(got.codes if isinstance(got, mf.MiniArray) else got).astype(np.int64)
    exp = np.asarray(exp, dtype=np.int64)
    assert got.shape == exp.shape, (got.shape, exp.shape)
    ro = O.OFormat.of(mf.format(fo))
    nan = list(O.nan_codes(ro))
    ok = (got == exp) | (np.isin(exp, nan) & np.isin(got, nan))
    if not ok.all():
        idx = np.argwhere(~ok)[:6]
        lines = [f"  {tuple(i)}: expected {O.decode_float(ro, exp[tuple(i)])!r} "
                 f"got {O.decode_float(ro, got[tuple(i)])!r}" for i in idx]
        pytest.fail(f"{what}: {int((~ok).sum())} of {ok.size} differ\n" + "\n".join(lines),
                    pytrace=False)


# ---------------------------------------------------------------------------- adversarial sums


def one_plus_tiny():
    return mf.asarray([1.0] + [2.0 ** -5] * 64, E4)


def test_oracle_accumulate_hand_values():
    """The reference reproduces the hand-computed values used below."""
    vals = [Fraction(1)] + [Fraction(1, 32)] * 64
    assert O.accumulate(vals, R4) == 1
    assert O.accumulate(vals, R4, "pairwise", 8) == Fraction(11, 4)
    assert O.accumulate(vals, R4, "pairwise", 1) == 3
    assert O.accumulate(vals, "exact") == 3
    assert O.accumulate(vals, "float32") == 3
    big = [Fraction(1 << 25), Fraction(1), Fraction(-(1 << 25))]
    assert O.accumulate(big, "float32") == ("zero", 0)
    assert O.accumulate(big, "float64") == 1


def test_one_plus_many_tiny_e4m3():
    """1 followed by 64 copies of 2^-5 (docs/arithmetic.md example)."""
    a = one_plus_tiny()
    # sequential in E4M3: every 1 + 2^-5 rounds back to 1 (spacing 1/8 at 1)
    assert mf.sum(a, accumulator=E4).values().tolist() == 1.0
    assert mf.sum(a, accumulator=E4, order="sequential").values().tolist() == 1.0
    # exact and float32: 1 + 64/32 = 3
    assert mf.sum(a, accumulator="exact").values().tolist() == 3.0
    assert mf.sum(a, accumulator="float32").values().tolist() == 3.0
    assert mf.sum(a, accumulator="float64").values().tolist() == 3.0
    assert a.sum().values().tolist() == 3.0  # default: float32
    assert np.sum(a).values().tolist() == 3.0
    # pairwise, block 8: block sums 1, 0.25 x 7, 2^-5; tree 1.25, .5, .5, .5, 2^-5 ->
    # 1.75, 1, 2^-5 -> 2.75, 2^-5 -> 2.75 + 2^-5 rounds to 2.75 (spacing 1/4 in [2, 4))
    assert mf.sum(a, accumulator=E4, order="pairwise", block=8).values().tolist() == 2.75
    # pairwise, block 1 (a pure tree): (1+2^-5)=1, 31 x 2^-4, 2^-5 -> 1+2^-4 = 1 (tie, even),
    # 15 x 2^-3 -> 1.125, 7 x .25 -> 1.375, 3 x .5 -> 1.875, 1 -> 2.875 (tie 2.75/3: 2.75 is
    # odd) = 3 -> 3 + 2^-5 = 3
    assert mf.sum(a, accumulator=E4, order="pairwise", block=1).values().tolist() == 3.0
    # a large block is sequential
    assert mf.sum(a, accumulator=E4, order="pairwise", block=128).values().tolist() == 1.0
    assert mf.sum(a, accumulator="exact", order="pairwise", block=8).values().tolist() == 3.0
    # upward rounding in the accumulator: 1 + 2^-5 -> 1.125 every step, 1 + 64/8 = 9
    # (then 9 + 2^-5 -> 10 at spacing 1 ... ): hand value from the oracle's definition
    up = mf.sum(a, accumulator=E4, rounding="toward_positive").codes
    assert int(up) == ref_sum_codes(a.codes.tolist(), R4, accumulator=E4,
                                    rounding="toward_positive")


def test_cancellation_big_small_minus_big():
    for fmt in ("bfloat16", "float16"):
        big = 2.0 ** 15 if fmt == "float16" else 2.0 ** 25
        a = mf.asarray([big, 1.0, -big], fmt)
        assert mf.sum(a, accumulator="exact").values().tolist() == 1.0
        assert mf.sum(a, accumulator="float64").values().tolist() == 1.0
        # in the operand format, big + 1 rounds back to big
        assert mf.sum(a, accumulator=fmt).values().tolist() == 0.0
        b = mf.asarray([big, -big, 1.0], fmt)
        assert mf.sum(b, accumulator=fmt).values().tolist() == 1.0
    a = mf.asarray([2.0 ** 25, 1.0, -(2.0 ** 25)], "bfloat16")
    # binary32: 2^25 + 1 needs 26 bits -> ties to even 2^25
    assert mf.sum(a, accumulator="float32").values().tolist() == 0.0
    assert mf.sum(a, accumulator="float32", order="pairwise", block=1).values().tolist() == 0.0
    assert mf.sum(a, accumulator="float32", order="pairwise", block=2).values().tolist() == 0.0
    e = mf.asarray([256.0, 1.0, -256.0], E4)
    assert mf.sum(e, accumulator=E4).values().tolist() == 0.0
    assert mf.sum(e, accumulator="exact").values().tolist() == 1.0
    assert mf.sum(e, accumulator="float32").values().tolist() == 1.0
    # dot product form of the same cancellation
    x = mf.asarray([2.0 ** 12, 1.0, -(2.0 ** 12)], "bfloat16")
    y = mf.asarray([2.0 ** 13, 1.0, 2.0 ** 13], "bfloat16")
    assert mf.dot(x, y, accumulator="float32").values().tolist() == 0.0
    assert mf.dot(x, y, accumulator="exact").values().tolist() == 1.0


def test_float64_accumulator_rounding_visible_in_bfloat16():
    """2^100 + 2^-100 is not a float64 number: binary64 loses the small term."""
    a = mf.asarray([2.0 ** 100, 2.0 ** -100, -(2.0 ** 100)], "bfloat16")
    assert mf.sum(a, accumulator="float64").values().tolist() == 0.0
    assert mf.sum(a, accumulator="float32").values().tolist() == 0.0
    assert mf.sum(a, accumulator="exact").values().tolist() == 2.0 ** -100
    assert mf.sum(a, accumulator="bfloat16", rounding="toward_positive").values().tolist() \
        == 2.0 ** 93  # 2^100 + tiny rounds up to 2^100 + 2^93, minus 2^100
    x = mf.asarray([2.0 ** 60, 2.0 ** -60, -(2.0 ** 60)], "bfloat16")
    y = mf.asarray([2.0 ** 40, 2.0 ** -40, 2.0 ** 40], "bfloat16")
    assert mf.dot(x, y, accumulator="float64").values().tolist() == 0.0
    assert mf.dot(x, y, accumulator="exact").values().tolist() == 2.0 ** -100


def test_float32_accumulator_rounding_visible_in_bfloat16():
    """2^24 followed by 3*2^16 ones: binary32 loses every 1 sequentially (2^24 + 1 is a tie,
    even 2^24); exact: 2^24 + 1.5*2^17 ties in bfloat16 to the even 2^24 + 2^18; pairwise
    (block 32): only the 31 ones of the first block are lost, 2^24 + 196578 rounds to
    2^24 + 2^17 in bfloat16."""
    n = 3 * 2 ** 16
    a = mf.asarray(np.concatenate([[2.0 ** 24], np.ones(n)]), "bfloat16")
    assert mf.sum(a, accumulator="float32").values().tolist() == 2.0 ** 24
    assert mf.sum(a).values().tolist() == 2.0 ** 24
    assert mf.sum(a, accumulator="exact").values().tolist() == 2.0 ** 24 + 2.0 ** 18
    assert mf.sum(a, accumulator="float64").values().tolist() == 2.0 ** 24 + 2.0 ** 18
    assert mf.sum(a, accumulator="float32", order="pairwise", block=32).values().tolist() \
        == 2.0 ** 24 + 2.0 ** 17
    # cross-check with NumPy binary32 arithmetic (sequential cumsum)
    assert np.cumsum(np.asarray(a, dtype=np.float32), dtype=np.float32)[-1] == 2.0 ** 24
    # as a dot product with ones
    ones = mf.asarray(np.ones(n + 1), "bfloat16")
    assert mf.dot(a, ones).values().tolist() == 2.0 ** 24
    assert mf.dot(a, ones, accumulator="exact").values().tolist() == 2.0 ** 24 + 2.0 ** 18


def test_sum_specials_and_final_projection():
    e5 = "float8_e5m2"
    assert np.isnan(mf.sum(mf.asarray([np.inf, -np.inf, 1.0], e5)).values())
    assert mf.sum(mf.asarray([np.inf, 1.0], e5)).values().tolist() == np.inf
    assert np.isnan(mf.sum(mf.asarray([np.nan, 1.0], e5), accumulator="exact").values())
    big = mf.asarray([448.0, 448.0], E4)
    assert np.isnan(mf.sum(big).values())  # 896 overflows E4M3: NaN (no Inf)
    assert mf.sum(big, saturation="finite").values().tolist() == 448.0
    assert mf.sum(big, accumulator="exact", saturation="finite").values().tolist() == 448.0
    # output format separate from the operands'
    assert mf.sum(big, out_format="bfloat16").values().tolist() == 896.0
    # the final projection uses the call's rounding: 1 + 2^-3 + 2^-4 = 1.1875 -> E4M3
    t = mf.asarray([1.0, 0.125, 0.0625], E4)
    assert mf.sum(t).values().tolist() == 1.25
    assert mf.sum(t, rounding="toward_zero").values().tolist() == 1.125
    # empty sums are +0
    z = mf.sum(mf.zeros((0,), E4))
    assert z.values().tolist() == 0.0 and not np.signbit(z.values())
    # -0 + -0 accumulated from +0 is +0 (round to nearest), -0 under toward_negative
    nz = mf.asarray([-0.0, -0.0], E4)
    for acc in ("exact", "float32", E4):
        assert not np.signbit(mf.sum(nz, accumulator=acc).values()), acc
    # toward_negative: exact and E4M3 accumulators give -0 (+0 + -0 = -0); binary32 adds
    # round to nearest, so its +0 is projected as +0
    for acc in ("exact", "float32", E4):
        got = mf.sum(nz, accumulator=acc, rounding="toward_negative")
        assert int(got.codes) == ref_sum_codes([0x80, 0x80], R4, accumulator=acc,
                                               rounding="toward_negative"), acc
    assert np.signbit(mf.sum(nz, accumulator="exact", rounding="toward_negative").values())


def test_sum_overflow_in_format_without_inf_or_nan():
    f4 = "float4_e2m1fn"
    a = mf.asarray([6.0, 6.0], f4)
    assert mf.sum(a).values().tolist() == 6.0  # 12 -> max (no Inf, no NaN)
    assert mf.sum(a, accumulator=f4).values().tolist() == 6.0


def test_mean():
    a = mf.asarray([1.0, 2.0, 2.0], E4)  # sum 5, 5/3 = 1.666.. -> 1.625 (spacing 1/8)
    assert mf.mean(a).values().tolist() == 1.625
    assert a.mean().values().tolist() == 1.625
    assert np.mean(a).values().tolist() == 1.625
    assert mf.mean(a, rounding="toward_positive").values().tolist() == 1.75
    b = mf.asarray([[1.0, 3.0], [4.0, 6.0]], E4)
    assert mf.mean(b, axis=0).values().tolist() == [2.5, 4.5]
    assert mf.mean(b, axis=1).values().tolist() == [2.0, 5.0]


# ---------------------------------------------------------------------------- axes


def test_sum_axes_and_keepdims(rng):
    codes = moderate_codes("bfloat16", rng, (3, 4, 5))
    a = mini(codes, "bfloat16")
    rb = O.preset("bfloat16")
    vals = np.vectorize(lambda c: O.decode(rb, c), otypes=[object])(codes)
    for acc in ("exact", "float32", "bfloat16"):
        for axis in (0, 1, 2, -1):
            got = mf.sum(a, axis=axis, accumulator=acc)
            v = np.moveaxis(vals, axis, -1)
            exp = np.array([ref_sum_values(list(row), rb, acc) for row in
                            v.reshape(-1, v.shape[-1])]).reshape(v.shape[:-1])
            assert_codes(got, exp, "bfloat16", f"axis {axis} {acc}")
            kd = a.sum(axis=axis, keepdims=True, accumulator=acc)
            assert kd.shape == tuple(1 if d == axis % 3 else s for d, s in enumerate(a.shape))
            assert np.array_equal(kd.codes.reshape(exp.shape), exp)
    for acc in ("exact", "float32"):
        for axis in ((0, 2), (1, 2), None):
            got = mf.sum(a, axis=axis, accumulator=acc, keepdims=True)
            axes = (0, 1, 2) if axis is None else axis
            keep = [d for d in range(3) if d not in axes]
            v = np.transpose(vals, keep + list(axes)).reshape(
                int(np.prod([a.shape[d] for d in keep])), -1)
            exp = np.array([ref_sum_values(list(row), rb, acc) for row in v])
            assert got.shape == tuple(1 if d in axes else a.shape[d] for d in range(3))
            assert np.array_equal(got.codes.ravel(), exp)
    assert np.array_equal(np.sum(a, axis=1).codes, mf.sum(a, axis=1).codes)
    assert np.array_equal(np.add.reduce(a, axis=2).codes, mf.sum(a, axis=2).codes)


def test_config_sets_accumulation_and_is_restored():
    a = one_plus_tiny()
    with mf.config(accumulator=E4):
        assert a.sum().values().tolist() == 1.0
        with mf.config(order="pairwise", block=8):
            assert a.sum().values().tolist() == 2.75
        assert a.sum(accumulator="exact").values().tolist() == 3.0
    assert a.sum().values().tolist() == 3.0
    x = mf.asarray([[1.0] + [2.0 ** -5] * 64], E4)
    y = mf.asarray(np.ones((65, 1)), E4)
    with mf.config(accumulator=E4):
        assert (x @ y).values().tolist() == [[1.0]]
    assert (x @ y).values().tolist() == [[3.0]]


def test_bad_accumulation_arguments():
    a = one_plus_tiny()
    with pytest.raises(ValueError, match="accumulator"):
        mf.sum(a, accumulator="float128")
    with pytest.raises(ValueError, match="order"):
        mf.sum(a, order="random")
    for block in (0, -1, 2.5):
        with pytest.raises(ValueError, match="block"):
            mf.sum(a, order="pairwise", block=block)
    with pytest.raises(ValueError):
        mf.matmul(mf.zeros((2, 3), E4), mf.zeros((4, 2), E4))
    with pytest.raises(ValueError) as e:
        mf.matmul(mf.zeros((2, 3), E4), mf.zeros((3, 2), "float8_e5m2"))
    assert E4 in str(e.value) and "float8_e5m2" in str(e.value)


# ---------------------------------------------------------------------------- matmul


SHAPES = [(3, 5, 4), (1, 1, 1), (4, 1, 3), (2, 7, 5), (6, 3, 2), (2, 17, 3)]
CASES = [  # (operand format, out_format or None, accumulator, order, block)
    (E4, None, "exact", "sequential", 32),
    (E4, None, "float32", "sequential", 32),
    (E4, None, "float64", "sequential", 32),
    (E4, None, E4, "sequential", 32),
    (E4, "bfloat16", "bfloat16", "sequential", 32),
    (E4, None, E4, "pairwise", 2),
    (E4, None, "float32", "pairwise", 3),
    ("bfloat16", None, "float32", "sequential", 32),
    ("bfloat16", None, "float32", "pairwise", 4),
    ("bfloat16", None, "bfloat16", "sequential", 32),
    ("bfloat16", None, "bfloat16", "pairwise", 3),
    ("bfloat16", None, "exact", "sequential", 32),
    ("bfloat16", "float16", "float64", "pairwise", 2),
    ("float16", None, "float32", "sequential", 32),
    ("float16", None, "float16", "pairwise", 1),
    ("float8_e5m2", E4, "float8_e5m2", "sequential", 32),
]


@pytest.mark.parametrize("fmt, fo, acc, order, block", CASES)
def test_matmul_against_exact_reference(fmt, fo, acc, order, block, rng):
    fo_ = fo or fmt
    for M, K, N in SHAPES:
        a = mini(moderate_codes(fmt, rng, (M, K)), fmt)
        b = mini(moderate_codes(fmt, rng, (K, N)), fmt)
        kw = dict(accumulator=acc, order=order, block=block)
        if fo:
            kw["out_format"] = fo
        exp = ref_matmul(a, b, fo_, acc, order, block)
        got = mf.matmul(a, b, **kw)
        assert got.format == mf.format(fo_)
        assert_codes(got, exp, fo_, f"{fmt} {acc} {order}/{block} {(M, K, N)}")


@pytest.mark.parametrize("rounding, saturation", [("toward_zero", "none"),
                                                  ("toward_positive", "finite"),
                                                  ("odd", "none")])
@pytest.mark.parametrize("acc", ["float32", "exact", "bfloat16", E4])
def test_matmul_rounding_modes(acc, rounding, saturation, rng):
    """The call's rounding applies to every step of a format accumulator and to the final
    projection (binary32/exact accumulators round to nearest / not at all)."""
    a = mini(moderate_codes(E4, rng, (4, 9), -3, 3), E4)
    b = mini(moderate_codes(E4, rng, (9, 3), -3, 3), E4)
    for order, block in (("sequential", 32), ("pairwise", 2)):
        exp = ref_matmul(a, b, E4, acc, order, block, rounding, saturation)
        got = mf.matmul(a, b, accumulator=acc, order=order, block=block, rounding=rounding,
                        saturation=saturation)
        assert_codes(got, exp, E4, f"{acc} {rounding} {order}")


def test_matmul_overflow_specials_and_all_codes(rng):
    """Operands over every code of E5M2 (Inf, NaN, zeros, subnormals)."""
    fmt = "float8_e5m2"
    a = mini(rng.integers(0, 256, (5, 6)).astype(np.uint8), fmt)
    b = mini(rng.integers(0, 256, (6, 4)).astype(np.uint8), fmt)
    for acc in ("float32", "exact", fmt):
        with np.errstate(all="ignore"):
            got = mf.matmul(a, b, accumulator=acc)
        assert_codes(got, ref_matmul(a, b, fmt, acc), fmt, acc)


def test_matmul_k_zero_gives_zeros():
    """NumPy shape rules: an empty contraction is a sum of no terms, +0 (like mf.sum)."""
    for acc in ("float32", "exact", E4):
        r = mf.matmul(mf.zeros((3, 0), E4), mf.zeros((0, 2), E4), accumulator=acc)
        assert r.shape == (3, 2) and (r.codes == 0).all()
    assert mf.dot(mf.zeros((0,), E4), mf.zeros((0,), E4)).values().tolist() == 0.0


def test_matmul_one_d_operands(rng):
    K = 6
    a = mini(moderate_codes(E4, rng, (4, K)), E4)
    b = mini(moderate_codes(E4, rng, (K, 3)), E4)
    v = mini(moderate_codes(E4, rng, (K,)), E4)
    w = mini(moderate_codes(E4, rng, (K,)), E4)
    for acc in ("float32", E4, "exact"):
        got = mf.matmul(v, b, accumulator=acc)
        assert got.shape == (3,)
        assert_codes(got, ref_matmul(v.reshape(1, K), b, E4, acc)[0], E4, "1-D @ 2-D")
        got = mf.matmul(a, w, accumulator=acc)
        assert got.shape == (4,)
        assert_codes(got, ref_matmul(a, w.reshape(K, 1), E4, acc)[:, 0], E4, "2-D @ 1-D")
        got = mf.matmul(v, w, accumulator=acc)
        assert got.shape == ()
        assert int(got.codes) == ref_matmul(v.reshape(1, K), w.reshape(K, 1), E4, acc)[0, 0]
        assert np.array_equal(mf.dot(v, w, accumulator=acc).codes, got.codes)
    assert np.array_equal((v @ b).codes, mf.matmul(v, b).codes)
    assert np.array_equal(np.matmul(a, b).codes, mf.matmul(a, b).codes)
    assert np.array_equal(np.dot(a, b).codes, mf.matmul(a, b).codes)
    assert np.array_equal(a.dot(b).codes, mf.matmul(a, b).codes)


def test_matmul_batched(rng):
    fmt = "bfloat16"
    a = mini(moderate_codes(fmt, rng, (2, 3, 4)), fmt)
    b = mini(moderate_codes(fmt, rng, (2, 4, 5)), fmt)
    b2 = mini(moderate_codes(fmt, rng, (4, 5)), fmt)
    a3 = mini(moderate_codes(fmt, rng, (3, 4)), fmt)
    for acc in ("float32", fmt):
        got = mf.matmul(a, b, accumulator=acc)
        assert got.shape == (2, 3, 5)
        for i in range(2):
            assert_codes(got[i], ref_matmul(a[i], b[i], fmt, acc), fmt, f"batch {i}")
        got = mf.matmul(a, b2, accumulator=acc)
        assert got.shape == (2, 3, 5)
        for i in range(2):
            assert_codes(got[i], ref_matmul(a[i], b2, fmt, acc), fmt, f"batch/2-D {i}")
        got = mf.matmul(a3, b, accumulator=acc)  # broadcast the left operand
        assert got.shape == (2, 3, 5)
        for i in range(2):
            assert_codes(got[i], ref_matmul(a3, b[i], fmt, acc), fmt, f"2-D/batch {i}")
    assert np.array_equal((a @ b).codes, mf.matmul(a, b).codes)


def test_float32_accumulator_with_products_not_float32_exact(rng):
    """bfloat16 products near 2^-148 lie in binary32's subnormal range and are not float32
    numbers; the default accumulator still adds the exact product and rounds the sum to
    binary32 (the oracle's round_binary32 after every addition)."""
    fmt = "bfloat16"
    wide_out = mf.FloatFormat(9, 6)  # 7 significant bits down to 2^-260: shows binary32 loss
    x = rng.uniform(1, 2, (4, 8)) * np.exp2(rng.integers(-76, -72, (4, 8)))
    y = rng.uniform(1, 2, (8, 3)) * np.exp2(rng.integers(-76, -72, (8, 3)))
    x *= rng.choice([-1, 1], x.shape)
    a, b = mf.asarray(x, fmt), mf.asarray(y, fmt)
    got = mf.matmul(a, b, out_format=wide_out)
    exp = ref_matmul(a, b, wide_out, "float32")
    assert_codes(got, exp, wide_out, "float32 acc, tiny bfloat16")
    exact = ref_matmul(a, b, wide_out, "exact")
    assert (exp != exact).any(), "test data should make binary32 rounding visible"
    assert_codes(mf.matmul(a, b, out_format=wide_out, accumulator="exact"), exact, wide_out)
    # tiny times moderate: 2^-130 scale values
    t = mf.asarray(rng.uniform(1, 2, (3, 6)) * 2.0 ** -130, fmt)
    u = mf.asarray(rng.uniform(1, 2, (6, 2)) * 2.0 ** -12, fmt)
    assert_codes(mf.matmul(t, u, out_format=wide_out), ref_matmul(t, u, wide_out, "float32"),
                 wide_out, "2^-130 x 2^-12")
    assert_codes(mf.matmul(t, u), ref_matmul(t, u, fmt, "float32"), fmt, "-> bfloat16")
    # the same as a sum: values are exact binary32 inputs only down to 2^-149
    s = mf.asarray([2.0 ** -140 * 1.5, 2.0 ** -149, 2.0 ** -150 * 3], fmt)
    exp_s = O.project_value(O.OFormat.of(wide_out), O.accumulate(
        [O.decode(O.preset(fmt), c) for c in s.codes.tolist()], "float32"))
    assert int(mf.sum(s, out_format=wide_out).codes) == exp_s


@pytest.mark.parametrize("order", ["sequential", "pairwise"])
def test_float32_accumulator_overflows_on_huge_products(order):
    """A product beyond binary32's range (2^65 * 2^65 = 2^130) makes the binary32 sum +Inf
    (0 + 2^130 rounds to Inf), projected into bfloat16 as +Inf; an exact accumulator keeps
    2^130 + 1 -> 2^130."""
    a = mf.asarray([2.0 ** 65, 1.0], "bfloat16")
    for k in (1, 2):
        got = mf.dot(a[:k], a[:k], accumulator="float32", order=order, block=1)
        assert got.values().tolist() == np.inf, (k, got)
    # 2^130 is beyond bfloat16 too, so the exact sums go to an output format whose range
    # reaches it (bias 100: max about 2^155).
    wide = mf.FloatFormat(8, 7, bias=100)
    assert mf.dot(a, a, accumulator="exact", order=order).values().tolist() == np.inf
    for acc in ("exact", "float64"):
        got = mf.dot(a, a, accumulator=acc, order=order, out_format=wide)
        assert got.values().tolist() == 2.0 ** 130, acc
    neg = mf.asarray([-(2.0 ** 65), 2.0 ** 65], "bfloat16")
    assert mf.dot(neg[:1], neg[1:], accumulator="float32", order=order).values().tolist() \
        == -np.inf


def test_stochastic_format_accumulator_uses_documented_positions():
    """Step t of output element o uses Philox position offset + o*K + t (sequential)."""
    fmt = E4
    rng = np.random.default_rng(31)
    M, K, N = 2, 7, 3
    a = mini(moderate_codes(fmt, rng, (M, K), -2, 2), fmt)
    b = mini(moderate_codes(fmt, rng, (K, N), -2, 2), fmt)
    seed, offset, nb = 4242, 10, 4
    R = [O.random_stream(seed, offset + o * K, K, nb) for o in range(M * N)]
    exp = ref_matmul(a, b, fmt, fmt, "sequential", 32, "stochastic_c", "none", R, nb)
    got = mf.matmul(a, b, accumulator=fmt, rounding="stochastic_c", random_bits=nb, seed=seed,
                    offset=offset)
    assert_codes(got, exp, fmt, "stochastic accumulator")
    again = mf.matmul(a, b, accumulator=fmt, rounding="stochastic_c", random_bits=nb,
                      seed=seed, offset=offset)
    assert np.array_equal(again.codes, got.codes)


# ---------------------------------------------------------------------------- tensordot, einsum


def test_tensordot_and_einsum_equal_matmul(rng):
    fmt = "bfloat16"
    a = mini(moderate_codes(fmt, rng, (2, 3, 4)), fmt)
    b = mini(moderate_codes(fmt, rng, (3, 4, 5)), fmt)
    for acc in ("float32", fmt, "exact"):
        kw = dict(accumulator=acc)
        ref = mf.matmul(a.reshape(2, 12), b.reshape(12, 5), **kw)
        assert_codes(ref, ref_matmul(a.reshape(2, 12), b.reshape(12, 5), fmt, acc), fmt)
        assert np.array_equal(mf.tensordot(a, b, axes=2, **kw).codes, ref.codes)
        assert np.array_equal(mf.tensordot(a, b, axes=([1, 2], [0, 1]), **kw).codes, ref.codes)
        assert np.array_equal(mf.einsum("ijk,jkl->il", a, b, **kw).codes, ref.codes)
        x = mini(moderate_codes(fmt, rng, (4, 6)), fmt)
        y = mini(moderate_codes(fmt, rng, (6, 3)), fmt)
        xy = mf.matmul(x, y, **kw)
        assert np.array_equal(mf.einsum("ij,jk->ik", x, y, **kw).codes, xy.codes)
        assert np.array_equal(mf.einsum("ij,kj->ik", x, y.T, **kw).codes, xy.codes)
        assert np.array_equal(mf.einsum("ij,jk->ki", x, y, **kw).codes, xy.codes.T)
        assert np.array_equal(mf.tensordot(x, y, axes=1, **kw).codes, xy.codes)
        p = mini(moderate_codes(fmt, rng, (2, 4, 6)), fmt)
        q = mini(moderate_codes(fmt, rng, (2, 6, 3)), fmt)
        pq = mf.matmul(p, q, **kw)
        assert np.array_equal(mf.einsum("bij,bjk->bik", p, q, **kw).codes, pq.codes)
    assert np.array_equal(np.tensordot(a, b).codes, mf.tensordot(a, b).codes)
    assert np.array_equal(np.einsum("ij,jk->ik", x, y).codes, mf.matmul(x, y).codes)


def test_einsum_to_scalar_equals_dot(rng):
    """'i,i->' (documented in docs/arithmetic.md) gives the 0-d dot product."""
    fmt = "bfloat16"
    v = mini(moderate_codes(fmt, rng, (7,)), fmt)
    w = mini(moderate_codes(fmt, rng, (7,)), fmt)
    for acc in ("float32", fmt, "exact"):
        d = mf.dot(v, w, accumulator=acc)
        assert d.shape == ()
        assert int(d.codes) == ref_matmul(v.reshape(1, 7), w.reshape(7, 1), fmt, acc)[0, 0]
        e = mf.einsum("i,i->", v, w, accumulator=acc)
        assert e.shape == () and int(e.codes) == int(d.codes)


# ---------------------------------------------------------------------------- conv2d


def ref_conv2d(x, w, stride, padding, fo, acc, rounding="nearest_even"):
    """Direct loop: out[n,o,y,x] = sum over (c, i, j) in C order of x_pad[n,c,sy+i,sx+j] w[o,c,i,j]."""
    rx, rw = O.OFormat.of(x.format), O.OFormat.of(w.format)
    ro = O.OFormat.of(mf.format(fo))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ph = pw = padding
    xv = np.empty((n, c, h + 2 * ph, wd + 2 * pw), dtype=object)
    xv.fill(("zero", 0))
    for idx in np.ndindex(x.shape):
        xv[idx[0], idx[1], idx[2] + ph, idx[3] + pw] = O.decode(rx, int(x.codes[idx]))
    wv = np.vectorize(lambda cc: O.decode(rw, cc), otypes=[object])(w.codes)
    oh = (h + 2 * ph - kh) // stride + 1
    ow = (wd + 2 * pw - kw) // stride + 1
    out = np.empty((n, o, oh, ow), dtype=np.int64)
    for b in range(n):
        for oc in range(o):
            for yy in range(oh):
                for xx in range(ow):
                    terms = [O.exact_mul(xv[b, ci, yy * stride + i, xx * stride + j],
                                         wv[oc, ci, i, j])
                             for ci in range(c) for i in range(kh) for j in range(kw)]
                    s = O.accumulate(terms, acc_arg(acc), "sequential", 32, rounding)
                    out[b, oc, yy, xx] = O.project_value(ro, s, rounding)
    return out


def test_conv2d_stride2_padding1(rng):
    fmt = "bfloat16"
    x = mini(moderate_codes(fmt, rng, (2, 3, 5, 6)), fmt)
    w = mini(moderate_codes(fmt, rng, (4, 3, 3, 3)), fmt)
    for acc in ("exact", "float32", fmt):
        got = mf.conv2d(x, w, stride=2, padding=1, accumulator=acc)
        exp = ref_conv2d(x, w, 2, 1, fmt, acc)
        assert got.shape == exp.shape == (2, 4, 3, 3)
        assert_codes(got, exp, fmt, f"conv2d {acc}")
    xe = mini(moderate_codes(E4, rng, (1, 2, 4, 4)), E4)
    we = mini(moderate_codes(E4, rng, (3, 2, 2, 2)), E4)
    got = mf.conv2d(xe, we, stride=1, padding=0, accumulator=E4)
    assert_codes(got, ref_conv2d(xe, we, 1, 0, E4, E4), E4, "conv2d e4m3")


# ---------------------------------------------------------------------------- float32_blas


def test_float32_blas_on_exact_sums(rng):
    """With small integers every order gives the exact sum."""
    a = mf.asarray(rng.integers(-4, 5, (5, 6)).astype(float), E4)
    b = mf.asarray(rng.integers(-4, 5, (6, 3)).astype(float), E4)
    got = mf.matmul(a, b, accumulator="float32_blas", out_format="bfloat16")
    assert_codes(got, ref_matmul(a, b, "bfloat16", "exact"), "bfloat16")


# ---------------------------------------------------------------------------- random sweep


SWEEP_FORMATS = {
    "float8_e4m3fn": E4,
    "float8_e5m2": "float8_e5m2",
    "float8_e4m3fnuz": "float8_e4m3fnuz",
    "float6_e3m2fn": "float6_e3m2fn",
    "e4m4_unsigned": mf.FloatFormat(4, 4, signed=False, nan="max"),
    "e4m3_bias12": mf.FloatFormat(4, 3, bias=12),
    "e5m2_bias10": mf.FloatFormat(5, 2, bias=10),
    "bfloat16": "bfloat16",
    "float16": "float16",
}
ACCS = ["exact", "float32", "float64", "bfloat16", "float16", E4, "float8_e5m2", "same"]
MODES = ["nearest_even", "nearest_away", "toward_zero", "toward_positive", "toward_negative",
         "odd"]


def sweep_case(seed):
    rng = np.random.default_rng(seed)
    names = list(SWEEP_FORMATS)
    fa = SWEEP_FORMATS[names[rng.integers(len(names))]]
    fo = SWEEP_FORMATS[names[rng.integers(len(names))]] if rng.random() < 0.4 else fa
    acc = ACCS[rng.integers(len(ACCS))]
    acc = fa if acc == "same" else acc
    order = "pairwise" if rng.random() < 0.5 else "sequential"
    block = int(rng.integers(1, 6))
    rounding = MODES[rng.integers(len(MODES))]
    saturation = "finite" if rng.random() < 0.5 else "none"
    M, K, N = (int(v) for v in rng.integers(1, 9, 3))
    ref = O.OFormat.of(mf.format(fa))
    a = mini(finite_codes(ref, rng, (M, K), positive=not ref.signed), fa)
    b = mini(finite_codes(ref, rng, (K, N), positive=not ref.signed), fa)
    return a, b, fo, acc, order, block, rounding, saturation


@pytest.mark.parametrize("seed", range(60))
def test_matmul_random_sweep(seed):
    """Random formats (including unsigned, FNUZ, shifted bias, no Inf/NaN), accumulators,
    orders, block sizes, rounding and saturation modes, shapes; every finite code."""
    a, b, fo, acc, order, block, rounding, saturation = sweep_case(seed)
    exp = ref_matmul(a, b, fo, acc, order, block, rounding, saturation)
    if (exp == O.NAN_NO_CODE).any():
        with pytest.raises(ValueError):
            mf.matmul(a, b, out_format=fo, accumulator=acc, order=order, block=block,
                      rounding=rounding, saturation=saturation)
        return
    with np.errstate(all="ignore"):
        got = mf.matmul(a, b, out_format=fo, accumulator=acc, order=order, block=block,
                        rounding=rounding, saturation=saturation)
    assert_codes(got, exp, fo, f"{a.format} acc={acc} {order}/{block} {rounding}/{saturation} "
                               f"-> {mf.format(fo)} {a.shape}@{b.shape}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(60, 1000))
def test_matmul_random_sweep_long(seed):
    test_matmul_random_sweep(seed)


@pytest.mark.parametrize("shape", [(37, 130, 45), (6, 1, 16), (1, 300, 1), (61, 64, 97)])
def test_float32_kernel_tiles_against_numpy_sequential_reference(shape, rng):
    """The register-blocked binary32 kernel (tiles of 6 rows x 16/64 columns, threads over
    tiles) equals sequential binary32 accumulation done by NumPy one k at a time (E4M3
    products are float32-exact), rounded to bfloat16 by ml_dtypes (round-to-nearest-even)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    M, K, N = shape
    a = mf.asarray(rng.standard_normal((M, K)) * 4, E4)
    b = mf.asarray(rng.standard_normal((K, N)) * 4, E4)
    va, vb = np.asarray(a).astype(np.float32), np.asarray(b).astype(np.float32)
    s = np.zeros((M, N), dtype=np.float32)
    for k in range(K):
        s = (s + va[:, k:k + 1] * vb[k:k + 1, :]).astype(np.float32)
    exp = s.astype(ml_dtypes.bfloat16).view(np.uint16)
    got = mf.matmul(a, b, accumulator="float32", out_format="bfloat16")
    np.testing.assert_array_equal(got.codes, exp)


@pytest.mark.parametrize("acc", ["float32", "float32_blas", "exact"])
def test_matmul_nan_results_are_the_canonical_positive_nan(acc):
    """design §4: an arithmetic NaN leaves as the canonical +NaN, whatever NaN payload or sign
    went in (E5M2's negative NaN code 0xFF) or came out of the FMA (inf - inf)."""
    import ml_dtypes

    plus_nan = int(np.array(np.nan, ml_dtypes.float8_e5m2).view(np.uint8))
    assert plus_nan == 0x7E
    e5 = "float8_e5m2"
    a = mini(np.array([[0x7C, 0xFC], [0xFF, 0x3C], [0x3C, 0x3C]], np.uint8), e5)  # inf, -inf; -NaN
    b = mini(np.array([[0x3C], [0x3C]], np.uint8), e5)  # 1, 1
    with np.errstate(all="ignore"):
        got = mf.matmul(a, b, accumulator=acc).codes.ravel().tolist()
    assert got == [plus_nan, plus_nan, 0x40]  # inf - inf, -NaN * 1 + 1, 1 + 1 = 2
