"""Block-scaled encode/decode on a GPU equal the CPU's bit for bit (``pytest -m gpu tests/gpu``).

Skipped cleanly when CuPy or a CUDA device is missing; the same kernels run as host code in
tests/test_cuda_blocks_host.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minifloat as mf
from minifloat.backends import cuda

pytestmark = pytest.mark.gpu

cp: Any = pytest.importorskip("cupy")
if not cuda.available():
    pytest.skip("CuPy is installed but no CUDA device is visible", allow_module_level=True)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3",
                                  "mxfp4_e2m1", "mxint8", "nvfp4"])
def test_blocks_equal_cpu(name: str) -> None:
    bf = mf.format(name)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((1024, 1024)) * np.exp2(rng.integers(-30, 30, (1024, 1024))))
    x = x.astype(np.float32)
    x.reshape(-1)[::97] *= 2.0**-120
    xd = cp.asarray(x)
    for b in (bf, bf.replace(axis=0)):
        for kw in ({}, {"rounding": "stochastic_a", "random_bits": 8, "seed": 2}):
            got, want = mf.encode(xd, b, **kw), mf.encode(x, b, **kw)
            np.testing.assert_array_equal(got.codes.get(), want.codes)
            np.testing.assert_array_equal(got.scales.get(), want.scales)
            assert got.tensor_scale == want.tensor_scale
            v = mf.decode(got, b, dtype=np.float32).get()
            np.testing.assert_array_equal(v.view(np.uint32),
                                          mf.decode(want, b, dtype=np.float32).view(np.uint32))
