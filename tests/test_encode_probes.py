"""Projection (encode) at the probe points of design.md §5, against tests/oracle.py.

Every deterministic rounding mode x every saturation, float64 and float32 inputs, for every
<= 8-bit format of the catalogue; sampled code intervals for 9..16-bit formats; integer and
other input dtypes rounded once from their exact value.
"""

import math

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")


# ---------------------------------------------------------------------------- catalogue


def _small_formats():
    out = {}
    for name in O.PRESET_NAMES:
        f = O.preset(name)
        if f.bits <= 8:
            out[name] = (lambda name=name: mf.format(name), f)
    for fid, kw in O.UNUSUAL.items():
        f = O.OFormat(**kw)
        if f.bits <= 8:
            out[fid] = (lambda kw=kw: mf.FloatFormat(**kw), f)
    for k, p, s, e in [
        (8, 3, True, True),
        (8, 4, True, False),
        (8, 1, True, True),
        (8, 1, False, True),
        (8, 5, False, False),
        (7, 2, False, True),
        (6, 3, True, False),
    ]:
        out[O.p3109_name(k, p, s, e)] = (
            lambda a=(k, p, s, e): mf.p3109(a[0], a[1], signed=a[2], extended=a[3]),
            O.p3109(k, p, s, e),
        )
    return out


def _wide_formats():
    out = {}
    for name in ("float16", "bfloat16"):
        out[name] = (lambda name=name: mf.format(name), O.preset(name))
    for k, p, s, e in [
        (12, 5, True, True),
        (12, 4, False, False),
        (16, 8, True, True),
        (10, 3, True, False),
        (12, 1, True, True),
        (12, 2, False, True),
        (12, 1, True, False),
    ]:
        out[O.p3109_name(k, p, s, e)] = (
            lambda a=(k, p, s, e): mf.p3109(a[0], a[1], signed=a[2], extended=a[3]),
            O.p3109(k, p, s, e),
        )
    kw = dict(exp_bits=6, man_bits=9, bias=40, subnormals=True)
    out["e6m9_b40"] = (lambda kw=kw: mf.FloatFormat(**kw), O.OFormat(**kw))
    kw2 = dict(exp_bits=5, man_bits=6, subnormals=False, nan="max", infinities=True)
    out["e5m6_nosub_max"] = (lambda kw=kw2: mf.FloatFormat(**kw), O.OFormat(**kw2))
    return out


SMALL = _small_formats()
WIDE = _wide_formats()

_PROBE_CACHE = {}


def _probes(fid, ref, dtype, intervals=None):
    key = (fid, np.dtype(dtype).name, intervals)
    if key not in _PROBE_CACHE:
        _PROBE_CACHE[key] = O.probe_values(ref, dtype, include_nan=ref.has_nan, intervals=intervals)
    return _PROBE_CACHE[key]


def _sats(ref):
    return [s for s in O.SATURATIONS if s != "nan" or ref.has_nan]


def _run_grid(fmt, ref, xs, modes, sats, flush=False, what=""):
    failures = []
    for mode in modes:
        for sat in sats:
            got = mf.encode(xs, fmt, rounding=mode, saturation=sat, flush_subnormals=flush)
            assert got.dtype == np.dtype(np.uint8 if ref.bits <= 8 else np.uint16)
            assert got.shape == xs.shape
            exp = O.project_array(ref, xs, mode, sat, flush_subnormals=flush)
            got = got.astype(np.int64)
            bad = np.nonzero(got != exp)[0]
            if bad.size:
                i = bad[0]
                failures.append(
                    f"{what} {mode}/{sat}{' flush' if flush else ''}: {bad.size} differ, e.g. "
                    f"x={xs[i]!r} ({float(xs[i]).hex()}) expected {exp[i]:#x} "
                    f"({O.decode_float(ref, exp[i])!r}) got {got[i]:#x} "
                    f"({O.decode_float(ref, got[i]) if 0 <= got[i] < ref.num_codes else '?'})"
                )
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


