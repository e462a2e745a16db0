"""Matmul with a low-precision format accumulator through the binary32 fast path
(csrc/include/minifloat/accumulate.h: acc_f32_add, round-to-odd binary32 sums rounded into the
accumulator; csrc/module.cpp: accumulate_format_seq).

The fast path is taken for ``order="sequential"``, a deterministic rounding, a signed
accumulator with subnormals, 1..21 fraction bits and a range inside binary32's, and operand
values whose products are exact in binary32.  Expected values:

- the exact rational reference (tests/oracle.py: Fraction products, every step projected into
  the accumulator by oracle.project_value, the final sum projected into the output format), on
  adversarial data: cancellation, ties at the accumulator's rounding boundaries, overflow,
  subnormal accumulators, -0, Inf/NaN terms, every deterministic rounding mode, shapes that
  cross the kernel's tile widths (4 rows, 128 columns);
- NumPy float16 and gfloat sequential loops where they are exact (a float64 sum of a
  float16 value and an E4M3 product is exact, then rounded once);
- the generic exact-core path of the same contraction (``order="pairwise"`` with
  ``block >= K`` is the sequential order, computed by exact_add + project per step), which
  tests/test_linalg.py checks against the oracle, on larger random data as a cross-check.
"""

import zlib
from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")

MODES = ["nearest_even", "nearest_away", "nearest_zero", "toward_zero", "toward_positive",
         "toward_negative", "odd"]
E4 = "float8_e4m3fn"


def acc_formats():
    """Accumulators that take the fast path: float16, bfloat16, E5M2 and an odd-bias 12-bit
    format (5 exponent bits, 6 fraction bits, bias 12)."""
    return {"float16": mf.format("float16"), "bfloat16": mf.format("bfloat16"),
            "e5m2": mf.format("float8_e5m2"),
            "e5m6b12": mf.FloatFormat(5, 6, bias=12, name="e5m6b12")}


# Operand values that make the partial sums adversarial for 16-bit accumulators: ties
# (1 + 2^-11 is the float16 midpoint of 1 and 1 + 2^-10), cancellation (x, -x), values near
# and below 2^-14 (float16 subnormals: products of 2^-7 and 2^-9), large ones (448 * 448
# overflows float16 and E5M2), signed zeros.
E4_VALUES = [0.0, -0.0, 1.0, -1.0, 2.0 ** -4, 2.0 ** -7, -2.0 ** -7, 2.0 ** -9, -2.0 ** -9,
             1.125, -1.125, 3.0, 448.0, -448.0, 240.0, 0.0625, -0.5, 2.0 ** -6, 1.75, -13.0]


def adversarial(rng, shape, fmt=E4, specials=()):
    vals = np.array(list(E4_VALUES) + list(specials))
    x = rng.choice(vals, size=shape)
    mix = rng.random(shape) < 0.3  # plus random finite values
    x[mix] = rng.standard_normal(int(mix.sum())) * np.exp2(rng.integers(-8, 6, int(mix.sum())))
    return mf.asarray(x, fmt)


def oracle_matmul(a, b, facc, fo, rounding, saturation="none", flush=False):
    """Expected output codes: exact products, sequential oracle projection into facc after
    every addition (from +0), then the sum projected into fo."""
    ra, rb = O.OFormat.of(a.format), O.OFormat.of(b.format)
    racc, ro = O.OFormat.of(facc), O.OFormat.of(fo)
    va = [[O.decode(ra, c) for c in row] for row in a.codes.tolist()]
    vb = [[O.decode(rb, c) for c in row] for row in b.codes.tolist()]
    M, K = a.shape
    N = b.shape[1]
    out = np.empty((M, N), dtype=np.int64)
    for i in range(M):
        for j in range(N):
            s = ("zero", 0)
            try:
                for k in range(K):
                    t = O.exact_mul(va[i][k], vb[k][j])
                    c = O.project_value(racc, O.exact_add(s, t, rounding), rounding, saturation,
                                        flush_subnormals=flush)
                    s = O.decode(racc, c)
                out[i, j] = O.project_value(ro, s, rounding, saturation, flush_subnormals=flush)
            except ValueError:  # a NaN in a format without NaN
                out[i, j] = O.NAN_NO_CODE
    return out


