"""CPU == GPU, bit for bit, for encode and decode (run with ``pytest -m gpu tests/gpu``).

Skipped cleanly when CuPy or a CUDA device is missing.  Expected values are the CPU backend's,
itself checked against the exact oracle (tests/oracle.py) by the default suite: the guarantee
tested here is that moving an array to the GPU changes no bit, stochastic modes included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minifloat as mf
from minifloat import rounding as rnd
from minifloat.backends import cuda
from minifloat.formats import PRESETS, FloatFormat

pytestmark = pytest.mark.gpu

cp: Any = pytest.importorskip("cupy")
if not cuda.available():
    pytest.skip("CuPy is installed but no CUDA device is visible", allow_module_level=True)

MODES = sorted({v: k for k, v in reversed(list(rnd.ROUNDINGS.items()))}.items())
FORMATS_8 = sorted(n for n, f in PRESETS.items() if isinstance(f, FloatFormat) and f.bits == 8)
N_RANDOM = 1 << 20


def random_inputs(f: FloatFormat, dtype: type, seed: int) -> np.ndarray:
    """2^20 inputs: half raw bit patterns (NaN, Inf, subnormals), half log-uniform over the
    format's range and a little beyond, plus every value of the format."""
    rng = np.random.default_rng(seed)
    ft = np.dtype(dtype)
    bits = rng.integers(0, 1 << (8 * ft.itemsize), N_RANDOM // 2, dtype=np.uint64)
    raw = bits.astype(np.uint32 if ft.itemsize == 4 else np.uint64).view(ft)
    v = mf.decode(np.arange(f.num_codes), f)
    fin = np.abs(v[np.isfinite(v) & (v != 0)])
    lo, hi = np.log2(fin.min()), np.log2(fin.max())
    logu = np.exp2(rng.uniform(lo - 4, hi + 2, N_RANDOM // 2)) * rng.choice([-1, 1], N_RANDOM // 2)
    with np.errstate(over="ignore"):
        x = np.concatenate([raw, logu.astype(ft), v.astype(ft)])
    if not f.has_nan:
        x = x[~np.isnan(x)]
    return x


@pytest.mark.parametrize("name", FORMATS_8)
def test_decode_every_code(name: str) -> None:
    f = PRESETS[name]
    codes = np.arange(f.num_codes, dtype=f.dtype)
    for dt, view in ((np.float64, np.uint64), (np.float32, np.uint32)):
        got = mf.decode(cp.asarray(codes), f, dtype=dt)
        assert isinstance(got, cp.ndarray)
        np.testing.assert_array_equal(got.get().view(view),
                                      mf.decode(codes, f, dtype=dt).view(view))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FORMATS_8)
def test_encode_random_every_mode(name: str, dtype: type) -> None:
    f = PRESETS[name]
    x = random_inputs(f, dtype, seed=len(name))
    xd = cp.asarray(x)
    for mode, mname in MODES:
        for sat in ("none", "finite"):
            kw: dict[str, Any] = {"rounding": mname, "saturation": sat}
            if mode >= cuda.STOCHASTIC_A:
                kw.update(seed=2024 + mode, offset=(1 << 33) + 1,
                          random_bits={7: 32, 8: 3, 9: 13, 10: 1}[mode])
            got = mf.encode(xd, f, **kw)
            assert isinstance(got, cp.ndarray) and got.dtype == f.dtype
            np.testing.assert_array_equal(got.get(), mf.encode(x, f, **kw),
                                          err_msg=f"{name} {mname} {sat}")


def test_explicit_random_and_errors() -> None:
    f = PRESETS["e4m3"] if "e4m3" in PRESETS else mf.format("e4m3")
    x = np.linspace(-3, 3, 10001, dtype=np.float32)
    r = np.random.default_rng(0).integers(0, 1 << 6, x.size)
    kw: dict[str, Any] = {"rounding": "stochastic_b", "random_bits": 6}
    got: Any = mf.encode(cp.asarray(x), f, random=cp.asarray(r), **kw)
    np.testing.assert_array_equal(got.get(), mf.encode(x, f, random=r, **kw))
    nonan = FloatFormat(3, 2, subnormals=False, infinities=False, nan="none")
    with pytest.raises(ValueError, match="no NaN code"):
        mf.encode(cp.asarray([1.0, np.nan]), nonan)
    with pytest.raises(ValueError, match="codes must be in"):
        mf.decode(cp.asarray(np.array([0, 64], dtype=np.uint8)), nonan)
    q: Any = mf.quantize(cp.asarray(x), f)
    np.testing.assert_array_equal(q.get(), mf.quantize(x, f))
