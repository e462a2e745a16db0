"""CPU == GPU, bit for bit, for fixed-point and LNS encode/decode, fixed-point arithmetic,
selections and float32 subnormal stores (run with ``pytest -m gpu tests/gpu``).

Skipped cleanly when CuPy or a CUDA device is missing.  Expected values are the CPU package's,
itself checked against the exact oracle by the default suite; the same kernels run as host
code in tests/test_cuda_fixed_lns_host.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minifloat as mf
from minifloat import rounding as rnd
from minifloat.backends import cuda
from minifloat.formats import FixedFormat, FloatFormat, LNSFormat

pytestmark = pytest.mark.gpu

cp: Any = pytest.importorskip("cupy")
if not cuda.available():
    pytest.skip("CuPy is installed but no CUDA device is visible", allow_module_level=True)

MODES = sorted({v: k for k, v in reversed(list(rnd.ROUNDINGS.items()))}.items())
FORMATS = {"sfix8_3.4": FixedFormat(3, 4), "ufix16_8.8": FixedFormat(8, 8, signed=False),
           "sfix32_15.16": FixedFormat(15, 16), "lns8_3.4": LNSFormat(3, 4),
           "lns12_8.3": LNSFormat(8, 3), "lns16_6.9_inf": LNSFormat(6, 9, infinities=True)}
N = 1 << 20


def inputs(f: FixedFormat | LNSFormat, dtype: type, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ft = np.dtype(dtype)
    bits = rng.integers(0, 1 << (8 * ft.itemsize), N // 2, dtype=np.uint64)
    raw = bits.astype(np.uint32 if ft.itemsize == 4 else np.uint64).view(ft)
    sample = rng.integers(0, f.num_codes, 1 << 12, dtype=np.uint64).astype(f.dtype)
    v = np.abs(mf.decode(sample, f))
    top = float(np.log2(v[np.isfinite(v)].max()))
    logu = np.exp2(rng.uniform(top - 40, top + 2, N // 2)) * rng.choice([-1, 1], N // 2)
    with np.errstate(over="ignore"):
        x = np.concatenate([raw, logu.astype(ft)])
    return x if getattr(f, "has_nan", False) else x[~np.isnan(x)]


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encode_equals_cpu(name: str, dtype: type) -> None:
    f = FORMATS[name]
    x = inputs(f, dtype, seed=len(name))
    xd = cp.asarray(x)
    for mode, mname in MODES:
        kw: dict[str, Any] = {"rounding": mname}
        if mode >= cuda.STOCHASTIC_A:
            kw.update(random_bits=11, seed=99, offset=(1 << 34) + 1)
        got = mf.encode(xd, f, **kw).get()
        np.testing.assert_array_equal(got, mf.encode(x, f, **kw), err_msg=f"{name} {mname}")


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_decode_equals_cpu(name: str) -> None:
    f = FORMATS[name]
    rng = np.random.default_rng(1)
    codes = (np.arange(f.num_codes) if f.bits <= 16 else
             rng.integers(0, f.num_codes, N, dtype=np.uint64)).astype(f.dtype)
    for dt, u in ((np.float32, np.uint32), (np.float64, np.uint64)):
        got = mf.decode(cp.asarray(codes), f, dtype=dt).get()
        np.testing.assert_array_equal(got.view(u), mf.decode(codes, f, dtype=dt).view(u))


def test_float32_subnormals_are_not_flushed() -> None:
    """CuPy compiles with -ftz=true; decode stores float32 through integer arithmetic."""
    for f in (FloatFormat(8, 7), LNSFormat(8, 3)):
        codes = np.arange(f.num_codes, dtype=f.dtype)
        want = mf.decode(codes, f, dtype=np.float32)
        assert ((want != 0) & (np.abs(want) < np.finfo(np.float32).tiny)).any()
        got = mf.decode(cp.asarray(codes), f, dtype=np.float32).get()
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("mode", [m for _, m in MODES])
def test_fixed_arithmetic_equals_cpu(mode: str) -> None:
    """Every fixed-point operation on the device (mf_fixed_arith) gives the CPU's codes."""
    q, w, u = FixedFormat(3, 4), FixedFormat(15, 16), FixedFormat(8, 8, signed=False)
    rng = np.random.default_rng(7)
    kw: dict[str, Any] = {"rounding": mode}
    if mode.startswith("stochastic"):
        kw.update(random_bits=9, seed=11, offset=2**40)
    a = mf.asarray(rng.standard_normal(N) * 3, q, saturation="finite")
    b = mf.asarray(rng.standard_normal(N) * 100, w, saturation="finite")
    c = mf.asarray(np.abs(rng.standard_normal(N)) * 20 + 0.5, u, saturation="finite")  # no 0/0
    da, db, dc = (t.to_device("cuda") for t in (a, b, c))
    for fo in (q, w, u):
        k = {"out_format": fo, **kw}
        for name, args, dargs in (("add", (a, b), (da, db)), ("multiply", (a, b), (da, db)),
                                  ("divide", (b, c), (db, dc)), ("sqrt", (c,), (dc,)),
                                  ("fma", (a, b, c), (da, db, dc))):
            fn = getattr(mf, name)
            got, want = fn(*dargs, **k), fn(*args, **k)
            np.testing.assert_array_equal(cp.asnumpy(got.codes), want.codes,
                                          err_msg=f"{name} -> {fo} {kw}")


def test_selections_equal_cpu() -> None:
    """maximum/minimum and max/min reductions on the device pick the CPU's codes."""
    rng = np.random.default_rng(8)
    for fmt in ("e4m3", "e5m2", FixedFormat(3, 4), LNSFormat(3, 4)):
        x = rng.standard_normal((512, 300)) * 4
        x[0, :3] = [-0.0, 0.0, 1e9]
        if isinstance(fmt, str):
            x[1, :3] = [np.nan, np.inf, -np.inf]
        sat = "none" if fmt == "e5m2" else "finite"
        a = mf.asarray(x, fmt, saturation=sat)
        b = mf.asarray(x[::-1].copy(), fmt, saturation=sat)
        da, db = a.to_device("cuda"), b.to_device("cuda")
        for fn in (mf.maximum, mf.minimum, mf.fmax, mf.fmin):
            np.testing.assert_array_equal(cp.asnumpy(fn(da, db).codes), fn(a, b).codes)
        for kw in ({}, {"axis": 0}, {"axis": 1, "keepdims": True}):
            np.testing.assert_array_equal(cp.asnumpy(da.max(**kw).codes), a.max(**kw).codes)
            np.testing.assert_array_equal(cp.asnumpy(da.min(**kw).codes), a.min(**kw).codes)
