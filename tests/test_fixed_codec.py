"""Fixed-point codec against the exact oracle (tests/oracle.py fixed_decode / fixed_project)."""

from fractions import Fraction

import numpy as np
import oracle
import pytest

mf = pytest.importorskip("minifloat")
from minifloat.fixed import FixedFormat, fixed_for_range, sakr_precision, sakr_quantize  # noqa: E402

SMALL = [(3, 4, True), (0, 7, True), (7, 0, True), (2, 3, False), (4, 4, False), (-2, 5, True),
         (5, -2, True), (1, 0, True), (0, 1, False), (0, 0, True)]
MID = [(5, 10, True), (8, 8, False), (0, 15, True), (3, 8, True)]
WIDE = [(15, 16, True), (0, 31, True), (16, 16, False), (31, 0, True), (-10, 40, True),
        (40, -10, True), (-30, 62, False)]
DETERMINISTIC = oracle.DETERMINISTIC
SATS = ("finite", "wrap")  # "none"/"propagate" are "finite" here (test_saturation_names)


def fx(p):
    return FixedFormat(p[0], p[1], signed=p[2])


def ids(params):
    return [f"{'s' if s else 'u'}{i}.{f}" for i, f, s in params]


@pytest.mark.parametrize("p", SMALL + MID, ids=ids(SMALL + MID))
def test_decode_every_code(p):
    f = fx(p)
    codes = np.arange(f.num_codes, dtype=f.dtype)
    got = mf.decode(codes, f)
    want = np.array([float(oracle.fixed_decode(f, c)) for c in range(f.num_codes)])
    assert np.array_equal(got, want)
    got32 = mf.decode(codes, f, dtype=np.float32)
    assert np.array_equal(got32, want.astype(np.float32))


