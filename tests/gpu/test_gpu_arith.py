"""CPU == GPU, bit for bit, for the elementwise kernels (run with ``pytest -m gpu tests/gpu``).

``minifloat.backends.cuda.elementwise`` on CuPy code arrays against the CPU package
(``mf.add(mf.from_codes(ca, f), mf.from_codes(cb, f), ...).codes``), itself checked against the
exact oracle by the default suite.  Skipped cleanly when CuPy or a CUDA device is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minifloat as mf
from minifloat.backends import cuda
from minifloat.codec import resolve_projection
from minifloat.formats import FloatFormat

pytestmark = pytest.mark.gpu

cp: Any = pytest.importorskip("cupy")
if not cuda.available():
    pytest.skip("CuPy is installed but no CUDA device is visible", allow_module_level=True)

E4M3 = mf.format("e4m3")
P3 = mf.p3109(8, 3)
F16 = FloatFormat(5, 10)
MODES = ["nearest_even", "toward_zero", "stochastic_c"]


def all_pairs(f: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    n = f.num_codes
    return (np.repeat(np.arange(n), n).astype(f.dtype),
            np.tile(np.arange(n), n).astype(f.dtype))


def projection_kw(mode_name: str, sat: str, size: int, seed: int) -> dict[str, Any]:
    kw: dict[str, Any] = {"rounding": mode_name, "saturation": sat}
    if mode_name == "stochastic_c":  # explicit random bits
        kw.update(random_bits=5, random=np.random.default_rng(seed).integers(0, 32, size))
    return kw


def gpu_vs_cpu(op: str, codes: list[np.ndarray], fmts: list[FloatFormat], fo: FloatFormat,
               **kw: Any) -> None:
    want = getattr(mf, op)(*[mf.from_codes(c, f) for c, f in zip(codes, fmts)],
                           out_format=fo, **kw).codes
    p = resolve_projection(fo, codes[0].shape, **kw)
    dev: list[Any] = [cp.asarray(c) for c in codes]
    fs: list[Any] = list(fmts)
    while len(dev) < 3:
        dev.append(None)
        fs.append(None)
    got = cuda.elementwise(op, dev[0], fs[0], dev[1], fs[1], dev[2], fs[2], fo, p.mode, p.sat,
                           p.nbits, p.flush, p.rsrc, p.seed, p.offset, p.random)
    assert isinstance(got, cp.ndarray) and got.dtype == fo.dtype
    np.testing.assert_array_equal(got.get(), want, err_msg=f"{op} {fmts} -> {fo} {kw}")


@pytest.mark.parametrize("mode_name", MODES)
@pytest.mark.parametrize("op", ["add", "multiply", "divide"])
@pytest.mark.parametrize("fname", ["e4m3", "binary8p3"])
def test_every_pair(fname: str, op: str, mode_name: str) -> None:
    f = E4M3 if fname == "e4m3" else P3
    a, b = all_pairs(f)
    for sat in ("none", "finite"):
        gpu_vs_cpu(op, [a, b], [f, f], f, **projection_kw(mode_name, sat, a.size, len(sat)))


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide"])
def test_philox_bits(op: str) -> None:
    for f in (E4M3, P3):
        a, b = all_pairs(f)
        gpu_vs_cpu(op, [a, b], [f, f], f, rounding="stochastic_c", random_bits=13, seed=99,
                   offset=(1 << 33) + 5)


@pytest.mark.parametrize("mode_name", MODES)
def test_mixed_wide_and_other_ops(mode_name: str) -> None:
    a, _ = all_pairs(E4M3)
    b = np.tile(np.arange(256), 256).astype(np.uint8)
    for op in ("add", "multiply", "divide"):
        for fo in (mf.format("e5m2"), F16):
            gpu_vs_cpu(op, [a, b], [E4M3, P3], fo, **projection_kw(mode_name, "none", a.size, 1))
    rng = np.random.default_rng(3)
    w = rng.integers(0, F16.num_codes, 1 << 20).astype(np.uint16)
    e = rng.integers(0, 256, 1 << 20).astype(np.uint8)
    gpu_vs_cpu("multiply", [w, e], [F16, E4M3], E4M3,
               **projection_kw(mode_name, "finite", w.size, 2))
    every = np.arange(256).astype(np.uint8)
    for op in ("sqrt", "negative", "absolute", "positive"):
        gpu_vs_cpu(op, [every], [E4M3], P3, **projection_kw(mode_name, "none", 256, 4))
    tri = [rng.integers(0, 256, 1 << 20).astype(np.uint8) for _ in range(3)]
    gpu_vs_cpu("fma", tri, [E4M3, P3, E4M3], F16, **projection_kw(mode_name, "none", 1 << 20, 5))


def test_errors() -> None:
    nonan = FloatFormat(3, 2, infinities=False, nan="none")
    z = cp.asarray(np.array([0, 1, 0], dtype=np.uint8))
    p = resolve_projection(nonan, (3,))
    args = (p.mode, p.sat, p.nbits, p.flush, p.rsrc, p.seed, p.offset, p.random)
    with pytest.raises(ValueError, match="NaN result has no code"):
        cuda.elementwise("divide", z, nonan, z, nonan, None, None, nonan, *args)
    with pytest.raises(ValueError, match=r"b must hold codes in 0\.\.63"):
        cuda.elementwise("add", z, nonan, cp.asarray(np.array([1, 64, 1], dtype=np.uint8)),
                         nonan, None, None, nonan, *args)
    with pytest.raises(TypeError, match="a must be a CuPy array"):
        cuda.elementwise("add", np.zeros(3, np.uint8), nonan, z, nonan, None, None, nonan, *args)
