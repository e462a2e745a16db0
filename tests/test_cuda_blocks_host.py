"""Block-scaled formats on a (stand-in) GPU: the kernels of minifloat/backends/cuda_blocks.py,
built by g++ as host code, against the CPU package bit for bit.

``mf.encode`` / ``mf.decode`` / ``mf.quantize`` of CuPy-typed arrays in every block preset
(OCP MX, MXINT8, NVFP4 with its per-tensor scale), float32 and float64 input, blocks along the
last axis, along axis 0 and 2-D, padded partial blocks, NaN/Inf inside blocks, float32
subnormal inputs and values, every rounding mode (seeded stochastic, explicit bits), and the
errors.  The kernels' float32 amax is converted by integer operations, not a cast (under
CuPy's -ftz=true a cast would flush a subnormal amax; test_nvrtc_compile.py rejects any
.ftz instruction).  Real device execution: tests/gpu/test_gpu_blocks.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_cuda_array_host import cp  # noqa: F401  (the stand-in CuPy fixture)
from test_cuda_source import needs_gxx

import minifloat as mf
from minifloat.backends import cuda_blocks
from minifloat.formats import BlockFormat, FloatFormat

PRESETS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8",
           "nvfp4")
KWS: tuple[dict[str, Any], ...] = (
    {}, {"rounding": "toward_zero"}, {"rounding": "nearest_away", "saturation": "none"},
    {"rounding": "stochastic_a", "random_bits": 8, "seed": 3, "offset": 2**33 + 1},
    {"rounding": "stochastic_c", "random_bits": 5, "seed": 1})


def _inputs(shape: tuple[int, ...], dtype: type, seed: int, specials: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-20, 20, shape))
    x.reshape(-1)[::37] *= 2.0**-140  # float32 subnormals and tiny blocks
    if specials:
        x.reshape(-1)[5] = np.nan
        x.reshape(-1)[70] = -np.inf
    x[..., :1] = 0.0  # zero blocks are possible with the block starts below
    return x.astype(dtype)


def _same(got: Any, want: Any) -> None:
    np.testing.assert_array_equal(np.asarray(got.codes), want.codes)
    np.testing.assert_array_equal(np.asarray(got.scales), want.scales)
    assert got.tensor_scale == want.tensor_scale


def _variants(name: str) -> list[BlockFormat]:
    bf = mf.format(name)
    k = bf.block_size[0]
    return [bf, bf.replace(axis=0), bf.replace(block_size=(4, k // 4 or 1), axis=(0, 1)),
            bf.replace(padding="zeros")]


@needs_gxx
@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_encode_decode_equal_cpu(cp: Any, name: str, dtype: type) -> None:  # noqa: F811
    for i, bf in enumerate(_variants(name)):
        shape = (64, 70) if bf.padding else (64, 64)
        specials = bf.scale.has_nan
        x = _inputs(shape, dtype, seed=i + len(name), specials=specials)
        xd = cp.asarray(x)
        for kw in KWS:
            want = mf.encode(x, bf, **kw)
            got = mf.encode(xd, bf, **kw)
            assert type(got.codes) is cp.ndarray
            _same(got, want)
        for dt, u in ((np.float32, np.uint32), (np.float64, np.uint64)):
            v_want = mf.decode(want, bf, dtype=dt)
            v_got = mf.decode(got, bf, dtype=dt)
            np.testing.assert_array_equal(np.asarray(v_got).view(u), v_want.view(u),
                                          err_msg=f"{bf} {dt}")
        np.testing.assert_array_equal(np.asarray(mf.quantize(xd, bf)).view(u),
                                      mf.quantize(x, bf).view(u))
        r = np.random.default_rng(4).integers(0, 1 << 6, x.shape)
        _same(mf.encode(xd, bf, rounding="stochastic_b", random_bits=6, random=cp.asarray(r)),
              mf.encode(x, bf, rounding="stochastic_b", random_bits=6, random=r))


@needs_gxx
def test_block_errors_on_device(cp: Any) -> None:  # noqa: F811
    bf = mf.format("mxfp8_e4m3")
    nonan = bf.replace(scale=FloatFormat(5, 2, nan="none", infinities=False))
    x = _inputs((2, 64), np.float32, 0, specials=True)
    with pytest.raises(ValueError, match="scale must then be NaN"):
        mf.encode(x, nonan)  # the CPU says so ...
    with pytest.raises(ValueError, match="scale must then be NaN"):
        mf.encode(cp.asarray(x), nonan)  # ... and so does the GPU
    with pytest.raises(TypeError, match="take float16/float32/float64"):
        mf.encode(cp.asarray(np.arange(64)), bf)
    bc = mf.encode(cp.asarray(np.ones((2, 64), np.float32)), bf)
    with pytest.raises(ValueError, match="scales has shape"):
        mf.decode((bc.codes, bc.scales[:, :1], 1.0), bf)
    with pytest.raises(ValueError, match="codes are on a GPU but scales are not"):
        mf.decode((bc.codes, np.asarray(bc.scales), 1.0), bf)
    with pytest.raises(ValueError, match="in_dtype must be one of"):
        cuda_blocks.encode_kernel_name("int64", "uint8")