@pytest.mark.parametrize("p", WIDE, ids=ids(WIDE))
def test_decode_wide_sample(p, rng):
    f = fx(p)
    codes = np.concatenate([rng.integers(0, f.num_codes, 2000, dtype=np.uint64),
                            [0, 1, f.num_codes - 1, f.num_codes // 2, f.num_codes // 2 - 1]])
    codes = codes.astype(f.dtype)
    got = mf.decode(codes, f)
    want = np.array([float(oracle.fixed_decode(f, c)) for c in codes.tolist()])
    assert np.array_equal(got, want)


def fixed_probes(f, dtype=np.float64, every=True, rng=None):
    """Values at every interval of the integer ladder (and beyond the range): each code's
    value, the midpoint, quarter points, +- one ulp of float64/float32 around them."""
    bits, F, s, lo, hi = oracle.fixed_params(f)
    ks = range(lo - 3, hi + 4) if every else sorted(
        set(rng.integers(lo, hi + 1, 60).tolist()) | {lo, lo + 1, hi - 1, hi, 0, 1, -1})
    step = Fraction(2) ** -F
    pts = set()
    for k in ks:
        for frac in (0, Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)):
            v = float((k + frac) * step)
            for d in ((np.float64,) if dtype == np.float64 else (np.float32,)):
                rv = d(v)
                if np.isfinite(rv):
                    pts.update([float(rv), float(np.nextafter(rv, d(np.inf))),
                                float(np.nextafter(rv, d(-np.inf)))])
    pts.update([1e30, -1e30, 1e-30, -1e-30, 5e-324, -5e-324, 0.0, -0.0, np.inf, -np.inf,
                1.7976931348623157e308, -1.7976931348623157e308])
    with np.errstate(over="ignore"):
        vals = [p for p in pts if dtype == np.float64 or float(np.float32(p)) == p]
    return np.array(sorted(vals), dtype=np.float64).astype(dtype)


@pytest.mark.parametrize("p", SMALL, ids=ids(SMALL))
@pytest.mark.parametrize("sat", SATS)
def test_encode_probes_every_interval(p, sat):
    f = fx(p)
    x = fixed_probes(f)
    for mode in DETERMINISTIC:
        got = mf.encode(x, f, rounding=mode, saturation=sat)
        want = [oracle.fixed_project(f, v, mode, sat) for v in x.tolist()]
        bad = np.nonzero(got.astype(np.int64) != np.array(want))[0]
        assert bad.size == 0, (mode, sat, x[bad[:5]], got[bad[:5]], np.array(want)[bad[:5]])


@pytest.mark.parametrize("p", SMALL[:4] + MID[:2], ids=ids(SMALL[:4] + MID[:2]))
def test_encode_float32_input(p, rng):
    f = fx(p)
    x = fixed_probes(f, np.float32, every=f.bits <= 8, rng=rng)
    for mode in ("nearest_even", "toward_negative", "odd"):
        got = mf.encode(x, f, rounding=mode)
        want = [oracle.fixed_project(f, float(v), mode) for v in x.tolist()]
        assert got.astype(np.int64).tolist() == want


@pytest.mark.parametrize("p", MID + WIDE, ids=ids(MID + WIDE))
def test_encode_sampled_intervals(p, rng):
    f = fx(p)
    x = fixed_probes(f, every=False, rng=rng)
    for mode in DETERMINISTIC:
        for sat in ("finite", "wrap"):
            got = mf.encode(x, f, rounding=mode, saturation=sat)
            want = [oracle.fixed_project(f, v, mode, sat) for v in x.tolist()]
            assert got.astype(np.int64).tolist() == want, (mode, sat)


def test_integer_and_long_double_inputs():
    f = FixedFormat(15, 16)
    ints = np.array([0, 1, -1, 32767, 32768, -32768, -32769, 2**62, -2**63], dtype=np.int64)
    assert mf.encode(ints, f).tolist() == [oracle.fixed_project(f, int(v)) for v in ints]
    assert mf.encode(ints, f, saturation="wrap").tolist() == \
        [oracle.fixed_project(f, int(v), saturation="wrap") for v in ints]
    u = np.array([2**64 - 1, 5], dtype=np.uint64)
    assert mf.encode(u, f, saturation="wrap").tolist() == \
        [oracle.fixed_project(f, int(v), saturation="wrap") for v in u]
    ld = np.array([1 / 3, -2 / 3, 1e-5], dtype=np.longdouble) + np.longdouble(2) ** -40
    g = FixedFormat(0, 31)
    want = [oracle.fixed_project(g, Fraction(*v.as_integer_ratio())) for v in ld]
    assert mf.encode(ld, g).tolist() == want


@pytest.mark.parametrize("mode", ["stochastic_a", "stochastic_b", "stochastic_c",
                                  "stochastic_equal"])
def test_stochastic_all_random_values(mode):
    f = FixedFormat(2, 3)
    N = 4
    xs = [Fraction(k, 8) + Fraction(j, 8 * 32) for k in (-9, -1, 0, 3, 14) for j in range(32)]
    x = np.array([float(v) for v in xs])
    R = np.arange(1 << N, dtype=np.uint32)
    X, RR = np.meshgrid(x, R, indexing="ij")
    got = mf.encode(X, f, rounding=mode, random_bits=N, random=RR)
    want = [[oracle.fixed_project(f, v, mode, "finite", N, int(r)) for r in R] for v in xs]
    assert got.astype(np.int64).tolist() == want


def test_stochastic_seeded_stream_matches_philox():
    f = FixedFormat(4, 4)
    x = np.linspace(-3, 3, 1001)
    for mode, N in (("stochastic_a", 7), ("stochastic", 32), ("stochastic_c", 3)):
        got = mf.encode(x, f, rounding=mode, random_bits=None if mode == "stochastic" else N,
                        seed=1234567, offset=10)
        Rs = oracle.random_stream(1234567, 10, x.size, N)
        want = [oracle.fixed_project(f, v, mode, "finite", N, int(r)) for v, r in zip(x, Rs)]
        assert got.tolist() == want


def test_stochastic_32bit_format_64bit_fraction():
    f = FixedFormat(0, 31)
    x = np.array([2.0 ** -40 * 3, -(2.0 ** -33) * 5 + 2.0 ** -31, 0.1, -0.7])
    R = np.array([0, 2**31, 2**32 - 1, 12345], dtype=np.uint32)
    got = mf.encode(x, f, rounding="stochastic", random=R)
    want = [oracle.fixed_project(f, v, "stochastic", "finite", 32, int(r)) for v, r in zip(x, R)]
    assert got.tolist() == want


def test_quantize_roundtrip_and_dtypes():
    assert FixedFormat(3, 4).dtype == np.uint8
    assert FixedFormat(3, 12).dtype == np.uint16
    assert FixedFormat(15, 16).dtype == np.uint32
    f = FixedFormat(3, 4)
    assert mf.quantize([0.3, -0.3, 9.0, -9.0], f).tolist() == [0.3125, -0.3125, 7.9375, -8.0]
    assert mf.format(f) is f
    assert f.max == 7.9375 and f.min == -8.0 and f.resolution == 1 / 16
    u = FixedFormat(2, 3, signed=False)
    assert mf.quantize([-0.01, -1.0, 3.99], u).tolist() == [0.0, 0.0, 3.875]


def test_wrap_two_complement():
    f = FixedFormat(3, 0)  # -8..7
    assert mf.decode(mf.encode([8, 9, 15, 16, -9, -17], f, saturation="wrap"), f).tolist() == \
        [-8, -7, -1, 0, 7, -1]


def test_bad_input():
    f = FixedFormat(3, 4)
    with pytest.raises(ValueError, match="NaN"):
        mf.encode([1.0, np.nan], f)
    with pytest.raises(ValueError, match="saturation='nan'"):
        mf.encode([1.0], f, saturation="nan")
    with pytest.raises(ValueError, match="wrap"):
        mf.encode([1.0], "e4m3", saturation="wrap")
    with pytest.raises(ValueError, match="total bits"):
        FixedFormat(20, 20)
    with pytest.raises(ValueError, match="frac_bits"):
        FixedFormat(0, 70)
    with pytest.raises(TypeError, match="int_bits"):
        FixedFormat(1.5, 3)
    with pytest.raises(ValueError, match="total bits"):
        FixedFormat(0, 0, signed=False)
    with pytest.raises(ValueError, match="codes must be in"):
        mf.decode(np.array([256]), f)


def test_sakr_shanbhag_helpers():
    w = np.array([-1.0, -0.999, -0.3, 0.0, 0.26, 0.5, 0.99, 1.0, 2.0])
    B = 3
    # Qw(w, B) = min(1 - 2^(1-B), round(w 2^(B-1)) 2^(1-B)), round half even, clipped below at -1
    want = [min(1 - 2.0 ** (1 - B), max(-1.0, float(np.round(v * 2 ** (B - 1))) * 2.0 ** (1 - B)))
            for v in w]
    assert sakr_quantize(w, B).tolist() == want
    assert sakr_precision(1.0, 2.0 ** -7) == 8
    assert sakr_precision(3.0, 2.0 ** -4) == 7  # ceil(log2 48) = 6, + 1
    f = fixed_for_range(3.0, 0.01)
    assert f.frac_bits == 7 and f.int_bits == 2


def test_saturation_names_without_inf_nan_saturate():
    f = FixedFormat(2, 3)
    x = fixed_probes(f)
    want = mf.encode(x, f, saturation="finite")
    for sat in ("none", "propagate"):
        assert np.array_equal(mf.encode(x, f, saturation=sat), want)
    assert want.tolist() == [oracle.fixed_project(f, v) for v in x.tolist()]


# ---- the float32 fast path (fixed_f32.h): every <= 16-bit format above, every mode ----

F32_FORMATS = SMALL + MID + [(-6, 20, True), (10, -8, False), (0, 16, False), (12, 3, True)]


@pytest.mark.parametrize("p", F32_FORMATS, ids=ids(F32_FORMATS))
def test_encode_float32_fast_path_every_mode(p, rng):
    """float32 input to <= 16-bit formats takes the uint32 path (nearest_even: the FPU-rounding
    path, fixed_project_f32_rne, on x86-64): every deterministic mode with
    saturations finite and wrap (wrap stays on the generic path), every stochastic mode with
    explicit R of several widths, against the oracle; plus subnormals, huge values, +-Inf."""
    f = fx(p)
    x = fixed_probes(f, np.float32, every=f.bits <= 8, rng=rng)
    extra = np.array([1e-45, -1e-45, 1.1754942e-38, -3e-39, 3.4028235e38, -3.4028235e38,
                      2.0 ** 40, -(2.0 ** 40), np.inf, -np.inf, 0.0, -0.0], dtype=np.float32)
    x = np.concatenate([x, extra])
    xl = [float(v) for v in x.tolist()]
    for mode in DETERMINISTIC:
        for sat in ("finite", "wrap"):
            got = mf.encode(x, f, rounding=mode, saturation=sat)
            want = [oracle.fixed_project(f, v, mode, sat) for v in xl]
            bad = np.nonzero(got.astype(np.int64) != np.array(want))[0]
            assert bad.size == 0, (mode, sat, x[bad[:5]], got[bad[:5]], np.array(want)[bad[:5]])
    for mode, N in (("stochastic_a", 3), ("stochastic_a", 31), ("stochastic_b", 5),
                    ("stochastic_c", 2), ("stochastic_equal", 1), ("stochastic", 32)):
        R = rng.integers(0, 2 ** N, x.size, dtype=np.uint64).astype(np.uint32)
        R[:4] = [0, 2 ** N - 1, 2 ** (N - 1), 1]
        got = mf.encode(x, f, rounding=mode, random_bits=None if mode == "stochastic" else N,
                        random=R)
        want = [oracle.fixed_project(f, v, mode, "finite", N, int(r)) for v, r in zip(xl, R)]
        bad = np.nonzero(got.astype(np.int64) != np.array(want))[0]
        assert bad.size == 0, (mode, N, x[bad[:5]], got[bad[:5]], np.array(want)[bad[:5]])


def test_encode_float32_fast_path_seeded_and_nan():
    f = FixedFormat(1, 6)
    x = np.linspace(-2.5, 2.5, 4099, dtype=np.float32)
    got = mf.encode(x, f, rounding="stochastic", seed=77, offset=5)
    Rs = oracle.random_stream(77, 5, x.size, 32)
    assert got.tolist() == [oracle.fixed_project(f, float(v), "stochastic", "finite", 32, int(r))
                            for v, r in zip(x, Rs)]
    # same codes from float64 input (generic path) and with 2 threads
    assert np.array_equal(got, mf.encode(x.astype(np.float64), f, rounding="stochastic",
                                         seed=77, offset=5))
    with pytest.raises(ValueError):
        mf.encode(np.array([1.0, np.nan], dtype=np.float32), f)
