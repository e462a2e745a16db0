"""The GPU backend without a GPU: kernel source assembly, clean errors, no CuPy import.

The CUDA kernels (minifloat/backends/cuda.py) are C++ text around the header core.  Here they
are compiled by g++ twice: (1) as NVRTC sees them (``__CUDACC_RTC__``, no standard headers,
stand-in declarations of the CUDA intrinsics), syntax only; (2) as host code with stand-ins
for the launch built-ins, into a shared library whose kernels are run one emulated thread at
a time over a grid of several blocks.  Their codes and values must equal the CPU backend's bit
for bit, stochastic modes included (the Philox position contract), which checks the kernels'
glue (input decomposition, word type, lean path, grid-stride indexing, random bits, flags).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import minifloat as mf
from minifloat import rounding as rnd
from minifloat.backends import cuda
from minifloat.codec import resolve_projection
from minifloat.formats import PRESETS, FloatFormat

GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ not found")

# Mode number -> a name of it (rounding.ROUNDINGS has an alias, "stochastic").
MODE_NAMES = {v: k for k, v in reversed(list(rnd.ROUNDINGS.items()))}
assert sorted(MODE_NAMES) == list(range(cuda.NUM_ROUNDINGS))
RANDOM_BITS = {7: 32, 8: 3, 9: 13, 10: 1}  # N per stochastic mode: several widths

# What NVRTC provides: no standard library, CUDA qualifiers and intrinsics (declared only:
# this is a syntax check), __CUDACC_RTC__ selecting config.h's device branch.
RTC_PRELUDE = r"""
#define __CUDACC_RTC__ 1
#define __host__
#define __device__
#define __forceinline__ inline
#define __global__
long long __double_as_longlong(double);
double __longlong_as_double(long long);
unsigned int __float_as_uint(float);
float __uint_as_float(unsigned int);
int __clzll(long long);
unsigned int atomicOr(unsigned int*, unsigned int);
struct mfk_dim3 { unsigned int x, y, z; };
extern const mfk_dim3 blockIdx, threadIdx, blockDim, gridDim;
"""

# Host emulation of a launch: the built-ins are globals set before each emulated thread.
HOST_PRELUDE = r"""
#include <stdint.h>
#define __global__
struct mfk_dim3 { unsigned int x, y, z; };
static mfk_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static mfk_dim3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static inline unsigned int atomicOr(unsigned int* a, unsigned int v) {
  const unsigned int old = *a;
  *a = old | v;
  return old;
}
extern "C" void mfk_set_thread(unsigned int block, unsigned int thread, unsigned int blocks,
                               unsigned int threads) {
  blockIdx.x = block; threadIdx.x = thread; gridDim.x = blocks; blockDim.x = threads;
}
"""

RUN_INPUTS = ("float32", "float64", "int64")
RUN_CODES = ("uint8", "uint16")
GRID = (3, 5)  # emulated blocks x threads per block


def all_kernels(inputs: tuple[str, ...], codes: tuple[str, ...]) -> str:
    parts = [cuda.prologue_source()]
    for i in inputs:
        for c in codes:
            parts += [cuda.encode_kernel_source(i, c, m) for m in range(cuda.NUM_ROUNDINGS)]
    for c in codes:
        parts += [cuda.decode_kernel_source(c, v) for v in cuda.VALUE_TYPES]
    return "\n".join(parts)


def gxx(args: list[str], source: str, tmp: str) -> None:
    assert GXX is not None
    path = os.path.join(tmp, "kernels.cpp")
    with open(path, "w") as fh:
        fh.write(source)
    r = subprocess.run([GXX, "-std=c++17", "-Wall", "-Wextra", "-Werror",
                        f"-I{mf.get_include()}", *args, path],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-6000:]


# ------------------------------------------------------------------ sources and names

def test_source_names_and_contents() -> None:
    src = cuda.encode_source("float32", "uint8", 7)
    assert 'extern "C" __global__ void mf_encode_float32_uint8_m7(' in src
    assert '#include "minifloat/project.h"' in src and '#include "minifloat/random.h"' in src
    assert "mf::philox_word(seed, offset + i)" in src
    assert cuda.headers_digest() in src  # CuPy's disk cache must see header changes
    # 32-bit words and the lean path exactly where csrc/module.cpp uses them
    assert "encode_loop<0, uint32_t, true, float, uint8_t>" in cuda.encode_source(
        "float32", "uint8", 0)
    assert "uint32_t" not in cuda.encode_kernel_source("float32", "uint8", 7).split(
        "encode_loop<")[1].split(",")[1]
    assert "lean_ok_float32" not in cuda.encode_kernel_source("float64", "uint16", 0)
    assert "mf_decode_uint16_float32(" in cuda.decode_source("uint16", "float32")
    opts = cuda.compile_options()
    assert "--std=c++17" in opts and f"-I{os.path.abspath(mf.get_include())}" in opts


@pytest.mark.parametrize("args", [("float16", "uint8", 0), ("float32", "int8", 0),
                                  ("float32", "uint8", 11), ("float32", "uint8", -1)])
def test_bad_kernel_keys(args: tuple[str, str, int]) -> None:
    with pytest.raises(ValueError, match="in_dtype|code_dtype|mode"):
        cuda.encode_source(*args)
    with pytest.raises(ValueError, match="value_dtype"):
        cuda.decode_source("uint8", "float16")


@needs_gxx
def test_kernels_compile_as_nvrtc_sees_them(tmp_path: object) -> None:
    """Every kernel, config.h's __CUDACC_RTC__ branch, no standard headers at all."""
    src = RTC_PRELUDE + all_kernels(tuple(cuda.INPUT_TYPES), tuple(cuda.CODE_TYPES))
    gxx(["-fsyntax-only", "-nostdinc", "-nostdinc++"], src, str(tmp_path))


