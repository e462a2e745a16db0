"""MiniArray device placement without a GPU: a stand-in ``cupy`` (NumPy arrays typed as CuPy's,
``RawModule`` built by g++ as host code, tests/test_cuda_source.py) runs the whole path
``MiniArray`` -> ``minifloat.ops`` -> ``cuda.elementwise`` -> kernel.

Checked: ``mf.asarray`` of a CuPy array gives a MiniArray on ``cuda:0``; ``to_device`` /
``get`` move codes without re-rounding; operators, ufuncs, ``astype``, ``out=``/``where=`` and
Python-scalar operands on device arrays equal the CPU results bit for bit (stochastic modes
included); mixing devices raises ValueError naming both, and what has no GPU kernel yet
(reductions, matmul, selections, fixed-point/LNS arithmetic, implicit NumPy conversion) raises
TypeError naming ``.get()``.  What this cannot show: real device execution (tests/gpu/).
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
    for call, what in ((lambda: np.maximum(da, da), "maximum"), (lambda: da.max(), "max"),
                       (lambda: np.minimum.reduce(da), "minimum.reduce"),
                       (lambda: mf.sign(da), "sign")):
        with pytest.raises(TypeError, match=f"{what} of a MiniArray on cuda:0 has no GPU "
                                            r"kernel yet; move it with a.get\(\)"):
            call()
    with pytest.raises(ValueError, match="where= needs out="):
        mf.add(da, da, where=np.ones(16, dtype=bool))
    fx = mf.asarray(cp.asarray(_x(16, 4)), mf.FixedFormat(3, 4))
    assert fx.device == "cuda:0"  # fixed-point encode runs on the GPU ...
    with pytest.raises(TypeError, match="fixed-point or LNS MiniArrays has no GPU kernel"):
        fx + fx  # ... its arithmetic not yet
