"""Decoding every code of every preset, every P3109 format with K <= 12 and unusual formats.

Expected values: tests/oracle.py (exact rationals) built from the *definition* of each format
(ml_dtypes layout, P3109 rules, or the keyword arguments passed), not from the package's
own attributes.
"""

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")


def _check_same(got, ref, what):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    assert got.shape == ref.shape
    nan_g, nan_r = np.isnan(got), np.isnan(ref)
    bad = np.nonzero(
        (nan_g != nan_r) | (~nan_r & ((got != ref) | (np.signbit(got) != np.signbit(ref))))
    )[0]
    if bad.size:
        lines = [f"code {i:#x}: expected {ref[i]!r} got {got[i]!r}" for i in bad[:10]]
        pytest.fail(f"{what}: {bad.size} codes decode wrong\n" + "\n".join(lines), pytrace=False)


def _check_format(fmt, ref, what):
    """decode of every code, float64 and float32, ordering, and encode(decode(c)) == c."""
    codes = np.arange(ref.num_codes, dtype=np.uint8 if ref.bits <= 8 else np.uint16)
    expected = O.decode_table(ref)
    got = mf.decode(codes, fmt)
    assert got.dtype == np.float64
    assert got.shape == codes.shape
    _check_same(got, expected, what)

    got32 = mf.decode(codes, fmt, dtype=np.float32)
    assert got32.dtype == np.float32
    with np.errstate(over="ignore"):
        _check_same(got32, expected.astype(np.float32), what + " (float32)")

    # monotone over the non-negative magnitudes (codes without the sign bit), NaN removed
    pos = expected[: ref.nmag]
    pos = pos[~np.isnan(pos)]
    assert np.all(np.diff(pos) > 0)
    gpos = got[: ref.nmag]
    gpos = gpos[~np.isnan(gpos)]
    assert np.all(np.diff(gpos) > 0)

    # encode(decode(c)) == c for every non-NaN code (value round trip)
    keep = ~np.isnan(expected)
    back = mf.encode(got[keep], fmt)
    assert back.dtype == np.dtype(np.uint8 if ref.bits <= 8 else np.uint16)
    O.assert_codes_equal(back, codes[keep], got[keep], ref, what + " round trip")
    # NaN codes project to the canonical NaN (whatever sign decode gave them)
    if (~keep).any():
        nans = mf.encode(got[~keep], fmt)
        canon = {ref.nan_code(False), ref.nan_code(True)}
        assert set(np.unique(nans).tolist()) <= canon


@pytest.mark.parametrize("name", O.PRESET_NAMES)
def test_decode_presets(name):
    _check_format(mf.format(name), O.preset(name), name)


@pytest.mark.parametrize("name", O.PRESET_NAMES)
def test_decode_by_name(name):
    ref = O.preset(name)
    codes = np.arange(ref.num_codes, dtype=np.uint8 if ref.bits <= 8 else np.uint16)
    _check_same(mf.decode(codes, name), O.decode_table(ref), name)


@pytest.mark.parametrize("fid", sorted(O.UNUSUAL))
def test_decode_unusual(fid):
    kw = O.UNUSUAL[fid]
    _check_format(mf.FloatFormat(**kw), O.OFormat(**kw), fid)


_P3109 = O.p3109_params(12)


@pytest.mark.parametrize("k,p,signed,ext", _P3109, ids=[O.p3109_name(*a) for a in _P3109])
def test_decode_p3109(k, p, signed, ext):
    ref = O.p3109(k, p, signed, ext)
    if not ref.representable_in_float64():
        with pytest.raises(ValueError):
            mf.p3109(k, p, signed=signed, extended=ext)
        return
    _check_format(mf.p3109(k, p, signed=signed, extended=ext), ref, O.p3109_name(k, p, signed, ext))


def test_decode_shapes_and_dtypes():
    fmt = mf.format("float8_e4m3fn")
    ref = O.preset("float8_e4m3fn")
    codes = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    got = mf.decode(codes, fmt)
    assert got.shape == (4, 8, 8)
    _check_same(got, O.decode_table(ref).reshape(4, 8, 8), "3-d")
    # other integer code dtypes are accepted as long as the values are in range
    for dt in (np.int32, np.int64, np.uint16, np.uint32):
        _check_same(mf.decode(codes.astype(dt), fmt), O.decode_table(ref).reshape(4, 8, 8), str(dt))
    # python list / scalar
    assert mf.decode([0x38], fmt)[0] == 1.0
    # 0-d input gives 0-d output (the codes' shape is kept)
    for scalar in (np.uint8(0x38), np.array(0x38, dtype=np.uint8), 0x38):
        out = mf.decode(scalar, fmt)
        assert np.shape(out) == (), (type(scalar), np.shape(out))
        assert float(out) == 1.0
    # non-contiguous codes
    _check_same(
        mf.decode(codes[:, ::2, ::-1], fmt),
        O.decode_table(ref).reshape(4, 8, 8)[:, ::2, ::-1],
        "strided",
    )


def test_decode_empty():
    got = mf.decode(np.zeros((0, 3), dtype=np.uint8), "float8_e5m2")
    assert got.shape == (0, 3) and got.dtype == np.float64
