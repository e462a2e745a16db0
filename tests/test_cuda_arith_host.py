"""The GPU elementwise kernels without a GPU: compiled by g++ as host code, run over a grid.

``minifloat.backends.cuda.arith_kernel_source`` (``mf_arith_<op>_m<mode>``) is compiled twice, as
tests/test_cuda_source.py does for encode/decode: (1) as NVRTC sees it (``__CUDACC_RTC__``, no
standard headers), syntax only; (2) as host code into a shared library whose kernels run one
emulated thread at a time over several blocks.  Their codes must equal the CPU package's
(``mf.add(...).codes`` etc., csrc/module.cpp's arith_loop, itself checked against the exact
oracle elsewhere) bit for bit: every operand pair of E4M3 and binary8p3, add/multiply/divide,
nearest_even / toward_zero / stochastic with explicit random bits and with Philox bits, both
saturations, mixed and 16-bit formats, the other operations, and the flags (NaN without a
code, operand codes out of range).  A stand-in ``cupy`` runs ``cuda.elementwise`` end to end.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from test_cuda_source import (  # tests/ is on sys.path (conftest.py)
    GRID,
    GXX,
    HOST_PRELUDE,
    RTC_PRELUDE,
    _fake_cupy,
    _FakeRawModule,
    gxx,
)

import minifloat as mf
from minifloat import ops
from minifloat.backends import cuda
from minifloat.codec import Projection, resolve_projection
from minifloat.formats import FloatFormat

needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ not found")

E4M3 = mf.format("e4m3")
P3 = mf.p3109(8, 3)
NOCODE = FloatFormat(3, 2, infinities=False, nan="none")  # zero but no NaN; 64 codes
F16 = FloatFormat(5, 10)
RUN_OPS = tuple(cuda.ARITH_OPS)
RUN_MODES = (0, 3, 9)  # nearest_even, toward_zero, stochastic_c
STOCH = "stochastic_c"
NBITS = 5


def test_ops_table_matches_the_cpu_package() -> None:
    assert cuda.ARITH_OPS == ops.OPS and cuda.ARITH_ARITY == ops.ARITY


def test_arith_source_names_and_contents() -> None:
    src = cuda.arith_source("multiply", 7)
    assert 'extern "C" __global__ void mf_arith_multiply_m7(' in src
    assert '#include "minifloat/arith.h"' in src and cuda.headers_digest() in src
    assert "mfk::arith_loop<mf::OP_MUL, 7>(" in src
    assert "mf::philox_word(seed, offset + i)" in src  # the CPU's stream position
    assert "mfk::arith_loop<mf::OP_COPY, 0>(" in cuda.arith_kernel_source("positive", 0)
    names = [n for n, _, _ in cuda.kernel_sources()]
    arith = [n for n in names if n.startswith("mf_arith_")]
    assert len(arith) == len(cuda.ARITH_OPS) * cuda.NUM_ROUNDINGS == 99
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("args", [("mul", 0), ("add", 11), ("add", -1), ("add", "0")])
def test_bad_arith_keys(args: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="op must be|mode must be"):
        cuda.arith_source(*args)
    with pytest.raises(ValueError, match="kind must be"):
        cuda.kernel_text("gemm", ())


@needs_gxx
def test_arith_kernels_compile_as_nvrtc_sees_them(tmp_path: object) -> None:
    parts = [cuda.prologue_source()]
    parts += [cuda.arith_kernel_source(op, m) for op in cuda.ARITH_OPS
              for m in range(cuda.NUM_ROUNDINGS)]
    gxx(["-fsyntax-only", "-nostdinc", "-nostdinc++"], RTC_PRELUDE + "\n".join(parts),
        str(tmp_path))


# ------------------------------------------------------------------ host emulation

@pytest.fixture(scope="module")
def alib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    if GXX is None:
        pytest.skip("g++ not found")
    tmp = str(tmp_path_factory.mktemp("cuda_arith_host"))
    parts = [cuda.prologue_source()]
    parts += [cuda.arith_kernel_source(op, m) for op in RUN_OPS for m in RUN_MODES]
    gxx(["-O1", "-shared", "-fPIC", "-o", os.path.join(tmp, "a.so")],
        HOST_PRELUDE + "\n".join(parts), tmp)
    return ctypes.CDLL(os.path.join(tmp, "a.so"))


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def emulated_arith(lib: ctypes.CDLL, op: str, codes: Sequence[np.ndarray],
                   fmts: Sequence[FloatFormat], fo: FloatFormat, p: Projection
                   ) -> tuple[np.ndarray, int]:
    """The kernel's codes and flag word, run over the emulated grid (GRID of test_cuda_source)."""
    arrays = [np.ascontiguousarray(c) for c in codes]
    fs = list(fmts)
    while len(arrays) < 3:
        arrays.append(arrays[0])
        fs.append(fs[0])
    out = np.full(arrays[0].shape, 0xAB, dtype=fo.dtype)
    bad = np.zeros(1, dtype=np.uint32)
    rnd_arr = p.random if p.random is not None else bad
    widths = sum(1 << k for k, x in enumerate([*arrays, out]) if x.dtype.itemsize == 2)
    i32, u64 = ctypes.c_int32, ctypes.c_uint64
    args = [*[_ptr(x) for x in arrays], _ptr(out), u64(out.size), i32(widths),
            *[i32(v) for f in (*fs, fo) for v in f.spec], i32(p.sat), i32(p.nbits),
            i32(int(p.flush)), i32(p.rsrc), u64(p.seed), u64(p.offset), _ptr(rnd_arr),
            _ptr(bad)]
    fn = getattr(lib, cuda.arith_kernel_name(op, p.mode))
    blocks, threads = GRID
    for blk in range(blocks):
        for t in range(threads):
            lib.mfk_set_thread(blk, t, blocks, threads)
            fn(*args)
    return out, int(bad[0])


