"""Format objects: presets, P3109 formats, finfo-style properties, validation.

Expected values come from ml_dtypes.finfo / numpy.finfo and from tests/oracle.py, never from
minifloat itself.
"""

from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")

ALIASES = {
    "e4m3": "float8_e4m3fn",
    "e5m2": "float8_e5m2",
    "e4m3fnuz": "float8_e4m3fnuz",
    "e5m2fnuz": "float8_e5m2fnuz",
    "e3m4": "float8_e3m4",
    "e8m0": "float8_e8m0fnu",
    "e2m3": "float6_e2m3fn",
    "e3m2": "float6_e3m2fn",
    "e2m1": "float4_e2m1fn",
    "fp16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
}

FINFO_NAMES = (
    "max",
    "min",
    "smallest_normal",
    "smallest_subnormal",
    "eps",
    "epsneg",
    "maxexp",
    "minexp",
    "bits",
    "nexp",
    "nmant",
)


def _finfo(name):
    if name == "float16":
        return np.finfo(np.float16)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return ml_dtypes.finfo(getattr(ml_dtypes, name))


def _params(fmt):
    return (
        fmt.exp_bits,
        fmt.man_bits,
        fmt.bias,
        fmt.signed,
        fmt.subnormals,
        fmt.infinities,
        fmt.nan,
        fmt.negative_zero,
    )


def _oracle_props(f):
    """finfo-style values computed from the oracle's ladder (ml_dtypes conventions)."""
    vals = f.ladder
    one = Fraction(1)
    out = {
        "max": f.max,
        "min": -f.max if f.signed else f.smallest,
        "smallest_normal": f.smallest_normal,
        "smallest_subnormal": f.smallest_subnormal(),
        "bits": f.bits,
        "nexp": f.exp_bits,
        "nmant": f.man_bits,
        "maxexp": O.floor_log2(f.max) + 1,
        "minexp": (1 - f.bias) if f.subnormals else -f.bias,
    }
    # eps / epsneg: distance from 1 to its neighbours, when 1 and both neighbours exist
    if one in vals:
        i = vals.index(one)
        if 0 < i < len(vals) - 1:
            out["eps"] = vals[i + 1] - one
            out["epsneg"] = one - vals[i - 1]
    return out


# ---------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", O.PRESET_NAMES)
def test_preset_parameters_mean_the_ml_dtypes_format(name):
    fmt = mf.format(name)
    ref = O.preset(name)
    # the attributes, read through the oracle, describe exactly the ml_dtypes code table
    got = O.OFormat.of(fmt)
    assert got == ref, (got, ref)
    assert fmt.exp_bits == ref.exp_bits and fmt.man_bits == ref.man_bits
    assert fmt.bias == ref.bias
    assert fmt.signed == ref.signed
    assert fmt.nan == ref.nan
    if ref.signed:
        assert fmt.negative_zero == ref.negative_zero


@pytest.mark.parametrize("name", O.PRESET_NAMES)
@pytest.mark.parametrize("prop", FINFO_NAMES)
def test_preset_finfo_matches_ml_dtypes(name, prop):
    fmt = mf.format(name)
    fi = _finfo(name)
    ref = getattr(fi, prop)
    got = getattr(fmt, prop)
    if prop in ("bits", "nexp", "nmant", "maxexp", "minexp"):
        assert int(got) == int(ref)
        assert isinstance(got, (int, np.integer))
    else:
        assert isinstance(got, float), type(got)
        assert got == float(ref)


@pytest.mark.parametrize("name", O.PRESET_NAMES)
def test_preset_finfo_matches_oracle(name):
    fmt = mf.format(name)
    for prop, val in _oracle_props(O.preset(name)).items():
        if val is None:
            continue
        assert getattr(fmt, prop) == val, prop


@pytest.mark.parametrize("name", O.PRESET_NAMES)
def test_preset_code_properties(name):
    fmt = mf.format(name)
    f = O.preset(name)
    assert fmt.num_codes == f.num_codes
    assert fmt.code_of_nan == f.nan_code(False)
    assert fmt.code_of_inf == f.inf_code(False)
    assert fmt.code_of_max == f.max_code(False)
    assert fmt.code_of_zero == f.zero_code(False)
    assert np.dtype(fmt.dtype) == np.dtype(np.uint8 if f.bits <= 8 else np.uint16)


def test_presets_dict():
    assert set(mf.PRESETS) == set(O.PRESET_NAMES)
    for name, fmt in mf.PRESETS.items():
        assert fmt == mf.format(name)
        assert isinstance(fmt, mf.FloatFormat)


@pytest.mark.parametrize("alias, name", sorted(ALIASES.items()))
def test_aliases(alias, name):
    assert mf.format(alias) == mf.format(name)
    assert _params(mf.format(alias)) == _params(mf.format(name))