# ---------------------------------------------------------------------------- <= 8 bits


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", O.DETERMINISTIC)
@pytest.mark.parametrize("fid", sorted(SMALL))
def test_probes_small(fid, mode, dtype):
    make, ref = SMALL[fid]
    xs = _probes(fid, ref, dtype)
    assert xs.dtype == dtype
    _run_grid(make(), ref, xs, [mode], _sats(ref), what=fid)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fid", sorted(SMALL))
def test_probes_small_flush(fid, dtype):
    make, ref = SMALL[fid]
    xs = _probes(fid, ref, dtype)
    _run_grid(make(), ref, xs, ["nearest_even"], _sats(ref), flush=True, what=fid)
    _run_grid(make(), ref, xs, ["toward_positive", "nearest_away"], ["none"], flush=True, what=fid)


@pytest.mark.parametrize("fid", sorted(SMALL))
def test_quantize_small(fid):
    make, ref = SMALL[fid]
    fmt = make()
    for dtype in (np.float64, np.float32):
        xs = _probes(fid, ref, dtype)
        for mode in ("nearest_even", "toward_negative"):
            got = mf.quantize(xs, fmt, rounding=mode)
            assert got.dtype == dtype and got.shape == xs.shape
            with np.errstate(over="ignore"):
                exp = np.array(
                    [O.decode_float(ref, c) for c in O.project_array(ref, xs, mode)],
                    dtype=np.float64,
                ).astype(dtype)
            same = (got == exp) & (np.signbit(got) == np.signbit(exp)) | (
                np.isnan(got) & np.isnan(exp)
            )
            assert same.all(), (mode, dtype, xs[~same][:5], got[~same][:5], exp[~same][:5])


@pytest.mark.parametrize("name", [n for n in O.PRESET_NAMES if O.preset(n).bits <= 8])
def test_every_float16_input(name):
    """All 65536 float16 values (NaN only where the format has one) into each small preset."""
    ref = O.preset(name)
    xs = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    if not ref.has_nan:
        xs = xs[~np.isnan(xs)]
    _run_grid(mf.format(name), ref, xs, ["nearest_even", "toward_zero"], ["none"], what=name)


# ---------------------------------------------------------------------------- 9..16 bits


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fid", sorted(WIDE))
def test_probes_wide_sampled(fid, dtype):
    make, ref = WIDE[fid]
    fmt = make()
    xs = _probes(fid, ref, dtype, intervals=600)
    _run_grid(fmt, ref, xs, O.DETERMINISTIC, ["none"], what=fid)
    _run_grid(fmt, ref, xs, ["nearest_even"], [s for s in _sats(ref) if s != "none"], what=fid)
    _run_grid(fmt, ref, xs, ["nearest_even"], ["none"], flush=True, what=fid)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fid", sorted(WIDE))
def test_probes_wide_full(fid, dtype):
    make, ref = WIDE[fid]
    xs = _probes(fid, ref, dtype, intervals=3000)
    _run_grid(make(), ref, xs, O.DETERMINISTIC, _sats(ref), what=fid)


# ---------------------------------------------------------------------------- rounded once


def test_float64_rounded_once_float16():
    # just above the midpoint of 1 and 1 + 2^-10: float32 would land on the midpoint (tie -> 1)
    x = 1.0 + 2.0**-11 + 2.0**-40
    assert float(np.float32(x)) == 1.0 + 2.0**-11
    ref = O.preset("float16")
    got = mf.encode(np.array([x, -x]), "float16")
    assert got.tolist() == [0x3C01, 0xBC01]
    assert got.tolist() == O.project_array(ref, [x, -x]).tolist()
    # and just below the midpoint of 1 + 2^-10 and 1 + 2^-9 (float32 -> tie -> even = up)
    y = 1.0 + 2.0**-10 + 2.0**-11 - 2.0**-40
    assert float(np.float32(y)) == 1.0 + 2.0**-10 + 2.0**-11
    assert mf.encode(np.array([y]), "float16").tolist() == [0x3C01]


