"""GPU matrix products equal the CPU's bit for bit (``pytest -m gpu tests/gpu``).

Skipped cleanly when CuPy or a CUDA device is missing; the same kernel runs as host code in
tests/test_cuda_linalg_host.py.
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


@pytest.mark.parametrize("acc", ["float32", "float64", "exact", "float16", "bfloat16", "e5m2"])
@pytest.mark.parametrize("order", ["sequential", "pairwise"])
def test_matmul_equals_cpu(acc: str, order: str) -> None:
    rng = np.random.default_rng(0)
    a = mf.asarray(rng.standard_normal((96, 300)) * 4, "e4m3", saturation="finite")
    b = mf.asarray(rng.standard_normal((300, 80)) * 4, "e4m3", saturation="finite")
    da, db = a.to_device("cuda"), b.to_device("cuda")
    for kw in ({}, {"rounding": "stochastic_a", "random_bits": 8, "seed": 1}):
        call: dict[str, Any] = {"accumulator": acc, "order": order, "block": 8, **kw}
        got = mf.matmul(da, db, out_format="float16", **call)
        assert got.device == "cuda:0"
        np.testing.assert_array_equal(got.get().codes,
                                      mf.matmul(a, b, out_format="float16", **call).codes)