def cpu_arith(op: str, codes: Sequence[np.ndarray], fmts: Sequence[FloatFormat],
              fo: FloatFormat, **kw: Any) -> np.ndarray:
    arrays = [mf.from_codes(c, f) for c, f in zip(codes, fmts)]
    return getattr(mf, op)(*arrays, out_format=fo, **kw).codes  # type: ignore[no-any-return]


def all_pairs(f: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    n = f.num_codes
    a = np.repeat(np.arange(n), n).astype(f.dtype)
    b = np.tile(np.arange(n), n).astype(f.dtype)
    return a, b


def check(lib: ctypes.CDLL, op: str, codes: Sequence[np.ndarray], fmts: Sequence[FloatFormat],
          fo: FloatFormat, **kw: Any) -> None:
    want = cpu_arith(op, codes, fmts, fo, **kw)
    p = resolve_projection(fo, codes[0].shape, **kw)
    got, bad = emulated_arith(lib, op, codes, fmts, fo, p)
    assert bad == 0, (op, kw, bad)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want, err_msg=f"{op} {[str(f) for f in fmts]} -> {fo} {kw}")


def _kw(mode_name: str, sat: str, size: int, seed: int) -> dict[str, Any]:
    kw: dict[str, Any] = {"rounding": mode_name, "saturation": sat}
    if mode_name == STOCH:  # explicit random bits
        r = np.random.default_rng(seed).integers(0, 1 << NBITS, size)
        kw.update(random_bits=NBITS, random=r)
    return kw


@needs_gxx
@pytest.mark.parametrize("mode_name", ["nearest_even", "toward_zero", STOCH])
@pytest.mark.parametrize("op", ["add", "multiply", "divide"])
@pytest.mark.parametrize("fname", ["e4m3", "binary8p3"])
def test_every_pair_equals_cpu(alib: ctypes.CDLL, fname: str, op: str, mode_name: str) -> None:
    f = E4M3 if fname == "e4m3" else P3
    a, b = all_pairs(f)
    for sat in ("none", "finite"):
        check(alib, op, [a, b], [f, f], f, **_kw(mode_name, sat, a.size, len(op) + len(sat)))


