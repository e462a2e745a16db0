"""BlockArray (minifloat/block_array.py): arrays in block-scaled formats through mf.asarray.
Elementwise arithmetic is checked against the rational oracle (the exact rational result of
each operation projected by tests/oracle.py's block rules), including results that a
binary64 round-to-nearest intermediate would double-round; views, products, pickling,
storage and bad input."""

import json
import pickle
from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")
from minifloat.block_array import exact_odd  # noqa: E402

MX8 = mf.format("mxfp8_e4m3")
MX4 = mf.format("mxfp4_e2m1")


def odesc(bf):
    e = bf.element
    return {"element": O.OFormat.of(e), "scale": O.OFormat.of(bf.scale),
            "rule": bf.scale_rule, "prec": e.man_bits}


OPS = {"add": lambda p, q: p + q, "subtract": lambda p, q: p - q,
       "multiply": lambda p, q: p * q, "divide": lambda p, q: p / q}


def oracle_values(bf, exact_rows):
    """Values (float64) of the oracle's projection of 2-D exact (Fraction) results, blocks
    along the last axis (MX formats: per-tensor scale 1)."""
    d = odesc(bf)
    k = bf.block_size[0]
    out = []
    for row in exact_rows:
        vals = []
        for b in range(0, len(row), k):
            sc, cs = O.block_encode(d, row[b:b + k])
            vals += [O.to_float(O.block_value(d, c, sc)) for c in cs]
        out.append(vals)
    return np.array(out)


def _operands(rng, shape=(6, 64)):
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-20, 20, shape[:-1] + (1,)))
    y = rng.standard_normal(shape) * np.exp2(rng.integers(-20, 20, shape[:-1] + (1,)))
    y[y == 0] = 1.0
    return x, y


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("out_fmt", [MX8, MX4], ids=str)
def test_elementwise_is_the_exact_result_rounded_once(op, out_fmt):
    rng = np.random.default_rng(hash(op) % 1000)
    x, y = _operands(rng)
    a, b = mf.asarray(x, MX8), mf.asarray(y, MX8)
    av, bv = np.asarray(a), np.asarray(b)
    exact = [[OPS[op](Fraction(p), Fraction(q)) for p, q in zip(ra, rb)]
             for ra, rb in zip(av, bv)]
    out = mf.asarray(np.zeros(x.shape), out_fmt)
    got = getattr(np, op)(a, b, out=out)
    assert got is out and out.format == out_fmt
    np.testing.assert_array_equal(np.asarray(got), oracle_values(out_fmt, exact))
    if out_fmt == MX8:
        np.testing.assert_array_equal(np.asarray(getattr(np, op)(a, b)), np.asarray(got))


def test_results_a_binary64_intermediate_would_double_round():
    # 1.25 is the E2M1 midpoint of 1 and 1.5 (block scale 1: the block's amax is 4); adding
    # 2^-80 must round up, and subtracting it down; binary64 nearest would give 1.25 and the
    # tie would go to even (1.0) both times
    x = np.full((1, 32), 1.25)
    x[0, 0] = 4.0
    tiny = np.full((1, 32), 2.0 ** -80)
    a, t = mf.asarray(x, MX8), mf.asarray(tiny, MX8)
    assert np.asarray(t)[0, 1] == 2.0 ** -80
    up = np.add(a, t, out=mf.asarray(np.zeros((1, 32)), MX4))
    down = np.subtract(a, t, out=mf.asarray(np.zeros((1, 32)), MX4))
    assert np.asarray(up)[0, 1] == 1.5 and np.asarray(down)[0, 1] == 1.0
    # products and quotients: (1 + 2^-52)^2 = 1 + 2^-51 + 2^-104 rounds to nearest at the
    # even 1 + 2^-51, to odd at 1 + 2^-51 + 2^-52; 1/3 is not a binary64 either
    u = np.array([1 + 2.0 ** -52])
    assert exact_odd("multiply", [u, u])[0] == 1 + 2.0 ** -51 + 2.0 ** -52
    assert exact_odd("multiply", [u, np.array([1.125])])[0] == 1.125 + 2.0 ** -52  # odd RN
    # 1/5 rounds to nearest up to 0x3FC999999999999A (even); to odd down to ...99
    q = exact_odd("divide", [np.array([1.0, -1.0]), np.array([5.0, 5.0])])
    assert int(q.view(np.uint64)[0]) == 0x3FC9999999999999 and q[1] == -q[0]
    s = exact_odd("sqrt", [np.array([2.0, 4.0])])
    assert s[1] == 2.0 and int(s.view(np.uint64)[0]) & 1 == 1