def run(a, b, facc, fo, **kw):
    return mf.matmul(a, b, accumulator=facc, out_format=fo, **kw).codes.astype(np.int64)


def generic(a, b, facc, fo, **kw):
    """The same contraction through the generic exact core: pairwise with one block is the
    sequential order (linalg.py sends only order='sequential' to the fast path)."""
    return run(a, b, facc, fo, order="pairwise", block=a.shape[1] + 1, **kw)


# ---------------------------------------------------------------------------- oracle


@pytest.mark.parametrize("acc", list(acc_formats()))
@pytest.mark.parametrize("rounding", MODES)
def test_fast_path_equals_exact_reference(acc, rounding):
    """Every deterministic mode and accumulator: 2 x 24 @ 24 x 131 (columns cross the
    128-wide panel) of adversarial E4M3 values against the oracle, output in the
    accumulator's own format (so the codes are the accumulator's final states)."""
    rng = np.random.default_rng(zlib.crc32(f"{acc} {rounding}".encode()))
    facc = acc_formats()[acc]
    a = adversarial(rng, (2, 24))
    b = adversarial(rng, (24, 131))
    expected = oracle_matmul(a, b, facc, facc, rounding)
    assert np.array_equal(run(a, b, facc, facc, rounding=rounding), expected)


@pytest.mark.parametrize("saturation", ["none", "finite", "propagate"])
@pytest.mark.parametrize("rounding", ["nearest_even", "toward_zero", "toward_positive", "odd"])
def test_overflow_and_saturation_against_exact_reference(saturation, rounding):
    """Sums that overflow float16 (448 * 448 > 65504) and come back, under each saturation."""
    rng = np.random.default_rng(7)
    f16 = mf.format("float16")
    big = [448.0, -448.0, 416.0, 240.0, -240.0, 1.0, -1.0, 0.0]
    a = mf.asarray(rng.choice(big, (5, 30)), E4)
    b = mf.asarray(rng.choice(big, (30, 9)), E4)
    expected = oracle_matmul(a, b, f16, f16, rounding, saturation)
    got = run(a, b, f16, f16, rounding=rounding, saturation=saturation)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("rounding", ["nearest_even", "toward_negative", "toward_positive"])
def test_inf_nan_terms_against_exact_reference(rounding):
    """E5M2 operands with Inf and NaN (products Inf, NaN, Inf - Inf) into a float16
    accumulator and an E5M2 output."""
    rng = np.random.default_rng(11)
    f16 = mf.format("float16")
    e5 = "float8_e5m2"
    a = adversarial(rng, (6, 20), e5, specials=[np.inf, -np.inf, 2.0 ** 15])
    b = adversarial(rng, (20, 7), e5, specials=[np.nan, 0.0])
    expected = oracle_matmul(a, b, f16, mf.format(e5), rounding)
    assert np.array_equal(run(a, b, f16, e5, rounding=rounding), expected)


@pytest.mark.parametrize("rounding", ["nearest_even", "toward_zero", "nearest_away"])
def test_subnormal_accumulator_and_flush(rounding):
    """Partial sums in float16's subnormal range (products of 2^-7, 2^-9 and small values),
    with and without flush_subnormals, against the oracle."""
    rng = np.random.default_rng(5)
    f16 = mf.format("float16")
    small = [2.0 ** -7, -2.0 ** -7, 2.0 ** -9, -2.0 ** -9, 2.0 ** -6, 0.0, 2.0 ** -8 * 3]
    a = mf.asarray(rng.choice(small, (4, 40)), E4)
    b = mf.asarray(rng.choice(small + [1.0, -0.5], (40, 10)), E4)
    for flush in (False, True):
        expected = oracle_matmul(a, b, f16, f16, rounding, flush=flush)
        got = run(a, b, f16, f16, rounding=rounding, flush_subnormals=flush)
        assert np.array_equal(got, expected), flush