def test_float64_rounded_once_e4m3():
    ref = O.preset("float8_e4m3fn")
    # midpoint of 1 and 1.125 is 1.0625; tiny offsets vanish in float32
    xs = np.array([1.0625 + 2.0**-45, 1.0625 - 2.0**-45, 1.1875 + 2.0**-45, 1.1875 - 2.0**-45])
    assert np.all(xs.astype(np.float32) != xs)
    for mode in ("nearest_even", "nearest_away", "nearest_zero", "odd", "toward_zero"):
        O.assert_codes_equal(
            mf.encode(xs, "float8_e4m3fn", rounding=mode),
            O.project_array(ref, xs, mode),
            xs,
            ref,
            mode,
        )
    assert mf.encode(xs, "float8_e4m3fn").tolist() == [0x39, 0x38, 0x3A, 0x39]


def test_longdouble_rounded_once():
    if np.finfo(np.longdouble).nmant <= 52:
        pytest.skip("long double is float64 here")
    one = np.longdouble(1)
    x = one + np.longdouble(2.0**-11) + np.longdouble(2.0**-60)
    assert float(x) == 1.0 + 2.0**-11  # float64 would make it a tie
    xs = np.array(
        [x, -x, one + np.longdouble(2.0**-11) - np.longdouble(2.0**-60)], dtype=np.longdouble
    )
    ref = O.preset("float16")
    exp = O.project_array(ref, list(xs))
    assert exp.tolist() == [0x3C01, 0xBC01, 0x3C00]
    assert mf.encode(xs, "float16").tolist() == exp.tolist()
    q = mf.quantize(xs, "float16")
    assert q.dtype == np.longdouble


def test_float16_input_dtype_kept():
    xs = np.array([0.3, -2.5, 1000.0], dtype=np.float16)
    q = mf.quantize(xs, "float8_e4m3fn")
    assert q.dtype == np.float16


def test_ml_dtypes_input():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    ref = O.preset("float8_e4m3fn")
    xs = np.arange(1 << 16, dtype=np.uint16).view(ml_dtypes.bfloat16)
    xs64 = xs.astype(np.float64)
    keep = ~np.isnan(xs64)
    exp = O.project_array(ref, xs64[keep], "nearest_even")
    got = mf.encode(xs[keep], "float8_e4m3fn")
    O.assert_codes_equal(got, exp, xs64[keep], ref, "bfloat16 input")


# ---------------------------------------------------------------------------- integers


INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize(
    "name", ["bfloat16", "float16", "float8_e4m3fn", "float8_e8m0fnu", "binary8p3se"]
)
def test_integer_inputs(dtype, name, rng):
    info = np.iinfo(dtype)
    vals = set([info.min, info.max, 0, 1, 2, 3, 5, 7, 9, 17, 255, 257])
    vals |= set(rng.integers(info.min, info.max, size=300, endpoint=True, dtype=dtype).tolist())
    for s in range(0, info.bits):
        for d in (-3, -1, 0, 1, 3):
            for sign in (1, -1):
                v = sign * ((1 << s) + d)
                if info.min <= v <= info.max:
                    vals.add(v)
    xs = np.array(sorted(v for v in vals if info.min <= v <= info.max), dtype=dtype)
    if name == "binary8p3se":
        fmt, ref = mf.p3109(8, 3), O.p3109(8, 3)
    else:
        fmt, ref = mf.format(name), O.preset(name)
    ints = [int(v) for v in xs]
    for mode in O.DETERMINISTIC:
        for sat in ("none", "finite"):
            exp = np.array([O.project(ref, v, mode, sat) for v in ints])
            got = mf.encode(xs, fmt, rounding=mode, saturation=sat)
            O.assert_codes_equal(got, exp, xs, ref, f"{np.dtype(dtype).name} {mode}/{sat}")
    q = mf.quantize(xs, fmt)
    assert q.dtype == np.float64