def test_float16_is_ieee_half():
    assert O.OFormat.of(mf.format("float16")) == O.OFormat(5, 10)
    assert O.OFormat.of(mf.format("bfloat16")) == O.OFormat(8, 7)


# ---------------------------------------------------------------------------- P3109


def _p3109_ok(k, p, signed, ext):
    return O.p3109(k, p, signed, ext).representable_in_float64()


@pytest.mark.parametrize("k", range(3, 13))
def test_p3109_parameters(k):
    for kk, p, signed, ext in O.p3109_params(k, k):
        if not _p3109_ok(kk, p, signed, ext):
            with pytest.raises(ValueError, match="float64"):
                mf.p3109(k, p, signed=signed, extended=ext)
            continue
        fmt = mf.p3109(k, p, signed=signed, extended=ext)
        assert fmt.bits == k
        assert fmt.num_codes == 2**k
        assert fmt.signed == signed
        assert fmt.subnormals
        if signed:
            assert fmt.bias == 2 ** (k - p - 1)
            assert fmt.code_of_nan == 2 ** (k - 1)
            assert fmt.code_of_inf == (2 ** (k - 1) - 1 if ext else None)
            assert not fmt.negative_zero
        else:
            assert fmt.bias == 2 ** (k - p)
            assert fmt.code_of_nan == 2**k - 1
            assert fmt.code_of_inf == (2**k - 2 if ext else None)
        assert fmt.code_of_zero == 0
        # the attributes, read through the oracle, give the P3109 code table
        got = O.OFormat.of(fmt)
        ref = O.p3109(k, p, signed, ext)
        assert [O.decode(got, c) for c in range(2**k)] == [O.decode(ref, c) for c in range(2**k)]
        if signed and ext:
            assert O.decode(got, 2**k - 1) == O.NINF
        assert fmt.code_of_max == ref.max_code(False)
        for prop, val in _oracle_props(ref).items():
            if prop not in ("eps", "epsneg"):
                assert getattr(fmt, prop) == val, (k, p, signed, ext, prop)


@pytest.mark.parametrize("k", range(3, 13))
def test_p3109_eps(k):
    """eps / epsneg: the distances from 1 to its neighbours (np.finfo / ml_dtypes definition)."""
    for kk, p, signed, ext in O.p3109_params(k, k):
        if not _p3109_ok(kk, p, signed, ext):
            continue
        fmt = mf.p3109(k, p, signed=signed, extended=ext)
        props = _oracle_props(O.p3109(k, p, signed, ext))
        if "eps" in props:
            assert (fmt.eps, fmt.epsneg) == (props["eps"], props["epsneg"]), (k, p, signed, ext)


@pytest.mark.parametrize(
    "k,p,signed,ext",
    [
        (8, 3, True, True),
        (8, 4, True, False),
        (8, 1, False, True),
        (8, 5, False, False),
        (12, 5, True, True),
        (6, 3, False, True),
    ],
)
def test_p3109_names(k, p, signed, ext):
    fmt = mf.p3109(k, p, signed=signed, extended=ext)
    assert mf.format(O.p3109_name(k, p, signed, ext)) == fmt
    if signed and ext:
        assert mf.format(f"binary{k}p{p}") == fmt


def test_p3109_default_is_signed_extended():
    assert mf.p3109(8, 3) == mf.p3109(8, 3, signed=True, extended=True)
    assert mf.format("binary8p3") == mf.format("binary8p3se")


@pytest.mark.parametrize(
    "k,p,signed", [(16, 1, True), (13, 1, True), (12, 1, False), (15, 2, False)]
)
def test_p3109_beyond_float64_raises(k, p, signed):
    assert not _p3109_ok(k, p, signed, True)
    with pytest.raises(ValueError, match="float64"):
        mf.p3109(k, p, signed=signed)


def test_p3109_edge_of_float64_ok():
    # binary12p1 (signed): values 2^-1023 .. 2^1022, all float64
    assert _p3109_ok(12, 1, True, True)
    fmt = mf.p3109(12, 1)
    assert fmt.smallest_subnormal == 2.0**-1023
    assert fmt.max == 2.0**1022


# ---------------------------------------------------------------------------- FloatFormat