# ------------------------------------------------------------------ host emulation

@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    if GXX is None:
        pytest.skip("g++ not found")
    tmp = str(tmp_path_factory.mktemp("cuda_host"))
    gxx(["-O1", "-shared", "-fPIC", "-o", os.path.join(tmp, "k.so")],
        HOST_PRELUDE + all_kernels(RUN_INPUTS, RUN_CODES), tmp)
    return ctypes.CDLL(os.path.join(tmp, "k.so"))


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _launch(lib: ctypes.CDLL, fn: object, args: Sequence[object]) -> None:
    blocks, threads = GRID
    for b in range(blocks):
        for t in range(threads):
            lib.mfk_set_thread(b, t, blocks, threads)
            fn(*args)  # type: ignore[operator]


def emulated_encode(lib: ctypes.CDLL, x: np.ndarray, f: FloatFormat,
                    **kw: object) -> tuple[np.ndarray, bool]:
    p = resolve_projection(f, x.shape, **kw)  # type: ignore[arg-type]
    fn = getattr(lib, cuda.encode_kernel_name(x.dtype.name, f.dtype.name, p.mode))
    out = np.full(x.shape, 0xAB, dtype=f.dtype)
    bad = np.zeros(1, dtype=np.uint32)
    rnd_arr = p.random if p.random is not None else bad
    i32, u64 = ctypes.c_int32, ctypes.c_uint64
    args = [_ptr(x), _ptr(out), u64(x.size), *[i32(v) for v in f.spec], i32(p.sat),
            i32(p.nbits), i32(int(p.flush)), i32(p.rsrc), u64(p.seed), u64(p.offset),
            _ptr(rnd_arr), _ptr(bad)]
    _launch(lib, fn, args)
    return out, bool(bad[0])


def emulated_decode(lib: ctypes.CDLL, codes: np.ndarray, f: FloatFormat,
                    dtype: type) -> tuple[np.ndarray, bool]:
    fn = getattr(lib, cuda.decode_kernel_name(codes.dtype.name, np.dtype(dtype).name))
    out: np.ndarray = np.zeros(codes.shape, dtype=dtype)
    bad = np.zeros(1, dtype=np.uint32)
    args = [_ptr(codes), _ptr(out), ctypes.c_uint64(codes.size),
            *[ctypes.c_int32(v) for v in f.spec], _ptr(bad)]
    _launch(lib, fn, args)
    return out, bool(bad[0])


