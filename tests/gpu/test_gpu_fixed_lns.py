"""CPU == GPU, bit for bit, for fixed-point and LNS encode/decode and float32 subnormal stores
(run with ``pytest -m gpu tests/gpu``).

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