@pytest.mark.parametrize("fid", sorted(O.UNUSUAL))
def test_unusual_format_properties(fid):
    kw = O.UNUSUAL[fid]
    fmt = mf.FloatFormat(**kw)
    ref = O.OFormat(**kw)
    assert O.OFormat.of(fmt) == ref
    assert fmt.bits == ref.bits
    assert fmt.num_codes == ref.num_codes
    assert fmt.code_of_nan == ref.nan_code(False)
    assert fmt.code_of_inf == ref.inf_code(False)
    assert fmt.code_of_max == ref.max_code(False)
    assert fmt.code_of_zero == ref.zero_code(False)
    assert np.dtype(fmt.dtype) == np.dtype(np.uint8 if ref.bits <= 8 else np.uint16)
    props = _oracle_props(ref)
    for prop in ("max", "min", "smallest_subnormal", "bits", "nexp", "nmant"):
        assert getattr(fmt, prop) == props[prop], prop
    if ref.exp_bits > 0:
        assert fmt.smallest_normal == props["smallest_normal"]
    assert fmt.maxexp == props["maxexp"]
    if ref.exp_bits > 0:  # no normal binade without exponent bits: leave it open
        assert fmt.minexp == props["minexp"]


@pytest.mark.parametrize("fid", sorted(O.UNUSUAL))
def test_unusual_format_eps(fid):
    """eps/epsneg, compared where 1 is a value with neighbours on both sides."""
    kw = O.UNUSUAL[fid]
    props = _oracle_props(O.OFormat(**kw))
    if "eps" not in props:
        pytest.skip("1 is not a value of this format")
    fmt = mf.FloatFormat(**kw)
    assert (fmt.eps, fmt.epsneg) == (props["eps"], props["epsneg"])


def test_default_bias():
    for e in range(1, 9):
        assert mf.FloatFormat(e, 2).bias == 2 ** (e - 1) - 1


def test_equality_and_hash():
    a = mf.FloatFormat(4, 3, bias=9)
    b = mf.FloatFormat(4, 3, bias=9)
    c = mf.FloatFormat(4, 3, bias=8)
    d = mf.FloatFormat(4, 3, bias=9, subnormals=False)
    assert a == b and hash(a) == hash(b)
    assert a != c and a != d
    assert len({a, b, c, d}) == 3
    table = {a: 1}
    assert table[b] == 1
    assert mf.format("float8_e4m3fn") == mf.format("float8_e4m3fn")
    assert hash(mf.format("float8_e4m3fn")) == hash(mf.format("e4m3"))
    assert mf.format("float8_e4m3fn") != mf.format("float8_e4m3")
    assert a != "e4m3" and a is not None


def test_repr():
    reprs = {repr(mf.format(n)) for n in O.PRESET_NAMES}
    assert len(reprs) == len(O.PRESET_NAMES)
    assert "e4m3fn" in repr(mf.format("float8_e4m3fn"))
    r = repr(mf.FloatFormat(3, 4, bias=5))
    assert isinstance(r, str) and "5" in r
    named = mf.FloatFormat(3, 4, bias=5, name="myfmt")
    assert named.name == "myfmt"


def test_format_accepts_format_object():
    fmt = mf.FloatFormat(3, 4, bias=5)
    assert mf.format(fmt) == fmt


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((0, 0), {}, "exp_bits|man_bits"),
        ((8, 8), {}, "bits"),  # 17 bits
        ((9, 7), {}, "bits"),  # 17 bits
        ((16, 0), {"signed": True}, "bits"),
        ((1, 0), {"signed": False}, "bits"),  # 1 bit
        ((0, 1), {"signed": False, "bias": 0, "nan": "none", "infinities": False}, "bits"),
        ((-1, 3), {}, "exp_bits"),
        ((3, -1), {}, "man_bits"),
        ((4, 3), {"nan": "negzero", "negative_zero": True}, "negative_zero|negzero"),
        ((4, 3), {"nan": "bogus"}, "nan"),
        ((4, 3), {"nan": "ieee", "negative_zero": False}, "negative_zero"),
        ((12, 3), {}, "float64"),  # bias 2047: subnormals below 2^-1074
        ((8, 3), {"bias": -1000}, "float64"),  # max far above float64
    ],
)
def test_invalid_parameters(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mf.FloatFormat(*args, **kwargs)


def test_total_bits_bounds_ok():
    assert mf.FloatFormat(8, 7).bits == 16
    assert mf.FloatFormat(2, 0, signed=False, nan="none", infinities=False).bits == 2
    assert mf.FloatFormat(8, 8, signed=False).bits == 16
    assert np.dtype(mf.FloatFormat(8, 8, signed=False).dtype) == np.uint16
    assert np.dtype(mf.FloatFormat(4, 3).dtype) == np.uint8


@pytest.mark.parametrize(
    "name", ["float8_nope", "e9m9", "", "binary8p9", "binary8p0", "binary8p3xx", "float8"]
)
def test_unknown_name(name):
    with pytest.raises(ValueError):
        mf.format(name)


def test_unknown_name_in_encode():
    with pytest.raises(ValueError):
        mf.encode(np.zeros(3), "no_such_format")
