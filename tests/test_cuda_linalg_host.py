"""GPU matrix products without a GPU: ``a @ b`` of MiniArrays on a (stand-in) GPU runs the
contraction kernel of minifloat/backends/cuda_linalg.py, built by g++ as host code, and must
equal the CPU product bit for bit.

The CPU product takes its fast paths where they apply (register-blocked binary32, the format
accumulator's binary64/binary32 shortcuts), the GPU always the generic ``mf::contract_one``
(contract.h), so this also checks that those paths agree with the definition: every
accumulator (exact, float32, float64, e5m2, bfloat16, float16), both orders (pairwise with
blocks of 1 and 4), deterministic and seeded stochastic modes, Inf/NaN/-0 operands, 1-D and
2-D shapes, batched (broadcast) operands, uint8 and uint16 codes.  Real device execution:
tests/gpu/test_gpu_linalg.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_cuda_array_host import cp  # noqa: F401  (the stand-in CuPy fixture)
from test_cuda_source import needs_gxx

import minifloat as mf
from minifloat.backends import cuda_linalg

ACCS = ("exact", "float32", "float64", "e5m2", "bfloat16", "float16")
KWS: tuple[dict[str, Any], ...] = (
    {}, {"rounding": "toward_negative"},
    {"rounding": "stochastic_a", "random_bits": 7, "seed": 5},
    {"rounding": "stochastic_c", "random_bits": 12, "seed": 9, "offset": 2**33})


def _operands(fmt: str) -> tuple[mf.MiniArray, mf.MiniArray]:
    rng = np.random.default_rng(len(fmt))
    A = rng.standard_normal((6, 37)) * 3
    B = rng.standard_normal((37, 5)) * 3
    A[0, 3], A[1, 2], B[4, 1], A[2] = np.inf, np.nan, -np.inf, -0.0
    sat = "finite" if fmt == "e4m3" else "none"
    return mf.asarray(A, fmt, saturation=sat), mf.asarray(B, fmt, saturation=sat)


@needs_gxx
@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "float16"])
def test_device_matmul_equals_cpu(cp: Any, fmt: str) -> None:  # noqa: F811
    a, b = _operands(fmt)
    da, db = a.to_device("cuda"), b.to_device("cuda")
    for acc in ACCS:
        if acc == "float64" and fmt == "float16":
            continue  # float16 products are doubles too, but keep the case list short
        for order, block in (("sequential", 32), ("pairwise", 4), ("pairwise", 1)):
            for kw in KWS:
                call = {"accumulator": acc, "order": order, "block": block, **kw}
                for fo in (None, "e5m2", "float16"):
                    want = mf.matmul(a, b, out_format=fo, **call)
                    got = mf.matmul(da, db, out_format=fo, **call)
                    assert got.device == "cuda:0"
                    np.testing.assert_array_equal(np.asarray(got.codes), want.codes,
                                                  err_msg=f"{fmt} {call} {fo}")
    # batched operands: a stacked left batch, and batches on both sides (broadcast)
    kw_s = {"rounding": "stochastic_a", "random_bits": 6, "seed": 3}
    np.testing.assert_array_equal(np.asarray((da.reshape(2, 3, 37) @ db).codes),
                                  (a.reshape(2, 3, 37) @ b).codes)
    np.testing.assert_array_equal(
        np.asarray(mf.matmul(da.reshape(2, 1, 3, 37), db.reshape(1, 37, 5), **kw_s).codes),
        mf.matmul(a.reshape(2, 1, 3, 37), b.reshape(1, 37, 5), **kw_s).codes)
    # operators and 1-D operands
    np.testing.assert_array_equal(np.asarray((da @ db).codes), (a @ b).codes)
    np.testing.assert_array_equal(np.asarray((da[0] @ db).codes), (a[0] @ b).codes)
    np.testing.assert_array_equal(np.asarray(da[1].dot(da[1]).codes), a[1].dot(a[1]).codes)
    # sums (row sums of the moved axes: the same kernel without B) and means
    t, dt = a.reshape(6, 37), da.reshape(6, 37)
    for kw in ({"axis": 1}, {"axis": 0, "accumulator": "e5m2", "order": "pairwise", "block": 2},
               {}, {"axis": (0, 1), "keepdims": True, "rounding": "stochastic_a",
                    "random_bits": 6, "seed": 2}):
        np.testing.assert_array_equal(np.asarray(dt.sum(**kw).codes), t.sum(**kw).codes)
        np.testing.assert_array_equal(np.asarray(dt.mean(**kw).codes), t.mean(**kw).codes)
    np.testing.assert_array_equal(np.asarray(np.add.reduce(dt, axis=1).codes),
                                  np.add.reduce(t, axis=1).codes)


@needs_gxx
def test_device_matmul_errors(cp: Any) -> None:  # noqa: F811
    a, b = _operands("e4m3")
    da, db = a.to_device("cuda"), b.to_device("cuda")
    with pytest.raises(ValueError, match=r"different devices \(cuda:0 and cpu\)"):
        da @ b
    with pytest.raises(ValueError, match="float32_blas' has no GPU path"):
        mf.matmul(da, db, accumulator="float32_blas")
    with pytest.raises(ValueError, match="at most 128 block sums"):
        cuda_linalg.contract(cp.asarray(np.zeros((2, 300), np.uint8)), a.format,
                             cp.asarray(np.zeros((300, 2), np.uint8)), a.format, a.format,
                             1, a.format, mf.codec.resolve_projection(a.format, (1,)),
                             True, 2, 0, 1)
    with pytest.raises(ValueError, match="out_dtype must be one of"):
        cuda_linalg.kernel_name("uint32")


@needs_gxx
def test_device_conv2d_equals_cpu(cp: Any) -> None:  # noqa: F811
    rng = np.random.default_rng(3)
    x = mf.asarray(rng.standard_normal((2, 3, 7, 9)) * 2, "e4m3")
    w = mf.asarray(rng.standard_normal((4, 3, 2, 3)), "e4m3")
    dx, dw = x.to_device("cuda"), w.to_device("cuda")
    for stride, padding, kw in ((1, 0, {}), (2, 1, {"accumulator": "float16"}),
                                ((1, 2), (0, 1), {"rounding": "stochastic_a",
                                                  "random_bits": 5, "seed": 4})):
        want = mf.conv2d(x, w, stride, padding, **kw)
        got = mf.conv2d(dx, dw, stride, padding, **kw)
        assert got.device == "cuda:0" and got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got.codes), want.codes)
    with pytest.raises(ValueError, match="different devices"):
        mf.conv2d(dx, w)