def test_int64_near_2_60_exact():
    ref = O.preset("bfloat16")
    base = 1 << 60
    xs = np.array(
        [base + 1, base + (1 << 52) + 1, base + (1 << 52), base - 1, -(base + 1), (1 << 63) - 1],
        dtype=np.int64,
    )
    ints = [int(v) for v in xs]
    up = mf.encode(xs, "bfloat16", rounding="toward_positive")
    assert up.tolist() == [O.project(ref, v, "toward_positive") for v in ints]
    # base + 1 rounds up toward +inf (float64 conversion would lose the +1)
    assert up[0] == 0x5D81
    ne = mf.encode(xs, "bfloat16")
    assert ne.tolist() == [O.project(ref, v) for v in ints]
    assert ne[1] == 0x5D81  # just above the midpoint: rounds up (float64 would give a tie -> even)
    assert ne[2] == 0x5D80  # exact midpoint, even


def test_uint64_max():
    x = np.array([np.iinfo(np.uint64).max], dtype=np.uint64)
    v = int(x[0])
    for name in ("bfloat16", "float16", "float8_e5m2", "float8_e8m0fnu"):
        ref = O.preset(name)
        for mode in O.DETERMINISTIC:
            assert mf.encode(x, name, rounding=mode).tolist() == [O.project(ref, v, mode)], (
                name,
                mode,
            )


def test_bool_input():
    xs = np.array([True, False, True])
    for name in ("float8_e4m3fn", "float8_e8m0fnu", "float4_e2m1fn"):
        ref = O.preset(name)
        assert mf.encode(xs, name).tolist() == [O.project(ref, int(b)) for b in xs.tolist()]
    q = mf.quantize(xs, "float8_e4m3fn")
    assert q.dtype == np.float64 and q.tolist() == [1.0, 0.0, 1.0]


def test_python_list_and_fraction_free():
    ref = O.preset("float8_e4m3fn")
    xs = [0.3, 448, 464, 465, -1e6, 2**-10]
    got = mf.encode(xs, "float8_e4m3fn")
    assert got.tolist() == [O.project(ref, x) for x in xs]


# ---------------------------------------------------------------------------- worked examples


def test_worked_examples_semantics_md():
    f = "float8_e4m3fn"
    xs = np.array([448.0, 464.0, 465.0, 1e6])
    assert mf.encode(xs, f).tolist() == [0x7E, 0x7E, 0x7F, 0x7F]
    assert mf.encode(xs, f, rounding="toward_zero").tolist() == [0x7E] * 4
    assert mf.encode(xs, f, saturation="finite").tolist() == [0x7E] * 4
    x = np.array([0.3])
    for mode, v in [
        ("nearest_even", 0.3125),
        ("nearest_away", 0.3125),
        ("nearest_zero", 0.3125),
        ("toward_zero", 0.28125),
        ("toward_negative", 0.28125),
        ("toward_positive", 0.3125),
        ("odd", 0.28125),
    ]:
        assert mf.quantize(x, f, rounding=mode)[0] == v, mode


def test_special_inputs_every_format():
    """±0, ±Inf, NaN, tiny and huge values for every small format, every mode and saturation."""
    for fid, (make, ref) in sorted(SMALL.items()):
        fmt = make()
        s = float(ref.smallest_subnormal())
        xs = [
            0.0,
            -0.0,
            math.inf,
            -math.inf,
            s / 2,
            -s / 2,
            s / 2 * 1.0000001,
            1e300,
            -1e300,
            5e-324,
        ]
        if ref.has_nan:
            xs += [math.nan, -math.nan]
        arr = np.array(xs)
        for mode in O.DETERMINISTIC:
            for sat in _sats(ref):
                got = mf.encode(arr, fmt, rounding=mode, saturation=sat)
                O.assert_codes_equal(
                    got, O.project_array(ref, arr, mode, sat), arr, ref, f"{fid} {mode}/{sat}"
                )


# ---------------------------------------------------------------------------- random formats


