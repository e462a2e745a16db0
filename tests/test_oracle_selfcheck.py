"""Self-checks of tests/oracle.py: it must be right before it can judge anything.

Checked against published constants (Random123 known-answer vectors, the worked examples of
docs/semantics.md §5) and against ml_dtypes / gfloat.  Nothing here imports minifloat.
"""

import math
from fractions import Fraction

import numpy as np
import oracle as O
import pytest

# ---------------------------------------------------------------------------- Philox


@pytest.mark.parametrize(
    "ctr, key, expected",
    [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        (
            (0xFFFFFFFF,) * 4,
            (0xFFFFFFFF,) * 2,
            (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
        ),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ],
)
def test_philox_known_answers(ctr, key, expected):
    assert O.philox4x32_10(ctr, key) == expected


def test_random_stream_layout():
    seed = 0x1234_5678_9ABC_DEF0
    key = (seed & 0xFFFFFFFF, seed >> 32)
    words = O.philox_words(seed, 5, 11)
    for i, w in enumerate(words):
        j = 5 + i
        assert int(w) == O.philox4x32_10((j // 4, 0, 0, 0), key)[j % 4]
    # counter high word for q >= 2^32
    j = (1 << 34) + 6
    q = j // 4
    assert (
        int(O.philox_words(7, j, 1)[0])
        == O.philox4x32_10((q & 0xFFFFFFFF, q >> 32, 0, 0), (7, 0))[2]
    )
    r = O.random_stream(seed, 5, 11, 3)
    assert np.array_equal(r, (words >> np.uint64(29)).astype(np.int64))
    assert np.array_equal(O.random_stream(seed, 5, 11, 32), words.astype(np.int64))


# ---------------------------------------------------------------------------- decode


def _ml_dtype(name):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return np.float16 if name == "float16" else getattr(ml_dtypes, name)


def _same_floats(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    return np.array_equal(a[~nan_a], b[~nan_b]) and np.array_equal(
        np.signbit(a[~nan_a]), np.signbit(b[~nan_b])
    )


@pytest.mark.parametrize("name", O.PRESET_NAMES)
def test_oracle_decode_matches_ml_dtypes(name):
    dt = _ml_dtype(name)
    f = O.preset(name)
    codes = np.arange(f.num_codes, dtype=np.uint8 if f.bits <= 8 else np.uint16)
    with np.errstate(invalid="ignore"):
        ref = codes.view(dt).astype(np.float64)
    assert _same_floats(O.decode_table(f), ref)


@pytest.mark.parametrize("name", [n for n in O.PRESET_NAMES if n not in ("float16", "bfloat16")])
def test_oracle_finfo_matches_ml_dtypes(name):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    fi = ml_dtypes.finfo(_ml_dtype(name))
    f = O.preset(name)
    assert float(fi.max) == f.max
    assert float(fi.smallest_subnormal) == f.smallest_subnormal()
    assert float(fi.smallest_normal) == f.smallest_normal


# ---------------------------------------------------------------------------- project


def _ml_divergent(name, x, f):
    """Documented divergences from ml_dtypes (see test_peers.py)."""
    if name != "float8_e8m0fnu":
        return False
    a = abs(Fraction(float(x))) if math.isfinite(x) else None
    if a is None or a == 0:
        return False
    if a < Fraction(2) ** -126:  # ml_dtypes rounds float32 subnormal inputs up
        return True
    kind, t_k, nu, cmp_half = O._locate(f, a)
    return kind in ("between",) and cmp_half == 0  # ties: ml_dtypes always rounds up


@pytest.mark.parametrize("name", O.PRESET_NAMES)
def test_oracle_project_matches_ml_dtypes_float32(name):
    dt = _ml_dtype(name)
    f = O.preset(name)
    xs = O.probe_values(f, np.float32, intervals=1500 if f.bits > 8 else None)
    if not f.has_nan:
        xs = xs[~np.isnan(xs)]
    with np.errstate(over="ignore", invalid="ignore"):
        ref = xs.astype(dt).view(np.uint8 if f.bits <= 8 else np.uint16).astype(np.int64)
    got = O.project_array(f, xs)
    keep = np.array([not _ml_divergent(name, float(x), f) for x in xs])
    if name == "float8_e8m0fnu":
        assert keep.sum() < len(keep)  # the divergence is real, and excluded
    O.assert_codes_equal(got[keep], ref[keep], xs[keep], f, name)


def test_oracle_worked_examples():
    f = O.preset("float8_e4m3fn")
    assert O.project(f, 448.0) == 0x7E
    assert O.project(f, 464.0) == 0x7E
    assert O.project(f, 465.0) == 0x7F
    assert O.project(f, 1e6) == 0x7F
    for x in (448.0, 464.0, 465.0, 1e6):
        assert O.project(f, x, "toward_zero") == 0x7E
        assert O.project(f, x, saturation="finite") == 0x7E
    x = 0.3
    assert O.decode(f, 0x29) == Fraction(9, 32) and O.decode(f, 0x2A) == Fraction(5, 16)
    for mode in ("nearest_even", "nearest_away", "nearest_zero", "toward_positive"):
        assert O.project(f, x, mode) == 0x2A
    for mode in ("toward_zero", "toward_negative", "odd"):
        assert O.project(f, x, mode) == 0x29
    ups = [O.project(f, x, "stochastic_a", random_bits=3, R=r) == 0x2A for r in range(8)]
    assert ups == [r >= 4 for r in range(8)]
    ups = [O.project(f, x, "stochastic_c", random_bits=3, R=r) == 0x2A for r in range(8)]
    assert ups == [r >= 3 for r in range(8)]


def test_oracle_special_rules():
    e8m0 = O.preset("float8_e8m0fnu")
    assert O.project(e8m0, 0.0) == 0xFF  # no zero: NaN
    assert O.project(e8m0, 1e-300) == 0x00  # below range: smallest, every mode
    assert O.project(e8m0, 1e-300, "toward_zero") == 0x00
    assert O.project(e8m0, -1.0) == 0xFF  # unsigned, negative: NaN
    assert O.project(e8m0, -1.0, saturation="finite") == 0x00
    fnuz = O.preset("float8_e4m3fnuz")
    assert O.project(fnuz, -0.0) == 0x00
    assert O.project(fnuz, -1e-30) == 0x00
    assert O.project(fnuz, math.nan) == 0x80
    e5m2 = O.preset("float8_e5m2")
    assert O.project(e5m2, -0.0) == 0x80
    assert O.project(e5m2, -1e-30) == 0x80
    assert O.project(e5m2, -math.nan) == 0xFE
    assert O.project(e5m2, math.nan) == 0x7E
    assert O.project(e5m2, -math.inf, saturation="finite") == 0xFB
    assert O.project(e5m2, 1e9, "toward_negative") == 0x7B
    assert O.project(e5m2, -1e9, "toward_negative") == 0xFC
    assert O.project(e5m2, -1e9, "toward_positive") == 0xFB
    fp6 = O.preset("float6_e2m3fn")
    with pytest.raises(ValueError):
        O.project(fp6, math.nan)
    assert O.project(fp6, 1e9) == 0x1F  # no Inf, no NaN: max
    assert O.project(fp6, math.inf, saturation="propagate") == 0x1F
    # flush: smallest subnormal of e4m3fn is 2^-9
    e4m3 = O.preset("float8_e4m3fn")
    assert O.project(e4m3, 2.0**-9, flush_subnormals=True) == 0x00
    assert O.project(e4m3, -(2.0**-9), flush_subnormals=True) == 0x80
    assert O.project(e4m3, 2.0**-6 * 0.99, flush_subnormals=True) == 0x08  # rounds to normal


@pytest.mark.parametrize("N", [1, 2, 3, 5])
def test_oracle_stochastic_counts(N):
    f = O.preset("float8_e4m3fn")
    t, u = Fraction(9, 32), Fraction(5, 16)
    for j in range(1, 1 << N):
        x = t + (u - t) * Fraction(j, 1 << N)
        ups = sum(
            O.project(f, x, "stochastic_a", random_bits=N, R=r) == 0x2A for r in range(1 << N)
        )
        assert ups == j
        # stochastic_b with nu = j/2^N exactly: floor(nu 2^(N+1)) + 2R + 1 >= 2^(N+1)
        ups_b = sum(
            O.project(f, x, "stochastic_b", random_bits=N, R=r) == 0x2A for r in range(1 << N)
        )
        assert ups_b == j
        ups_c = sum(
            O.project(f, x, "stochastic_c", random_bits=N, R=r) == 0x2A for r in range(1 << N)
        )
        assert ups_c == j


# ---------------------------------------------------------------------------- gfloat


def _gfloat_modes():
    gfloat = pytest.importorskip("gfloat")
    RM = gfloat.RoundMode
    return {
        "toward_zero": RM.TowardZero,
        "toward_positive": RM.TowardPositive,
        "toward_negative": RM.TowardNegative,
        "nearest_even": RM.TiesToEven,
        "nearest_away": RM.TiesToAway,
    }


@pytest.mark.parametrize(
    "k,p,signed,ext",
    [(8, p, s, e) for p in (1, 3, 4, 7) for s in (True, False) for e in (True, False)]
    + [(6, 3, True, False), (4, 2, True, True)],
)
def test_oracle_matches_gfloat_p3109(k, p, signed, ext):
    gfloat = pytest.importorskip("gfloat")
    from gfloat.formats import format_info_p3109
    from gfloat.types import Domain, Signedness

    fi = format_info_p3109(
        k,
        p,
        Signedness.Signed if signed else Signedness.Unsigned,
        Domain.Extended if ext else Domain.Finite,
    )
    f = O.p3109(k, p, signed, ext)
    # decode agrees on every code
    ref = np.array([gfloat.decode_float(fi, c).fval for c in range(f.num_codes)])
    assert _same_floats(O.decode_table(f), ref)
    xs = O.probe_values(f, np.float64)
    if not signed:
        xs = xs[~np.signbit(xs)]  # gfloat does not handle negatives into unsigned formats
    for mode, rm in _gfloat_modes().items():
        for sat, sat_name in ((True, "finite"), (False, "none")):
            with np.errstate(over="ignore"):
                ref = gfloat.round_ndarray(fi, xs, rm, sat)
            got = np.array([O.decode_float(f, c) for c in O.project_array(f, xs, mode, sat_name)])
            assert _same_floats(got, ref), (mode, sat)


def test_p3109_special_codes():
    for k, p, signed, ext in O.p3109_params(10):
        f = O.p3109(k, p, signed, ext)
        if signed:
            assert O.decode(f, 1 << (k - 1)) == O.NAN
            assert f.nan_code() == 1 << (k - 1)
            assert f.bias == 2 ** (k - p - 1)
            if ext:
                assert O.decode(f, (1 << (k - 1)) - 1) == O.PINF
                assert O.decode(f, (1 << k) - 1) == O.NINF
        else:
            assert O.decode(f, (1 << k) - 1) == O.NAN
            assert f.bias == 2 ** (k - p)
            if ext:
                assert O.decode(f, (1 << k) - 2) == O.PINF
        nans = sum(O.decode(f, c) == O.NAN for c in range(f.num_codes))
        infs = sum(O.decode(f, c) in (O.PINF, O.NINF) for c in range(f.num_codes))
        assert nans == 1
        assert infs == (0 if not ext else (2 if signed else 1))


@pytest.mark.parametrize("k,p,signed", [(8, 3, True), (8, 4, False), (8, 1, True)])
@pytest.mark.parametrize("N", [2, 5])
def test_oracle_matches_gfloat_stochastic(k, p, signed, N):
    gfloat = pytest.importorskip("gfloat")
    from gfloat.formats import format_info_p3109
    from gfloat.types import Domain, Signedness

    RM = gfloat.RoundMode
    fi = format_info_p3109(
        k, p, Signedness.Signed if signed else Signedness.Unsigned, Domain.Extended
    )
    f = O.p3109(k, p, signed, True)
    xs = O.probe_values(f, np.float64)
    xs = xs[np.isfinite(xs)]
    if not signed:
        xs = xs[~np.signbit(xs)]

    # gfloat evaluates delta + R*2^-N in float64; keep probes where that sum is exact
    def exact_in_gfloat(x):
        kind, _, nu, _ = O._locate(f, abs(Fraction(x)))
        return kind != "between" or nu.denominator <= 2**50

    xs = xs[[exact_in_gfloat(float(x)) for x in xs]]
    rng = np.random.default_rng(k * 100 + p + N)
    R = rng.integers(0, 1 << N, size=xs.shape)
    for mode, rm in (
        ("stochastic_c", RM.Stochastic),
        ("stochastic_b", RM.StochasticFast),
        ("stochastic_a", RM.StochasticFastest),
    ):
        with np.errstate(over="ignore"):
            ref = gfloat.round_ndarray(fi, xs, rm, False, R, N)
        got = np.array(
            [
                O.decode_float(f, O.project(f, x, mode, random_bits=N, R=int(r)))
                for x, r in zip(xs.tolist(), R.tolist())
            ]
        )
        assert _same_floats(got, ref), mode
