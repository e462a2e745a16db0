"""MiniArray on a GPU equals MiniArray on the CPU, bit for bit (``pytest -m gpu tests/gpu``).

Skipped cleanly when CuPy or a CUDA device is missing; the same path runs against a stand-in
CuPy in tests/test_cuda_array_host.py.
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


def test_device_arrays_equal_cpu() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(1 << 20) * 8).astype(np.float32)
    y = (rng.standard_normal(1 << 20) * 8).astype(np.float32)
    a, b = mf.asarray(x, "e4m3"), mf.asarray(y, "e4m3")
    da = mf.asarray(cp.asarray(x), "e4m3")
    db = b.to_device("cuda")
    assert da.device == "cuda:0"
    np.testing.assert_array_equal(da.codes.get(), a.codes)
    kw: dict[str, Any] = {"rounding": "stochastic_a", "random_bits": 8, "seed": 3}
    for dev, host in ((da + db, a + b), (da * db, a * b), (da / db, a / b),
                      (mf.multiply(da, db, **kw), mf.multiply(a, b, **kw)),
                      (da * 0.5, a * 0.5), (da.astype("float16"), a.astype("float16"))):
        assert dev.device == "cuda:0"
        np.testing.assert_array_equal(dev.get().codes, host.codes)
    with pytest.raises(ValueError, match="different devices"):
        da + a