def _random_format_kwargs(draw):
    from hypothesis import assume
    from hypothesis import strategies as st

    signed = draw(st.booleans())
    e = draw(st.integers(0, 7))
    m = draw(st.integers(0, 7))
    bits = int(signed) + e + m
    assume(2 <= bits <= 10 and e + m >= 2)
    nan = draw(st.sampled_from(O.NAN_KINDS))
    if nan == "ieee":
        assume(e >= 1 and m >= 1)
    if nan == "negzero":
        assume(signed)
    subnormals = draw(st.booleans()) if e >= 1 else True
    infinities = draw(st.booleans())
    default_bias = 2 ** (e - 1) - 1 if e >= 1 else 0
    bias = draw(st.integers(default_bias - 6, default_bias + 6))
    kw = dict(
        exp_bits=e,
        man_bits=m,
        bias=bias,
        signed=signed,
        subnormals=subnormals,
        infinities=infinities,
        nan=nan,
        negative_zero=(nan != "negzero"),
    )
    try:
        ref = O.OFormat(**kw)
    except ValueError:
        assume(False)
    assume(len(ref.ladder) >= 3)
    assume(ref.has_zero or ref.has_nan)  # zero input needs a zero or a NaN
    return kw, ref


def test_random_formats_hypothesis():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def check(data):
        kw, ref = _random_format_kwargs(data.draw)
        fmt = mf.FloatFormat(**kw)
        assert O.OFormat.of(fmt) == ref
        mode = data.draw(st.sampled_from(O.ROUNDINGS))
        sat = data.draw(st.sampled_from([s for s in O.SATURATIONS if s != "nan" or ref.has_nan]))
        # e = 0 with flush: see test_flush_overflow_region_without_exponent (ambiguous corner)
        flush = data.draw(st.booleans()) if kw["exp_bits"] > 0 else False
        dtype = data.draw(st.sampled_from([np.float64, np.float32]))
        xs = O.probe_values(ref, dtype, include_nan=ref.has_nan)
        if mode in O.DETERMINISTIC:
            got = mf.encode(xs, fmt, rounding=mode, saturation=sat, flush_subnormals=flush)
            exp = O.project_array(ref, xs, mode, sat, flush_subnormals=flush)
        else:
            N = 32 if mode == "stochastic" else data.draw(st.integers(1, 12))
            seed = data.draw(st.integers(0, 2**64 - 1))
            R = O.random_stream(seed, 0, xs.size, N)
            kwn = {} if mode == "stochastic" else {"random_bits": N}
            got = mf.encode(
                xs, fmt, rounding=mode, saturation=sat, flush_subnormals=flush, seed=seed, **kwn
            )
            exp = [
                O.project(ref, float(x), mode, sat, random_bits=N, R=int(r), flush_subnormals=flush)
                for x, r in zip(xs, R)
            ]
        O.assert_codes_equal(got, exp, xs, ref, f"{kw} {mode}/{sat} flush={flush}")
        codes = np.arange(ref.num_codes)
        dec = mf.decode(codes, fmt)
        expd = O.decode_table(ref)
        same = ((dec == expd) & (np.signbit(dec) == np.signbit(expd))) | (
            np.isnan(dec) & np.isnan(expd)
        )
        assert same.all(), kw

    hypothesis  # noqa: B018
    check()


def test_flush_overflow_region_without_exponent():
    """E0M2 unsigned, NaN at the top code: max = 1, and 1.5 (the next value of the format's
    precision) is still below 2^(1-bias) = 2.  semantics.md §3: "Overflow means the rounded
    magnitude exceeds the largest finite value" -> 1.5 overflows (NaN under "none", max under
    "finite") even with flush_subnormals=True: flushing applies to results in the format's
    range, an overflowed magnitude is not a subnormal result.  (Only formats without exponent
    bits can reach this corner.)"""
    kw = dict(exp_bits=0, man_bits=2, bias=0, signed=False, infinities=False, nan="max")
    ref = O.OFormat(**kw)
    fmt = mf.FloatFormat(**kw)
    xs = np.array([1.5, 1.25, 1.0, 0.5, -1.5])
    for sat in ("none", "finite"):
        exp = O.project_array(ref, xs, "nearest_even", sat, flush_subnormals=True)
        got = mf.encode(xs, fmt, saturation=sat, flush_subnormals=True)
        O.assert_codes_equal(got, exp, xs, ref, f"flush {sat}")