@needs_gxx
@pytest.mark.parametrize("op", ["add", "multiply", "divide", "subtract"])
def test_philox_bits_equal_cpu(alib: ctypes.CDLL, op: str) -> None:
    """Seeded stochastic: element i uses Philox position offset + i, whatever the grid."""
    for f in (E4M3, P3):
        a, b = all_pairs(f)
        check(alib, op, [a, b], [f, f], f, rounding=STOCH, random_bits=13, seed=99,
              offset=(1 << 33) + 5)


@needs_gxx
@pytest.mark.parametrize("mode_name", ["nearest_even", "toward_zero", STOCH])
def test_mixed_and_wide_formats_equal_cpu(alib: ctypes.CDLL, mode_name: str) -> None:
    a, b = all_pairs(E4M3)
    b = np.tile(np.arange(256), 256).astype(P3.dtype)  # P3's codes against E4M3's
    e5m2 = mf.format("e5m2")
    for op in ("add", "multiply", "divide", "subtract"):
        for fo in (e5m2, F16, E4M3):  # uint8 and uint16 results
            check(alib, op, [a, b], [E4M3, P3], fo, **_kw(mode_name, "none", a.size, 3))
    rng = np.random.default_rng(7)
    w = rng.integers(0, F16.num_codes, 1 << 14).astype(F16.dtype)  # uint16 operands
    e = rng.integers(0, 256, 1 << 14).astype(E4M3.dtype)
    for op in ("add", "multiply", "divide"):
        check(alib, op, [w, e], [F16, E4M3], E4M3, **_kw(mode_name, "finite", w.size, 4))
        check(alib, op, [e, w], [E4M3, F16], F16, **_kw(mode_name, "none", w.size, 5))


@needs_gxx
@pytest.mark.parametrize("mode_name", ["nearest_even", "toward_zero", STOCH])
def test_other_ops_equal_cpu(alib: ctypes.CDLL, mode_name: str) -> None:
    for f in (E4M3, P3):
        every = np.arange(256).astype(f.dtype)
        for op in ("sqrt", "negative", "absolute", "positive"):
            check(alib, op, [every], [f], f, **_kw(mode_name, "none", 256, 6))
            check(alib, op, [every], [f], F16, **_kw(mode_name, "none", 256, 7))
        rng = np.random.default_rng(8)
        tri = [rng.integers(0, 256, 1 << 14).astype(f.dtype) for _ in range(3)]
        check(alib, "fma", tri, [f, f, f], f, **_kw(mode_name, "none", 1 << 14, 9))
        check(alib, "fma", tri, [f, E4M3, P3], F16, **_kw(mode_name, "finite", 1 << 14, 10))
    every = np.arange(256).astype(E4M3.dtype)
    check(alib, "positive", [every], [E4M3], P3, **_kw(mode_name, "none", 256, 11))


@needs_gxx
def test_flags(alib: ctypes.CDLL) -> None:
    p = resolve_projection(NOCODE, (3,))
    z = np.array([0, 1, 0], dtype=np.uint8)
    # 0/0 is NaN, which NOCODE cannot hold: the CPU raises, the kernel sets bit 0
    with pytest.raises(ValueError, match="NaN result has no code"):
        mf.divide(mf.from_codes(z, NOCODE), mf.from_codes(z, NOCODE))
    _, bad = emulated_arith(alib, "divide", [z, z], [NOCODE, NOCODE], NOCODE, p)
    assert bad == 1
    _, bad = emulated_arith(alib, "divide", [z + 1, z + 1], [NOCODE, NOCODE], NOCODE, p)
    assert bad == 0
    # codes beyond 2^bits: bit 1 for a, 2 for b, 3 for c; those elements give 0
    big = np.array([1, 64, 2], dtype=np.uint8)
    out, bad = emulated_arith(alib, "add", [big, z + 1], [NOCODE, NOCODE], NOCODE, p)
    assert bad == 2 and out[1] == 0
    _, bad = emulated_arith(alib, "add", [z + 1, big], [NOCODE, NOCODE], NOCODE, p)
    assert bad == 4
    _, bad = emulated_arith(alib, "fma", [z + 1, z + 1, big], [NOCODE] * 3, NOCODE, p)
    assert bad == 8
    _, bad = emulated_arith(alib, "sqrt", [z + 1, big], [NOCODE, NOCODE], NOCODE, p)
    assert bad == 0  # b is beyond sqrt's arity: never read