def test_unary_minmax_and_comparisons_on_exact_values():
    rng = np.random.default_rng(3)
    x, y = _operands(rng, (3, 32))
    a, b = mf.asarray(x, MX8), mf.asarray(y, MX8)
    av, bv = np.asarray(a), np.asarray(b)
    for name in ("negative", "absolute", "positive"):
        np.testing.assert_array_equal(np.asarray(getattr(np, name)(a)),
                                      oracle_values(MX8, [[Fraction(getattr(np, name)(v))
                                                           for v in r] for r in av]))
    np.testing.assert_array_equal(np.asarray(np.maximum(a, b)), oracle_values(
        MX8, [[Fraction(max(p, q)) for p, q in zip(ra, rb)] for ra, rb in zip(av, bv)]))
    np.testing.assert_array_equal(a < b, av < bv)
    np.testing.assert_array_equal(a == a, np.ones(a.shape, bool))
    assert np.isnan(mf.asarray(np.array([[np.nan] + [1.0] * 31]), MX8)).all()  # NaN scale
    # a float operand enters with its exact value
    np.testing.assert_array_equal(np.asarray(a * 0.5), av * 0.5)


def test_values_storage_views_and_pickle():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 64))
    a = mf.asarray(x, MX4)
    assert isinstance(a, mf.BlockArray) and a.shape == (4, 64) and a.scales.shape == (4, 2)
    np.testing.assert_array_equal(np.asarray(a), mf.quantize(x, MX4))
    assert a.nbytes == 4 * 64 // 2 + 8  # packed E2M1 codes + 8 E8M0 scales
    nv = mf.asarray(rng.standard_normal((2, 32)), "nvfp4")
    assert nv.nbytes == 32 + 4 + 4  # + 4 E4M3 scales + the float32 tensor scale
    t = a.T
    assert t.shape == (64, 4) and t.format.axis == (0,)
    np.testing.assert_array_equal(np.asarray(t), np.asarray(a).T)
    tile = mf.BlockFormat("e2m1", "e8m0", (2, 8), axis=(0, 2))
    c = mf.asarray(rng.standard_normal((4, 3, 16)), tile)
    ct = c.transpose(2, 1, 0)
    assert ct.format.axis == (0, 2) and ct.format.block_size == (8, 2)
    np.testing.assert_array_equal(np.asarray(ct), np.asarray(c).transpose(2, 1, 0))
    p = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(p.codes, a.codes)
    np.testing.assert_array_equal(p.scales, a.scales)
    again = mf.BlockArray.from_block_codes(a.codes, a.scales, 1.0, MX4)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(a))
    e4 = a.astype("e4m3")  # into a per-tensor format: a MiniArray
    assert isinstance(e4, mf.MiniArray)
    np.testing.assert_array_equal(np.asarray(e4), mf.quantize(np.asarray(a), "e4m3"))
    m8 = mf.asarray(mf.asarray(x, "e4m3"), MX8)  # a MiniArray into a block format
    np.testing.assert_array_equal(np.asarray(m8), mf.quantize(mf.quantize(x, "e4m3"), MX8))