def test_ties_at_float16_boundaries_hand_values():
    """1 + 2^-11 is a float16 tie: nearest_even keeps 1, nearest_away gives 1 + 2^-10; then
    one more 2^-11 on 1 + 2^-10 ties again (to 1 + 2^-9 under nearest_away)."""
    f16 = mf.format("float16")
    a = mf.asarray([[1.0, 2.0 ** -4, 2.0 ** -4]], E4)
    b = mf.asarray([[1.0], [2.0 ** -7], [2.0 ** -7]], E4)
    got = {r: float(np.asarray(mf.matmul(a, b, accumulator=f16, out_format=f16, rounding=r))[0, 0])
           for r in ("nearest_even", "nearest_away", "nearest_zero", "toward_positive")}
    assert got == {"nearest_even": 1.0, "nearest_away": 1.0 + 2.0 ** -9,
                   "nearest_zero": 1.0, "toward_positive": 1.0 + 2.0 ** -9}


def test_signed_zero_rules():
    """-0 terms: (+0) + (-0) = +0, so a sum of -0 products is +0 (the start is +0), except
    toward_negative, where every exact zero sum is -0; x + (-x) = +0 likewise."""
    f16 = mf.format("float16")
    a = mf.asarray([[-0.0, -0.0], [1.0, -1.0]], E4)
    b = mf.asarray([[1.0, 0.0], [1.0, 0.0]], E4)
    for rounding, sign in (("nearest_even", 0), ("toward_zero", 0), ("toward_negative", 1)):
        c = mf.matmul(a, b, accumulator=f16, out_format=f16, rounding=rounding)
        assert c.codes.tolist() == [[sign << 15] * 2] * 2, rounding


# ---------------------------------------------------------------------------- peers


