"""Bad input raises TypeError / ValueError naming the problem; odd layouts give the same codes."""

import math

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")

E4M3 = "float8_e4m3fn"


# ---------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "x",
    [
        np.array([1.0 + 2.0j, 0.5]),
        np.array([1.0 + 0.0j], dtype=np.complex64),
        np.array([1.0, None], dtype=object),
        np.array([0.5, 1.5], dtype=object),
        np.array(["1.0", "2.0"]),
        np.array([b"1.0"]),
        1.0 + 1.0j,
        "0.5",
    ],
    ids=[
        "complex128",
        "complex64",
        "object-none",
        "object-floats",
        "str",
        "bytes",
        "py-complex",
        "py-str",
    ],
)
@pytest.mark.parametrize("fn", ["encode", "quantize"])
def test_non_real_input_is_type_error(fn, x):
    with pytest.raises(TypeError):
        getattr(mf, fn)(x, E4M3)


def test_datetime_input_is_type_error():
    with pytest.raises(TypeError):
        mf.encode(np.array(["2020-01-01"], dtype="datetime64[D]"), E4M3)


# ---------------------------------------------------------------------------- NaN


@pytest.mark.parametrize("name", ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"])
@pytest.mark.parametrize("sat", ["none", "finite", "propagate"])
def test_nan_into_format_without_nan(name, sat):
    x = np.array([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="(?i)nan"):
        mf.encode(x, name, saturation=sat)
    with pytest.raises(ValueError, match="(?i)nan"):
        mf.quantize(x.astype(np.float32), name, saturation=sat)


def test_nan_into_custom_format_without_nan():
    fmt = mf.FloatFormat(**O.UNUSUAL["e0m7_none"])
    with pytest.raises(ValueError):
        mf.encode(np.array([np.nan]), fmt)
    with pytest.raises(ValueError):
        mf.encode(np.array([0.25, -np.nan]), fmt, rounding="stochastic_a", random_bits=4, seed=1)


@pytest.mark.parametrize("name", ["float6_e2m3fn", "float4_e2m1fn"])
def test_saturation_nan_needs_a_nan(name):
    with pytest.raises(ValueError, match="(?i)nan"):
        mf.encode(np.array([1.0, 1e9]), name, saturation="nan")


# ---------------------------------------------------------------------------- names


def test_unknown_rounding_lists_names():
    with pytest.raises(ValueError) as ei:
        mf.encode(np.array([1.0]), E4M3, rounding="nearest")
    msg = str(ei.value)
    for name in ("nearest_even", "toward_zero", "stochastic_a", "odd"):
        assert name in msg, msg


def test_unknown_saturation_lists_names():
    with pytest.raises(ValueError) as ei:
        mf.encode(np.array([1.0]), E4M3, saturation="clip")
    msg = str(ei.value)
    for name in ("none", "finite", "propagate"):
        assert name in msg, msg


@pytest.mark.parametrize("fmt", [123, 4.5, None, ["float8_e4m3fn"]])
def test_bad_format_argument(fmt):
    with pytest.raises((TypeError, ValueError)):
        mf.encode(np.array([1.0]), fmt)


# ---------------------------------------------------------------------------- random bits


@pytest.mark.parametrize("mode", ["stochastic_a", "stochastic_b", "stochastic_c"])
def test_missing_random_bits(mode):
    with pytest.raises(ValueError, match="random_bits"):
        mf.encode(np.array([0.3]), E4M3, rounding=mode, seed=1)
    with pytest.raises(ValueError, match="random_bits"):
        mf.encode(np.array([0.3]), E4M3, rounding=mode, random=np.array([1]))


@pytest.mark.parametrize("bits", [0, 33, -1])
def test_random_bits_out_of_range(bits):
    with pytest.raises(ValueError, match="random_bits"):
        mf.encode(np.array([0.3]), E4M3, rounding="stochastic_a", random_bits=bits, seed=1)


def test_random_shape_mismatch():
    x = np.full(10, 0.3)
    for r in (
        np.zeros(9, dtype=np.uint32),
        np.zeros((10, 2), dtype=np.uint32),
        np.zeros(11, dtype=np.uint32),
    ):
        with pytest.raises(ValueError):
            mf.encode(x, E4M3, rounding="stochastic_a", random_bits=4, random=r)
    x2 = np.full((3, 4), 0.3)
    with pytest.raises(ValueError):
        mf.encode(
            x2, E4M3, rounding="stochastic_a", random_bits=4, random=np.zeros((4, 3), np.uint32)
        )


@pytest.mark.parametrize("N", [1, 3, 8, 16])
def test_random_value_too_large(N):
    x = np.full(4, 0.3)
    r = np.array([0, 1, (1 << N) - 1, 1 << N], dtype=np.uint64)
    with pytest.raises(ValueError):
        mf.encode(x, E4M3, rounding="stochastic_a", random_bits=N, random=r)
    # the largest allowed value is fine
    ok = mf.encode(x[:3], E4M3, rounding="stochastic_a", random_bits=N, random=r[:3])
    assert ok.shape == (3,)


def test_random_negative_value():
    with pytest.raises(ValueError):
        mf.encode(
            np.full(2, 0.3),
            E4M3,
            rounding="stochastic_a",
            random_bits=8,
            random=np.array([1, -1], dtype=np.int64),
        )


def test_random_not_integer():
    with pytest.raises((TypeError, ValueError)):
        mf.encode(
            np.full(2, 0.3),
            E4M3,
            rounding="stochastic_a",
            random_bits=8,
            random=np.array([0.5, 1.0]),
        )


def test_stochastic_equal_random_too_large_for_default_bits():
    with pytest.raises(ValueError):
        mf.encode(np.full(2, 0.3), E4M3, rounding="stochastic_equal", random=np.array([0, 2]))


# ---------------------------------------------------------------------------- decode codes


@pytest.mark.parametrize(
    "name, code",
    [
        ("float6_e2m3fn", 64),
        ("float4_e2m1fn", 16),
        ("float4_e2m1fn", 255),
        ("float8_e4m3fn", 256),
        ("float16", 65536),
        ("binary12p5se", 4096),
        ("float8_e4m3fn", -1),
    ],
)
def test_decode_code_out_of_range(name, code):
    codes = np.array([0, code, 1], dtype=np.int64)
    with pytest.raises(ValueError):
        mf.decode(codes, name)


def test_decode_code_out_of_range_uint8_small_format():
    with pytest.raises(ValueError):
        mf.decode(np.array([3, 64], dtype=np.uint8), "float6_e3m2fn")


def test_decode_non_integer_codes():
    with pytest.raises((TypeError, ValueError)):
        mf.decode(np.array([1.5, 2.0]), E4M3)


# ---------------------------------------------------------------------------- shapes and layouts


def test_empty_arrays():
    for shape in ((0,), (3, 0), (0, 2, 5)):
        x = np.zeros(shape)
        c = mf.encode(x, E4M3)
        assert c.shape == shape and c.dtype == np.uint8
        assert mf.quantize(x.astype(np.float32), E4M3).shape == shape
        assert mf.encode(x, E4M3, rounding="stochastic_a", random_bits=4, seed=3).shape == shape
        assert mf.encode(x, "bfloat16").dtype == np.uint16
        assert mf.decode(np.zeros(shape, np.uint8), E4M3).shape == shape


@pytest.mark.parametrize(
    "x", [np.array(0.3), np.float64(0.3), np.float32(0.3), 0.3, 3, np.int16(-7)]
)
def test_zero_d_input_gives_zero_d_output(x):
    ref = O.preset(E4M3)
    c = mf.encode(x, E4M3)
    assert np.shape(c) == ()
    assert int(c) == O.project(ref, float(x))
    q = mf.quantize(x, E4M3)
    assert np.shape(q) == ()
    assert float(q) == O.decode_float(ref, O.project(ref, float(x)))


def test_zero_d_seeded_matches_first_element():
    a = mf.encode(np.array(0.3), E4M3, rounding="stochastic_a", random_bits=8, seed=5, offset=2)
    b = mf.encode(np.array([0.3]), E4M3, rounding="stochastic_a", random_bits=8, seed=5, offset=2)
    assert np.shape(a) == ()
    assert int(a) == int(b[0])


def _layouts(base):
    yield "step2", base[::2]
    yield "reversed", base[::-1]
    m = base[: (base.size // 12) * 12].reshape(-1, 12)
    yield "2d", m
    yield "transposed", m.T
    yield "fortran", np.asfortranarray(m)
    yield "slice-neg", m[::-2, 3:11:3]
    yield "broadcast-view", np.broadcast_to(base[:5], (4, 5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32])
def test_layouts_give_same_codes(dtype):
    rng = np.random.default_rng(11)
    base = (rng.standard_normal(600) * 50).astype(dtype)
    for what, x in _layouts(base):
        cont = np.ascontiguousarray(x)
        for kw in (
            {},
            {"rounding": "toward_negative", "saturation": "finite"},
            {"rounding": "stochastic_b", "random_bits": 5, "seed": 9, "offset": 3},
            {"rounding": "stochastic", "seed": 10},
        ):
            got = mf.encode(x, "float8_e5m2", **kw)
            exp = mf.encode(cont, "float8_e5m2", **kw)
            assert got.shape == x.shape, what
            assert np.array_equal(got, exp), (what, kw)
        q = mf.quantize(x, E4M3)
        assert np.array_equal(q, mf.quantize(cont, E4M3))


def test_layouts_random_array():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((8, 10)) * 3
    r = rng.integers(0, 16, size=(10, 8)).T  # non-contiguous random
    got = mf.encode(x, E4M3, rounding="stochastic_a", random_bits=4, random=r)
    exp = mf.encode(x, E4M3, rounding="stochastic_a", random_bits=4, random=np.ascontiguousarray(r))
    assert np.array_equal(got, exp)
    ref = O.preset(E4M3)
    expo = np.array(
        [
            O.project(ref, float(a), "stochastic_a", random_bits=4, R=int(b))
            for a, b in zip(x.reshape(-1), r.reshape(-1))
        ]
    ).reshape(x.shape)
    assert np.array_equal(got, expo)


def test_decode_layouts():
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ref = O.decode_table(O.preset(E4M3)).reshape(16, 16)
    for x in (codes[::-1], codes.T, codes[::3, ::-2]):
        got = mf.decode(x, E4M3)
        exp = mf.decode(np.ascontiguousarray(x), E4M3)
        assert got.shape == x.shape
        assert np.array_equal(got, exp, equal_nan=True)
    assert np.array_equal(mf.decode(codes.T, E4M3), ref.T, equal_nan=True)


def test_input_not_modified():
    x = np.array([0.3, -1e9, math.inf, 5.0])
    keep = x.copy()
    mf.encode(x, E4M3)
    mf.quantize(x, E4M3, rounding="stochastic_a", random_bits=4, seed=1)
    assert np.array_equal(x, keep)