def test_matmul_is_the_block_dot_product():
    rng = np.random.default_rng(7)
    a = mf.asarray(rng.standard_normal((3, 64)), MX8)
    b = mf.asarray(rng.standard_normal((64, 2)), MX8.replace(axis=0))
    want = mf.block_matmul(a.block_codes, b.block_codes)
    np.testing.assert_array_equal(a @ b, want)
    np.testing.assert_array_equal(np.matmul(a, b), want)
    np.testing.assert_array_equal(mf.matmul(a, b), want)
    # against the oracle's MX dot product (float32 accumulation)
    d = odesc(MX8)
    ev = lambda fmt, c: O.decode(O.OFormat.of(fmt), int(c))  # noqa: E731
    sv = lambda c: O.decode(O.OFormat.of(MX8.scale), int(c))  # noqa: E731
    for i in range(3):
        for j in range(2):
            r = O.block_dot([ev(MX8.element, c) for c in a.codes[i]],
                            [sv(s) for s in a.scales[i]],
                            [ev(MX8.element, c) for c in b.codes[:, j]],
                            [sv(s) for s in b.scales[:, j]], 32)
            assert O.to_float(O.round_binary32(r)) == float(want[i, j])
    assert d["rule"] == "floor"


def test_bad_input_names_the_problem():
    a = mf.asarray(np.ones((2, 32)), MX8)
    with pytest.raises(TypeError, match="cannot be indexed"):
        a[0]
    with pytest.raises(TypeError, match="cannot be reshaped"):
        a.reshape(64)
    with pytest.raises(TypeError, match="two 2-D BlockArrays"):
        a @ np.ones((32, 2))
    with pytest.raises(TypeError, match="not supported on BlockArray"):
        np.exp(a)
    with pytest.raises(TypeError, match="out= must be a BlockArray"):
        np.add(a, a, out=np.zeros((2, 32)))
    out = mf.asarray(np.ones((1, 32)), MX8)
    before = out.codes.copy()
    with pytest.raises(ValueError, match="out= has shape"):
        np.add(a, a, out=out)
    np.testing.assert_array_equal(out.codes, before)  # nothing written
    with pytest.raises(ValueError, match="padding"):
        mf.asarray(np.ones((2, 20)), MX8)
    with pytest.raises(ValueError, match="scales"):
        mf.BlockArray.from_block_codes(a.codes, a.scales[:, :0], 1.0, MX8)
    with pytest.raises(TypeError, match="block format"):
        mf.BlockArray.from_block_codes(a.codes, a.scales, 1.0, "e4m3")


def test_save_and_load_keep_codes_scales_and_format(tmp_path):
    rng = np.random.default_rng(9)
    for fmt in ("nvfp4", MX4.replace(axis=0, padding="zeros")):
        a = mf.asarray(rng.standard_normal((40, 16)) * 100, fmt)
        mf.save(tmp_path / "a.npz", a)
        b = mf.load(tmp_path / "a.npz")
        assert isinstance(b, mf.BlockArray) and b.format == a.format
        assert b.tensor_scale == a.tensor_scale
        np.testing.assert_array_equal(b.codes, a.codes)
        np.testing.assert_array_equal(b.scales, a.scales)
    fx = mf.asarray(rng.standard_normal(8), mf.FixedFormat(3, 4))  # non-float MiniArrays too
    mf.save(tmp_path / "f.npz", fx)
    g = mf.load(tmp_path / "f.npz")
    assert g.format == fx.format
    np.testing.assert_array_equal(g.codes, fx.codes)
    from minifloat.formats.json import to_json

    np.savez(tmp_path / "bad.npz", codes=a.codes, format_json=np.asarray(json.dumps(
        to_json(MX4))))
    with pytest.raises(ValueError, match="needs scales"):
        mf.load(tmp_path / "bad.npz")


def test_ml_dtypes_views_of_elements_and_scales():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.random.default_rng(11).standard_normal((3, 64)) * 10
    for name, edt in (("mxfp8_e4m3", ml_dtypes.float8_e4m3fn),
                      ("mxfp4_e2m1", ml_dtypes.float4_e2m1fn)):
        a = mf.asarray(x, name)
        el, sc = a.to_ml_dtypes()
        assert el.dtype == edt and sc.dtype == ml_dtypes.float8_e8m0fnu
        assert np.shares_memory(el, a.codes)
        v = el.astype(np.float64) * np.repeat(sc.astype(np.float64), 32, axis=1)
        np.testing.assert_array_equal(v, np.asarray(a))  # ml_dtypes' own decoding
    with pytest.raises(ValueError, match="not an ml_dtypes type"):
        mf.asarray(x, "mxint8").to_ml_dtypes()