def numpy_float16_seq(va, vb):
    """Sequential float16 accumulation in NumPy: each float64 sum of the float16 state and an
    exact E4M3 product is exact (their bits span < 53), then rounded once to float16."""
    s = np.zeros((va.shape[0], vb.shape[1]), dtype=np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(va.shape[1]):
            s = (s.astype(np.float64) + np.multiply.outer(va[:, k], vb[k, :])).astype(np.float16)
    return s


def test_float16_nearest_even_equals_numpy_sequential_loop():
    """130 x 300 @ 300 x 260 (crosses row and column tiles), values with overflow: against the
    NumPy float16 loop; NaN compared as NaN (NumPy's Inf - Inf NaN has a sign)."""
    rng = np.random.default_rng(3)
    f16 = mf.format("float16")
    a = adversarial(rng, (130, 300))
    b = adversarial(rng, (300, 260))
    ref = numpy_float16_seq(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    got = mf.matmul(a, b, accumulator=f16, out_format=f16)
    g = np.asarray(got, dtype=np.float64)
    r = ref.astype(np.float64)
    assert np.isinf(r).any()  # the data reaches overflow
    nan = np.isnan(r)
    assert np.array_equal(np.isnan(g), nan)
    assert np.array_equal(got.codes[~nan], ref.view(np.uint16)[~nan])


@pytest.mark.parametrize("rounding", ["nearest_even", "toward_zero", "toward_positive",
                                      "toward_negative", "nearest_away"])
@pytest.mark.parametrize("acc", ["bfloat16", "float16"])
def test_directed_and_nearest_equal_gfloat_sequential_loop(acc, rounding):
    """gfloat.round_ndarray on the exact float64 sum after every step (no overflow in the
    data: gfloat's overflow rules are not the question here)."""
    gfloat = pytest.importorskip("gfloat")
    from gfloat.formats import format_info_bfloat16, format_info_binary16

    fi = {"bfloat16": format_info_bfloat16, "float16": format_info_binary16}[acc]
    mode = {"nearest_even": gfloat.RoundMode.TiesToEven, "toward_zero": gfloat.RoundMode.TowardZero,
            "toward_positive": gfloat.RoundMode.TowardPositive,
            "toward_negative": gfloat.RoundMode.TowardNegative,
            "nearest_away": gfloat.RoundMode.TiesToAway}[rounding]
    rng = np.random.default_rng(17)
    vals = [1.0, -1.0, 2.0 ** -4, 2.0 ** -7, -2.0 ** -7, 1.125, 3.0, -13.0, 0.0625, 1.75]
    a = mf.asarray(rng.choice(vals, (9, 64)), E4)
    b = mf.asarray(rng.choice(vals, (64, 133)), E4)
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    s = np.zeros((9, 133))
    for k in range(64):  # float64 sums exact: bits of state and product span < 53
        s = gfloat.round_ndarray(fi, s + np.multiply.outer(va[:, k], vb[k, :]), mode)
    facc = mf.format(acc)
    got = np.asarray(mf.matmul(a, b, accumulator=facc, out_format=facc, rounding=rounding),
                     dtype=np.float64)
    assert np.array_equal(got, s)
    assert np.array_equal(np.signbit(got), np.signbit(s))


# ---------------------------------------------------------------------------- cross-check


@pytest.mark.parametrize("acc", list(acc_formats()))
@pytest.mark.parametrize("rounding", MODES)
def test_fast_path_equals_generic_exact_core(acc, rounding):
    """Larger random + adversarial data (17 x 200 @ 200 x 140) against the generic exact-core
    path of the same sequential contraction, bit for bit (output in the accumulator's format,
    so the codes are the final states)."""
    rng = np.random.default_rng(zlib.crc32(f"g {acc} {rounding}".encode()))
    facc = acc_formats()[acc]
    a = adversarial(rng, (17, 200))
    b = adversarial(rng, (200, 140))
    fast = run(a, b, facc, facc, rounding=rounding)
    assert np.array_equal(fast, generic(a, b, facc, facc, rounding=rounding))


def test_sums_and_threads():
    """mf.sum with a float16 accumulator (one column: the N = 1 case) against the oracle, and
    matmul results independent of the thread count."""
    rng = np.random.default_rng(23)
    f16 = mf.format("float16")
    x = adversarial(rng, (3, 50))
    got = mf.sum(x, axis=1, accumulator=f16, out_format=f16).codes.tolist()
    r = O.OFormat.of(f16)
    for i in range(3):
        s = ("zero", 0)
        for c in x.codes[i].tolist():
            s = O.decode(r, O.project_value(r, O.exact_add(s, O.decode(O.preset(E4), c))))
        assert got[i] == O.project_value(r, s), i
    a, b = adversarial(rng, (40, 100)), adversarial(rng, (100, 300))
    n0 = mf.get_num_threads()
    try:
        mf.set_num_threads(1)
        one = run(a, b, f16, f16)
        mf.set_num_threads(2)
        assert np.array_equal(run(a, b, f16, f16), one)
    finally:
        mf.set_num_threads(n0)


def test_hand_value_fraction_check():
    """Sanity of the reference itself: 1 + 64 * 2^-5 in E4M3-accumulate is 1 (docs), and the
    float16 accumulator gives the exact 3."""
    a = mf.asarray(np.array([[1.0] + [2.0 ** -5] * 64]), E4)
    b = mf.asarray(np.ones((65, 1)), E4)
    f16 = mf.format("float16")
    assert float(np.asarray(mf.matmul(a, b, accumulator=f16, out_format=f16))[0, 0]) == 3.0
    assert O.decode(O.OFormat.of(f16), int(oracle_matmul(a, b, f16, f16, "nearest_even")[0, 0])) \
        == Fraction(3)


def test_the_binary32_loop_is_the_one_taken():
    """The tests above exercise the fast loop: accumulate_format_seq reports which loop ran
    (2: binary32, 1: the binary64 loop) for the data and accumulators used here."""
    from minifloat import _core
    from minifloat.backends import cpu

    rng = np.random.default_rng(29)
    a, b = adversarial(rng, (5, 33)), adversarial(rng, (33, 7))
    va = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    vb = np.ascontiguousarray(np.asarray(b, dtype=np.float64))

    def loop(facc, mode=0, va=va, vb=vb):
        s = np.empty((5, 7))
        return _core.accumulate_format_seq(va, vb, facc.spec, cpu.value_table(facc), mode, 0, 0,
                                           5, 33, 7, s)

    for facc in acc_formats().values():
        for mode in range(len(MODES)):
            assert loop(facc, mode) == 2, (facc, mode)
    # The binary64 loop: no subnormals; 2^emin below binary32's normal range (bias 130);
    # products up to 2^200, beyond binary32.
    assert loop(mf.FloatFormat(5, 10, subnormals=False, name="e5m10ns")) == 1
    assert loop(mf.FloatFormat(4, 3, bias=130, name="e4m3b130")) == 1
    assert loop(mf.format("float16"), 0, va * 2.0 ** 100, vb * 2.0 ** 100) == 1