FORMATS_8 = sorted(n for n, f in PRESETS.items() if isinstance(f, FloatFormat) and f.bits == 8)
WIDE = {"e5m6": FloatFormat(5, 6), "e4m8_fnuz": FloatFormat(4, 8, nan="negzero",
                                                   negative_zero=False, infinities=False),
        "e3m2_nosub": FloatFormat(3, 2, subnormals=False, infinities=False,
                                  nan="none"),
        "ue4m4": FloatFormat(4, 4, signed=False)}


def probe_inputs(f: FloatFormat, dtype: str, n_random: int, seed: int) -> np.ndarray:
    """Every value of f and its float neighbours and midpoints, raw random bit patterns
    (NaN, Inf, subnormals), log-uniform values across the format's range; shuffled."""
    rng = np.random.default_rng(seed)
    v = mf.decode(np.arange(f.num_codes), f)
    v = v[np.isfinite(v)]
    s = np.sort(np.unique(v))
    mids = (s[1:] + s[:-1]) / 2
    parts = [v, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf)]
    if dtype == "int64":
        hi = int(min(np.max(np.abs(v)) * 4, 2.0**62))
        parts = [np.round(p) for p in parts]
        parts.append(rng.integers(-hi, hi, n_random).astype(np.float64))
        x = np.concatenate(parts)
        x = x[np.abs(x) < 2.0**62].astype(np.int64)
    else:
        ft = np.dtype(dtype)
        bits = rng.integers(0, 1 << (8 * ft.itemsize), n_random // 2, dtype=np.uint64)
        raw = bits.astype(np.uint32 if ft.itemsize == 4 else np.uint64).view(ft)
        top = np.log2(np.max(np.abs(s)))
        low = np.log2(np.min(np.abs(s[s != 0])))
        logu = np.exp2(rng.uniform(low - 4, top + 2, n_random // 2)) * rng.choice([-1, 1],
                                                                                  n_random // 2)
        with np.errstate(over="ignore"):
            x = np.concatenate([p.astype(ft) for p in [*parts, logu]] + [raw])
        if not f.has_nan:
            x = x[~np.isnan(x)]
    return rng.permutation(x)


CASES = [(name, dt) for name in FORMATS_8 for dt in RUN_INPUTS] + \
    [(name, "float32") for name in WIDE]


@needs_gxx
@pytest.mark.parametrize("name,dtype", CASES)
def test_emulated_encode_equals_cpu(lib: ctypes.CDLL, name: str, dtype: str) -> None:
    f = PRESETS[name] if name in PRESETS else WIDE[name]
    x = probe_inputs(f, dtype, 1 << 12, seed=len(name) * 7 + len(dtype))
    for mode, mname in MODE_NAMES.items():
        for sat in ("none", "finite"):
            kw: dict[str, object] = {"rounding": mname, "saturation": sat}
            if mode >= cuda.STOCHASTIC_A:
                kw.update(seed=12345 + mode, offset=(1 << 33) + 3,  # unaligned, > 32 bits
                          random_bits=RANDOM_BITS[mode])
            got, bad = emulated_encode(lib, x, f, **kw)
            want = mf.encode(x, f, **kw)  # type: ignore[arg-type]
            assert not bad
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype} {mname} {sat}")
    # explicit random bits (rsrc 2) and flushing
    r = np.random.default_rng(1).integers(0, 1 << 5, x.size)
    kw2: dict[str, object] = {"rounding": "stochastic_c", "random_bits": 5, "random": r,
                              "flush_subnormals": True}
    got, bad = emulated_encode(lib, x, f, **kw2)
    np.testing.assert_array_equal(got, mf.encode(x, f, **kw2))  # type: ignore[arg-type]


@needs_gxx
def test_emulated_encode_flags_nan_without_code(lib: ctypes.CDLL) -> None:
    f = WIDE["e3m2_nosub"]
    with pytest.raises(ValueError, match="no NaN code"):
        mf.encode(np.array([1.0, np.nan]), f)
    _, bad = emulated_encode(lib, np.array([1.0, np.nan, 2.0]), f)
    assert bad
    _, bad = emulated_encode(lib, np.array([1.0, 3.0, 2.0]), f)
    assert not bad


@needs_gxx
@pytest.mark.parametrize("name", FORMATS_8 + sorted(WIDE))
def test_emulated_decode_every_code(lib: ctypes.CDLL, name: str) -> None:
    f = PRESETS[name] if name in PRESETS else WIDE[name]
    codes = np.arange(f.num_codes, dtype=f.dtype)
    check_decode(emulated_decode, lib, codes, f, name)


def check_decode(run: Any, lib: ctypes.CDLL, codes: np.ndarray, f: Any, name: str) -> None:
    """``run(lib, codes, f, dtype) -> (values, flagged)`` equals mf.decode bit for bit in
    float64 and float32, and flags a code beyond 2^bits where the code dtype can hold one."""
    for dt, view in ((np.float64, np.uint64), (np.float32, np.uint32)):
        got, bad = run(lib, codes, f, dt)
        assert not bad
        np.testing.assert_array_equal(got.view(view), mf.decode(codes, f, dtype=dt).view(view),
                                      err_msg=f"{name} {dt}")
    if f.num_codes < 1 << (8 * f.dtype.itemsize):  # codes beyond 2^bits are flagged
        _, bad = run(lib, np.array([0, f.num_codes], dtype=f.dtype), f, np.float64)
        assert bad


# ------------------------------------------------------------------ without CuPy

class _FakeCupyArray:
    """Stands for a cupy.ndarray: only its module name is looked at before the backend."""

    shape = (3,)
    dtype = np.dtype(np.float32)


_FakeCupyArray.__module__ = "cupy._core.core"


def test_cupy_input_without_cupy_says_what_is_missing() -> None:
    if cuda.available():
        pytest.skip("CuPy and a device are present")
    x = _FakeCupyArray()
    assert cuda.is_cupy_array(x) and not cuda.is_cupy_array(np.zeros(3))
    for call in (lambda: mf.encode(x, "e4m3"), lambda: mf.decode(x, "e4m3"),
                 lambda: mf.quantize(x, "e4m3"), cuda.require):
        with pytest.raises((ImportError, RuntimeError), match=r"CuPy is not installed: pip "
                           r"install minifloat\[gpu\]|no CUDA device"):
            call()


def test_import_does_not_import_cupy() -> None:
    code = ("import sys, numpy as np, minifloat, minifloat.backends.cuda as c\n"
            "minifloat.encode(np.ones(4), 'e4m3'); c.encode_source('float32', 'uint8', 0)\n"
            "assert 'cupy' not in sys.modules\n"
            "print('ok')")
    # Outside the checkout, so the installed package (with its compiled _core) is imported.
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=tempfile.mkdtemp(prefix="minifloat-import-"))
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


# ------------------------------------------------------------------ the whole call path

class _FakeRawModule:
    """cupy.RawModule stand-in: g++ builds the same source (host prelude) into a library."""

    count = 0

    def __init__(self, code: str, options: tuple[str, ...], tmp: str) -> None:
        assert "--std=c++17" in options
        inc = [o for o in options if o.startswith("-I")]
        _FakeRawModule.count += 1
        path = os.path.join(tmp, f"m{_FakeRawModule.count}")
        with open(path + ".cpp", "w") as fh:
            fh.write(HOST_PRELUDE + code)
        assert GXX is not None
        r = subprocess.run([GXX, "-std=c++17", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra",
                            "-Werror", *inc, "-o", path + ".so", path + ".cpp"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-4000:]
        self.lib = ctypes.CDLL(path + ".so")

    def get_function(self, name: str) -> object:
        fn = getattr(self.lib, name)
        conv = {np.dtype(np.int32): ctypes.c_int32, np.dtype(np.uint32): ctypes.c_uint32,
                np.dtype(np.uint64): ctypes.c_uint64, np.dtype(np.float64): ctypes.c_double}

        def launch(grid: tuple[int], block: tuple[int], args: tuple[object, ...]) -> None:
            assert grid[0] >= 1 and block[0] == cuda.THREADS_PER_BLOCK
            cargs = [ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray)
                     else conv[np.asarray(a).dtype](a) for a in args]  # type: ignore[arg-type]
            assert all(isinstance(a, np.ndarray) or
                       type(a) in (np.int32, np.uint32, np.uint64, np.float64)
                       for a in args), [type(a) for a in args]
            # The emulated grid (GRID: several blocks of several threads), one thread at a
            # time: the grid-stride loops must cover every element (or block, or output)
            # exactly once whatever the geometry.
            blocks, threads = GRID
            for b in range(blocks):
                for t in range(threads):
                    self.lib.mfk_set_thread(b, t, blocks, threads)
                    fn(*cargs)

        return launch


def _fake_cupy(tmp: str) -> object:
    import types

    class ndarray(np.ndarray):
        def get(self) -> np.ndarray:
            return np.asarray(self).copy()

    ndarray.__module__ = "cupy"
    m = types.ModuleType("cupy")
    m.ndarray = ndarray  # type: ignore[attr-defined]
    m.asarray = lambda a, dtype=None: np.array(a, dtype=dtype).view(ndarray)  # type: ignore[attr-defined]
    m.empty = lambda shape, dtype: np.empty(shape, dtype).view(ndarray)  # type: ignore[attr-defined]
    m.zeros = lambda shape, dtype: np.zeros(shape, dtype).view(ndarray)  # type: ignore[attr-defined]
    for t in ("float32", "float64", "int64", "uint32"):
        setattr(m, t, getattr(np, t))
    m.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    m.RawModule = lambda code, options: _FakeRawModule(code, options, tmp)  # type: ignore[attr-defined]
    return m


@needs_gxx
def test_call_path_with_stand_in_cupy(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """mf.encode/decode/quantize on a CuPy-typed array go through codec -> cuda.encode/decode
    -> kernel arguments in the kernels' order and types; the stand-in runs the kernel on the
    host.  (What this cannot show: NVRTC itself and real device execution.)"""
    cp = _fake_cupy(str(tmp_path))
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setattr(cuda, "_MODULES", {})
    assert cuda.available() and cuda.require() is cp
    f = mf.format("e4m3")
    x = probe_inputs(f, "float32", 1 << 10, seed=3)
    xd = cp.asarray(x)  # type: ignore[attr-defined]
    for kw in ({}, {"rounding": "toward_negative", "saturation": "finite"},
               {"rounding": "stochastic_c", "random_bits": 9, "seed": 5, "offset": 7},
               {"rounding": "stochastic_a", "random_bits": 4,
                "random": cp.asarray(np.arange(x.size) % 16)}):  # type: ignore[attr-defined]
        got = mf.encode(xd, f, **kw)  # type: ignore[arg-type]
        assert type(got) is cp.ndarray  # type: ignore[attr-defined]
        host_kw = {k: (np.asarray(v) if k == "random" else v) for k, v in kw.items()}
        np.testing.assert_array_equal(np.asarray(got), mf.encode(x, f, **host_kw))  # type: ignore[arg-type]
    codes = np.arange(256, dtype=np.uint8)
    for dt in (np.float32, np.float64, np.float16):
        got_v = mf.decode(cp.asarray(codes), f, dtype=dt)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(np.asarray(got_v).view(f"u{np.dtype(dt).itemsize}"),
                                      mf.decode(codes, f, dtype=dt).view(f"u{np.dtype(dt).itemsize}"))
    np.testing.assert_array_equal(np.asarray(mf.quantize(xd, f)), mf.quantize(x, f))
    # codes wider than the format's dtype are range-checked, then decoded
    np.testing.assert_array_equal(
        np.asarray(mf.decode(cp.asarray(codes.astype(np.int64)), f)),  # type: ignore[attr-defined]
        mf.decode(codes, f))
    nonan = WIDE["e3m2_nosub"]
    with pytest.raises(ValueError, match="no NaN code"):
        mf.encode(cp.asarray(np.array([1.0, np.nan])), nonan)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="codes must be in"):
        mf.decode(cp.asarray(np.array([0, 64], dtype=np.uint8)), nonan)  # type: ignore[attr-defined]
    assert len(cuda._MODULES) == 7  # 5 encode + 2 decode kernels, each compiled once
