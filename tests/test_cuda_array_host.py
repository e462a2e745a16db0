"""MiniArray device placement without a GPU: a stand-in ``cupy`` (NumPy arrays typed as CuPy's,
``RawModule`` built by g++ as host code, tests/test_cuda_source.py) runs the whole path
``MiniArray`` -> ``minifloat.ops`` -> ``cuda.elementwise`` -> kernel.

Checked: ``mf.asarray`` of a CuPy array gives a MiniArray on ``cuda:0``; ``to_device`` /
``get`` move codes without re-rounding; operators, ufuncs, ``astype``, ``out=``/``where=`` and
Python-scalar operands on device arrays equal the CPU results bit for bit (stochastic modes
included); the selections (maximum/minimum/fmax/fmin, max/min reductions) pick the same codes
as the CPU, NaN, -0 and mixed formats included; mixing devices raises ValueError naming both,
and what has no GPU kernel yet (sign, power, fixed-point/LNS arithmetic, implicit NumPy
conversion) raises TypeError naming ``.get()``.  What this cannot show: real device execution (tests/gpu/).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest
from test_cuda_arith_host import _stand_in  # tests/ is on sys.path (conftest.py)
from test_cuda_source import needs_gxx

import minifloat as mf
from minifloat.backends import cuda


@pytest.fixture()
def cp(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    m: Any = _stand_in(str(tmp_path))
    nd = m.ndarray
    nd.device = property(lambda self: types.SimpleNamespace(id=0))

    class Device:
        def __init__(self, n: int) -> None:
            assert n == 0, "the stand-in has one GPU"

        def __enter__(self) -> Device:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    m.cuda.Device = Device
    m.cuda.runtime.getDevice = lambda: 0

    def copyto(dst: Any, src: Any, where: Any = True) -> None:
        np.copyto(dst, src, where=where)

    m.copyto = copyto
    m.pad = lambda x, width, **kw: np.pad(np.asarray(x), width, **kw).view(nd)
    m.abs, m.isfinite = np.abs, np.isfinite

    def passthrough(fn: Any) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            r = fn(*args, **kw)
            return r.view(nd) if isinstance(r, np.ndarray) else r
        return call

    for name in ("maximum", "minimum", "fmax", "fmin", "where", "isnan", "max", "min",
                 "argmax", "take_along_axis", "expand_dims", "squeeze"):
        setattr(m, name, passthrough(getattr(np, name)))
    for t in ("uint32", "uint64", "int64", "float32", "float64"):
        setattr(m, t, getattr(np, t))
    orig = m.asarray
    m.asarray = lambda a, dtype=None: orig(np.asarray(a), dtype=dtype)
    monkeypatch.setitem(sys.modules, "cupy", m)
    monkeypatch.setattr(cuda, "_MODULES", {})
    return m


def _x(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 4


@needs_gxx
def test_placement_and_moves(cp: Any) -> None:
    x = _x(64, 0)
    da = mf.asarray(cp.asarray(x), "e4m3")
    assert da.device == "cuda:0" and type(da.codes) is cp.ndarray
    a = mf.asarray(x, "e4m3")
    assert a.device == "cpu"
    np.testing.assert_array_equal(np.asarray(da.codes), a.codes)
    back = da.get()
    assert back.device == "cpu" and type(back.codes) is np.ndarray
    np.testing.assert_array_equal(back.codes, a.codes)
    assert da.to_device("cpu").device == "cpu"
    up = a.to_device("cuda")
    assert up.device == "cuda:0" and type(up.codes) is cp.ndarray
    assert up.to_device("cuda:0") is up and a.to_device("cpu") is a
    assert "device='cuda:0'" in repr(da) and "device" not in repr(a)
    np.testing.assert_array_equal(np.asarray(da.values()), a.values())
    for bad in ("gpu", "cuda:x", "cuda:-1", 0, None):
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
            a.to_device(bad)  # type: ignore[arg-type]


@needs_gxx
def test_arithmetic_on_device_equals_cpu(cp: Any) -> None:
    x, y = _x(256, 1), _x(256, 2)
    a, b = mf.asarray(x, "e4m3"), mf.asarray(y, "e4m3")
    da, db = a.to_device("cuda"), b.to_device("cuda")

    def same(dev: mf.MiniArray, host: mf.MiniArray) -> None:
        assert dev.device == "cuda:0" and dev.format == host.format
        np.testing.assert_array_equal(np.asarray(dev.codes), host.codes)

    same(da + db, a + b)
    same(da * db, a * b)
    same(da / db, a / b)
    same(-da, -a)
    same(abs(da), abs(a))
    same(np.sqrt(abs(da)), np.sqrt(abs(a)))
    same(da * 2.0, a * 2.0)  # a Python scalar follows the array to the GPU
    same(1.5 - da, 1.5 - a)
    same(mf.fma(da, db, da), mf.fma(a, b, a))
    same(np.square(da), np.square(a))
    kw: dict[str, Any] = {"rounding": "stochastic_a", "random_bits": 8, "seed": 3, "offset": 9}
    same(mf.multiply(da, db, **kw), mf.multiply(a, b, **kw))
    same(mf.add(da, db, out_format="e5m2", rounding="toward_zero"),
         mf.add(a, b, out_format="e5m2", rounding="toward_zero"))
    same(da.astype("float16"), a.astype("float16"))
    # broadcasting
    same(da.reshape(16, 16) + db.reshape(16, 16)[:1], a.reshape(16, 16) + b.reshape(16, 16)[:1])
    # out= and where=: the masked elements keep out's codes
    mask = np.arange(256) % 3 == 0
    out_h, out_d = a.copy(), a.copy().to_device("cuda")
    mf.multiply(a, b, out=out_h, where=mask)
    got = mf.multiply(da, db, out=out_d, where=mask)
    assert got is out_d
    same(out_d, out_h)


@needs_gxx
def test_mixing_devices_and_missing_kernels(cp: Any) -> None:
    a = mf.asarray(_x(16, 3), "e4m3")
    da = a.to_device("cuda")
    with pytest.raises(ValueError, match=r"different devices \(cuda:0 and cpu\)"):
        da + a
    with pytest.raises(ValueError, match=r"different devices \(cpu and cuda:0\)"):
        np.multiply(a, da)
    with pytest.raises(ValueError, match="different devices"):
        mf.add(da, da, out=a.copy())
    with pytest.raises(ValueError, match="different devices"):
        da[:2] = a[:2]
    with pytest.raises(ValueError, match="the value is on cpu, the array on cuda:0"):
        da[:2] = np.array([1.0, 2.0])
    da[0] = 1.0  # a scalar's code moves
    assert float(np.asarray(da.get().values())[0]) == 1.0
    with pytest.raises(TypeError, match="implicit conversion to a NumPy array"):
        np.asarray(da)
    with pytest.raises(TypeError, match="sign of a MiniArray on cuda:0 has no GPU "
                                        r"kernel yet; move it with a.get\(\)"):
        mf.sign(da)
    with pytest.raises(ValueError, match="different devices"):
        np.maximum(da, a)
    with pytest.raises(ValueError, match="out has format float8_e5m2"):
        mf.maximum(da, da, out=mf.zeros(16, "e5m2").to_device("cuda"))
    with pytest.raises(ValueError, match="where= needs out="):
        mf.add(da, da, where=np.ones(16, dtype=bool))
    fx = mf.asarray(cp.asarray(_x(16, 4)), mf.FixedFormat(3, 4))
    assert fx.device == "cuda:0"
    ln = mf.asarray(_x(16, 4), mf.LNSFormat(3, 3)).to_device("cuda")
    for call in (lambda: ln + ln, lambda: mf.add(fx, da, out_format="e4m3")):
        with pytest.raises(TypeError, match="LNS MiniArrays, or of fixed-point with other "
                                            "formats, has no GPU kernel yet"):
            call()
    with pytest.raises(ValueError, match="a NaN result has no code"):
        fx.to_device("cuda") * 0 / 0


@needs_gxx
def test_selections_on_device_equal_cpu(cp: Any) -> None:  # noqa: F811
    x, y = _x(96, 5), _x(96, 6)
    x[:4], y[:4] = [np.nan, -0.0, 0.0, np.inf], [1.0, 0.0, -0.0, np.nan]
    y[10:20] = x[10:20]  # equal values: the first operand's code is taken
    a, b = mf.asarray(x, "e5m2"), mf.asarray(y, "e5m2")
    c = mf.asarray(y, "float16")
    da, db, dc = (t.to_device("cuda") for t in (a, b, c))

    def same(dev: mf.MiniArray, host: mf.MiniArray) -> None:
        assert dev.device == "cuda:0" and dev.format == host.format
        np.testing.assert_array_equal(np.asarray(dev.codes), host.codes)

    for fn in (mf.maximum, mf.minimum, mf.fmax, mf.fmin):
        same(fn(da, db), fn(a, b))
        # mixed formats: the e5m2 operand is projected into float16, then selected
        same(fn(da, dc, out_format="float16"), fn(a, c, out_format="float16"))
        same(fn(dc, 0.5), fn(c, 0.5))  # a Python scalar follows the array
    same(np.maximum(da, db), np.maximum(a, b))
    mask = np.arange(96) % 2 == 0
    out_h, out_d = a.copy(), a.copy().to_device("cuda")
    mf.minimum(a, b, out=out_h, where=mask)
    assert mf.minimum(da, db, out=out_d, where=mask) is out_d
    same(out_d, out_h)
    t, dt = a.reshape(8, 12), da.reshape(8, 12)
    for kw in ({}, {"axis": 0}, {"axis": 1}, {"axis": 1, "keepdims": True},
               {"keepdims": True}):
        same(dt.max(**kw), t.max(**kw))
        same(dt.min(**kw), t.min(**kw))
    clean = mf.asarray(np.abs(_x(40, 7)), "e4m3")  # no NaN: a finite extreme
    same(clean.to_device("cuda").max(), clean.max())
    same(np.minimum.reduce(dt, axis=1), np.minimum.reduce(t, axis=1))
    for fmt in (mf.FixedFormat(3, 4), mf.LNSFormat(3, 3)):
        h = mf.asarray(_x(30, 8), fmt)
        same(h.to_device("cuda").max(), h.max())
        same(h.to_device("cuda").min(axis=0), h.min(axis=0))


@needs_gxx
def test_fixed_point_arithmetic_on_device_equals_cpu(cp: Any) -> None:  # noqa: F811
    """Every operation, deterministic and seeded stochastic modes, saturating and wrapping,
    mixed formats and broadcasting: the mf_fixed_arith kernel gives the CPU's codes (the CPU
    fixed-point arithmetic is checked against the oracle in tests/test_fixed_arith.py)."""
    q34, q25, u44 = mf.FixedFormat(3, 4), mf.FixedFormat(2, 5), mf.FixedFormat(4, 4, signed=False)
    a = mf.asarray(_x(200, 11), q34, saturation="finite")
    b = mf.asarray(_x(200, 12), q25, saturation="finite")
    c = mf.asarray(np.abs(_x(200, 13)), u44, saturation="finite")
    b.codes[:3] = 0  # division by zero saturates (or wraps): no NaN unless 0/0
    da, db, dc = (t.to_device("cuda") for t in (a, b, c))

    def same(dev: mf.MiniArray, host: mf.MiniArray) -> None:
        assert dev.device == "cuda:0" and dev.format == host.format
        np.testing.assert_array_equal(np.asarray(dev.codes), host.codes)

    for kw in ({}, {"rounding": "toward_negative", "saturation": "finite"},
               {"rounding": "nearest_away", "saturation": "none"},
               {"rounding": "stochastic_a", "random_bits": 7, "seed": 4, "offset": 3},
               {"rounding": "stochastic_c", "random_bits": 12, "seed": 8}):
        for fo in (q34, mf.FixedFormat(5, 6), u44):
            k = {"out_format": fo, **kw}
            same(mf.add(da, db, **k), mf.add(a, b, **k))
            same(mf.subtract(da, dc, **k), mf.subtract(a, c, **k))
            same(mf.multiply(da, db, **k), mf.multiply(a, b, **k))
            same(mf.divide(da, dc, **k), mf.divide(a, c, **k))
            same(mf.fma(da, db, dc, **k), mf.fma(a, b, c, **k))
            same(mf.sqrt(dc, **k), mf.sqrt(c, **k))
            same(mf.negative(da, **k), mf.negative(a, **k))
            same(mf.absolute(db, **k), mf.absolute(b, **k))
    same(mf.multiply(da.reshape(20, 10), db.reshape(20, 10)[:1], out_format=q34),
         mf.multiply(a.reshape(20, 10), b.reshape(20, 10)[:1], out_format=q34))
    same(da * 1.5, a * 1.5)  # a Python scalar follows the array (encoded in a's format)
    r = np.random.default_rng(3).integers(0, 1 << 5, 200)
    kr: dict[str, Any] = {"rounding": "stochastic_a", "random_bits": 5, "random": r}
    same(mf.multiply(da, db, out_format=q25, **kr), mf.multiply(a, b, out_format=q25, **kr))
    out_h, out_d = a.copy(), a.copy().to_device("cuda")
    mask = np.arange(200) % 3 == 1
    mf.add(a, a, out=out_h, where=mask)
    assert mf.add(da, da, out=out_d, where=mask) is out_d
    same(out_d, out_h)