# ------------------------------------------------------------------ cuda.elementwise end to end

def _stand_in(tmp: str) -> Any:
    cp: Any = _fake_cupy(tmp)
    nd = cp.ndarray

    def asarray(a: Any, dtype: Any = None) -> Any:
        return np.array(a, dtype=dtype).view(nd)

    cp.asarray = asarray
    cp.broadcast_arrays = lambda *xs: np.broadcast_arrays(*xs, subok=True)
    cp.broadcast_to = lambda x, shape: np.broadcast_to(x, shape, subok=True)
    cp.ascontiguousarray = lambda x: np.ascontiguousarray(x).view(nd)
    for t in ("uint8", "uint16"):
        setattr(cp, t, getattr(np, t))
    return cp


def _resolved(fo: FloatFormat, shape: tuple[int, ...], **kw: Any) -> list[Any]:
    p = resolve_projection(fo, shape, **kw)
    return [p.mode, p.sat, p.nbits, p.flush, p.rsrc, p.seed, p.offset, p.random]


@needs_gxx
def test_elementwise_call_path(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """cuda.elementwise: argument checks, broadcasting, kernel arguments in the kernel's order
    and exact scalar types (the stand-in RawModule asserts them), flags raised as errors."""
    cp = _stand_in(str(tmp_path))
    ew: Any = cuda.elementwise  # called with wrong argument types below, on purpose
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setattr(cuda, "_MODULES", {})
    _FakeRawModule.count = 0
    a, b = all_pairs(E4M3)
    da, db = cp.asarray(a), cp.asarray(b)
    for kw in ({}, {"rounding": "toward_zero", "saturation": "finite"}):
        got = ew("multiply", da, E4M3, db, E4M3, None, None, E4M3,
                               *_resolved(E4M3, a.shape, **kw))
        assert type(got) is cp.ndarray and got.dtype == np.uint8
        np.testing.assert_array_equal(np.asarray(got), cpu_arith("multiply", [a, b],
                                                                 [E4M3, E4M3], E4M3, **kw))
    # seeded stochastic; explicit random bits as NumPy and as (stand-in) CuPy arrays
    kw_s: dict[str, Any] = {"rounding": "stochastic_a", "random_bits": 9, "seed": 5,
                            "offset": 7}
    got = ew("multiply", da, E4M3, db, E4M3, None, None, E4M3,
                           *_resolved(E4M3, a.shape, **kw_s))
    np.testing.assert_array_equal(np.asarray(got),
                                  cpu_arith("multiply", [a, b], [E4M3, E4M3], E4M3, **kw_s))
    r = np.random.default_rng(2).integers(0, 16, a.size)
    args = _resolved(E4M3, a.shape, rounding="stochastic_a", random_bits=4, random=r)
    want = cpu_arith("multiply", [a, b], [E4M3, E4M3], E4M3, rounding="stochastic_a",
                     random_bits=4, random=r)
    for rr in (r, cp.asarray(r)):
        got = ew("multiply", da, E4M3, db, E4M3, None, None, E4M3,
                               *args[:-1], rr)
        np.testing.assert_array_equal(np.asarray(got), want)
    # broadcasting, mixed formats, uint16 result, a unary op
    col, row = cp.asarray(np.arange(256, dtype=np.uint8)[:, None]), \
        cp.asarray(np.arange(256, dtype=np.uint8)[None, :])
    got = ew("add", col, E4M3, row, P3, None, None, F16,
                           *_resolved(F16, (256, 256)))
    assert got.shape == (256, 256) and got.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(got).ravel(),
                                  cpu_arith("add", [a, b], [E4M3, P3], F16))
    got = ew("sqrt", col, E4M3, None, None, None, None, E4M3,
                           *_resolved(E4M3, (256, 1)))
    np.testing.assert_array_equal(np.asarray(got).ravel(),
                                  cpu_arith("sqrt", [np.arange(256, dtype=np.uint8)],
                                            [E4M3], E4M3))
    assert len(cuda._MODULES) == 5  # multiply m0/m3/m7, add m0, sqrt m0: each compiled once
    det = _resolved(E4M3, a.shape)
    z = cp.asarray(np.array([0, 1, 0], dtype=np.uint8))
    errors: list[tuple[type[Exception], str, Any]] = [
        (TypeError, "a must be a CuPy array", lambda: ew(
            "add", a, E4M3, db, E4M3, None, None, E4M3, *det)),
        (TypeError, "b must hold uint8 or uint16", lambda: ew(
            "add", da, E4M3, cp.asarray(b.astype(np.int32)), E4M3, None, None, E4M3, *det)),
        (TypeError, "fb must be a FloatFormat", lambda: ew(
            "add", da, E4M3, db, "e4m3", None, None, E4M3, *det)),
        (TypeError, "fo must be a FloatFormat", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, mf.FixedFormat(4, 3), *det)),
        (ValueError, "op must be one of", lambda: ew(
            "mul", da, E4M3, db, E4M3, None, None, E4M3, *det)),
        (ValueError, "c and fc must be None", lambda: ew(
            "add", da, E4M3, db, E4M3, da, E4M3, E4M3, *det)),
        (TypeError, "b must be a CuPy array", lambda: ew(
            "add", da, E4M3, None, None, None, None, E4M3, *det)),
        (ValueError, "mode must be", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 11, *det[1:])),
        (ValueError, "sat must be", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 0, 4, *det[2:])),
        (ValueError, "nbits and rsrc must be 0", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 0, 0, 3, False, 1, 0, 0, None)),
        (ValueError, "nbits must be 1..32", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 7, 0, 33, False, 1, 0, 0, None)),
        (ValueError, "rsrc must be 1", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 7, 0, 3, False, 0, 0, 0, None)),
        (ValueError, "random must be given", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 7, 0, 3, False, 2, 0, 0, None)),
        (ValueError, "random values must be in", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 7, 0, 3, False, 2, 0, 0, r)),
        (ValueError, "does not broadcast", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 7, 0, 3, False, 2, 0, 0, r[:5] % 8)),
        (ValueError, "seed must be", lambda: ew(
            "add", da, E4M3, db, E4M3, None, None, E4M3, 7, 0, 3, False, 1, -1, 0, None)),
        (ValueError, "sat=3", lambda: ew(
            "add", z, NOCODE, z, NOCODE, None, None, NOCODE, 0, 3, 0, False, 0, 0, 0, None)),
        (ValueError, "NaN result has no code", lambda: ew(
            "divide", z, NOCODE, z, NOCODE, None, None, NOCODE, *_resolved(NOCODE, (3,)))),
        (ValueError, r"b must hold codes in 0\.\.63", lambda: ew(
            "divide", z, NOCODE, cp.asarray(np.array([1, 64, 1], dtype=np.uint8)), NOCODE,
            None, None, NOCODE, *_resolved(NOCODE, (3,)))),
    ]
    for exc, match, call in errors:
        with pytest.raises(exc, match=match):
            call()
    # an empty result launches nothing
    e = cp.asarray(np.zeros(0, dtype=np.uint8))
    got = ew("add", e, E4M3, e, E4M3, None, None, E4M3, *_resolved(E4M3, (0,)))
    assert got.shape == (0,)


def test_bench_gpu_without_a_gpu_exits_2() -> None:
    """benchmarks/bench_gpu.py says what is missing and exits 2 when CuPy or a GPU is absent."""
    if cuda.available():
        pytest.skip("CuPy and a device are present")
    import subprocess

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks", "bench_gpu.py")
    r = subprocess.run([sys.executable, script, "--quick"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "bench_gpu.py needs CuPy and an NVIDIA GPU" in r.stderr
    assert "CuPy is not installed" in r.stderr or "no NVIDIA GPU" in r.stderr \
        or "found no device" in r.stderr
