"""GPU kernels for fixed point and LNS, and the float32 stores, without a GPU.

The kernels of minifloat/backends/cuda_fixed_lns.py are compiled by g++ as host code (the
launch built-ins emulated, as in test_cuda_source.py) and run one emulated thread at a time
over a grid of several blocks.  Their codes and values must equal the CPU package's
(``mf.encode`` / ``mf.decode``) bit for bit: every rounding mode with seeded Philox bits at an
unaligned offset above 2^32, explicit random bits, the saturation modes, every input dtype,
every code of every format decoded to float32 and float64.

The float32 stores of every decode kernel go through ``mf::binary32_bits_rne`` (integer
arithmetic), because CuPy compiles with ``-ftz=true``, under which a plain double -> float
cast flushes float32 subnormals; that function is checked against NumPy's cast here, and the
decode kernels on formats whose values reach float32's subnormal range (an E8M7 float, an LNS
with 8 integer bits).  That no kernel contains a flushing instruction at all is checked on the
real NVRTC's PTX in test_nvrtc_compile.py.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

import numpy as np
import pytest
from test_cuda_source import (  # tests/ is on sys.path (conftest.py)
    GXX,
    HOST_PRELUDE,
    MODE_NAMES,
    RANDOM_BITS,
    _fake_cupy,
    _launch,
    _ptr,
    check_decode,
    gxx,
    needs_gxx,
)

import minifloat as mf
from minifloat.backends import cuda
from minifloat.backends import cuda_fixed_lns as fl
from minifloat.codec import resolve_projection
from minifloat.formats import FixedFormat, FloatFormat, LNSFormat

FIXED = {"sfix8_3.4": FixedFormat(3, 4), "ufix8_2.6": FixedFormat(2, 6, signed=False),
         "sfix8_-3.10": FixedFormat(-3, 10), "sfix8_9.-2": FixedFormat(9, -2),
         "sfix16_7.8": FixedFormat(7, 8), "sfix32_15.16": FixedFormat(15, 16),
         "ufix32_20.12": FixedFormat(20, 12, signed=False),
         "sfix25_-40.64": FixedFormat(-40, 64)}
LNS = {"lns8_3.4": LNSFormat(3, 4), "ulns8_4.3_inf": LNSFormat(4, 3, signed=False,
                                                              infinities=True),
       "lns12_8.3": LNSFormat(8, 3), "lns16_5.10": LNSFormat(5, 10),
       "lns16_6.9_inf": LNSFormat(6, 9, infinities=True)}
SATURATIONS = {"fixed": ("none", "finite", "wrap"), "lns": ("none", "finite", "propagate")}
INPUTS = ("float32", "float64", "int64", "uint64")

B32_KERNEL = r"""
extern "C" void mfk_b32(const double* x, uint32_t* out, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) out[i] = mf::binary32_bits_rne(x[i]);
}
"""


def _all_kernels() -> str:
    parts = [fl.prologue_source()]
    for what, key in fl.kernel_keys():
        parts.append(fl.kernel_text(what, key)[1])
    return "\n".join(parts) + B32_KERNEL


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    if GXX is None:
        pytest.skip("g++ not found")
    tmp = str(tmp_path_factory.mktemp("cuda_fixed_lns"))
    gxx(["-O1", "-shared", "-fPIC", "-o", os.path.join(tmp, "k.so")],
        HOST_PRELUDE + _all_kernels(), tmp)
    return ctypes.CDLL(os.path.join(tmp, "k.so"))


def _kind(f: FixedFormat | LNSFormat) -> str:
    return "fixed" if isinstance(f, FixedFormat) else "lns"


def _spec_table(f: FixedFormat | LNSFormat) -> tuple[list[Any], list[Any], np.ndarray | None]:
    from minifloat.backends import cpu

    spec = [ctypes.c_int32(v) for v in f.spec]
    if isinstance(f, FixedFormat):
        return spec, [], None
    t = np.ascontiguousarray(cpu.threshold_table(f.frac_bits), dtype=np.uint64)
    return spec, [_ptr(t)], t


def emulated_encode(lib: ctypes.CDLL, x: np.ndarray, f: FixedFormat | LNSFormat,
                    **kw: Any) -> tuple[np.ndarray, bool]:
    p = resolve_projection(f, x.shape, **kw)
    fn = getattr(lib, fl.encode_kernel_name(_kind(f), x.dtype.name, f.dtype.name))
    out = np.full(x.shape, 0xAB, dtype=f.dtype)
    bad = np.zeros(1, dtype=np.uint32)
    rnd_arr = p.random if p.random is not None else bad
    spec, table, _keep = _spec_table(f)
    i32, u64 = ctypes.c_int32, ctypes.c_uint64
    args = [_ptr(x), _ptr(out), u64(x.size), *spec, *table, i32(p.mode), i32(p.sat),
            i32(p.nbits), i32(p.rsrc), u64(p.seed), u64(p.offset), _ptr(rnd_arr), _ptr(bad)]
    _launch(lib, fn, args)
    return out, bool(bad[0])


def emulated_decode(lib: ctypes.CDLL, codes: np.ndarray, f: FixedFormat | LNSFormat,
                    dtype: type) -> tuple[np.ndarray, bool]:
    fn = getattr(lib, fl.decode_kernel_name(_kind(f), codes.dtype.name,
                                            np.dtype(dtype).name))
    out: np.ndarray = np.zeros(codes.shape, dtype=dtype)
    bad = np.zeros(1, dtype=np.uint32)
    spec, table, _keep = _spec_table(f)
    _launch(lib, fn, [_ptr(codes), _ptr(out), ctypes.c_uint64(codes.size), *spec, *table,
                      _ptr(bad)])
    return out, bool(bad[0])


def _codes_of(f: FixedFormat | LNSFormat, rng: np.random.Generator) -> np.ndarray:
    """Every code (<= 16 bits), else 2^16 random codes with the extremes."""
    if f.bits <= 16:
        return np.arange(f.num_codes, dtype=f.dtype)
    c = rng.integers(0, f.num_codes, 1 << 16, dtype=np.uint64)
    ends = np.array([0, 1, f.num_codes - 1, f.num_codes // 2, f.num_codes // 2 - 1])
    return np.concatenate([c, ends]).astype(f.dtype)


def probe_inputs(f: FixedFormat | LNSFormat, dtype: str, seed: int) -> np.ndarray:
    """The format's values, their midpoints and float neighbours of the midpoints, raw random
    bit patterns (Inf, subnormals; NaN only where the format has a NaN code), log-uniform
    values across the range and beyond it; shuffled."""
    rng = np.random.default_rng(seed)
    v = mf.decode(_codes_of(f, rng), f)
    v = np.unique(v[np.isfinite(v)])
    mids = (v[1:] + v[:-1]) / 2
    parts = [v, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf)]
    n = 1 << 11
    top = np.log2(np.max(np.abs(v)))
    low = np.log2(np.min(np.abs(v[v != 0])))
    logu = np.exp2(rng.uniform(low - 4, top + 2, n)) * rng.choice([-1, 1], n)
    if dtype in ("int64", "uint64"):
        x = np.round(np.concatenate([*parts, logu, rng.uniform(-2.0**40, 2.0**40, n)]))
        if dtype == "uint64":
            x = np.abs(x)
        x = x[np.abs(x) < 2.0**62].astype(dtype)
    else:
        ft = np.dtype(dtype)
        bits = rng.integers(0, 1 << (8 * ft.itemsize), n, dtype=np.uint64)
        raw = bits.astype(np.uint32 if ft.itemsize == 4 else np.uint64).view(ft)
        with np.errstate(over="ignore"):
            x = np.concatenate([p.astype(ft) for p in [*parts, logu]] + [raw])
        if not getattr(f, "has_nan", False):
            x = x[~np.isnan(x)]
    return rng.permutation(x)


CASES = [(name, dt) for name in [*FIXED, *LNS] for dt in INPUTS]


def _fmt(name: str) -> FixedFormat | LNSFormat:
    return FIXED[name] if name in FIXED else LNS[name]


@needs_gxx
@pytest.mark.parametrize("name,dtype", CASES)
def test_emulated_encode_equals_cpu(lib: ctypes.CDLL, name: str, dtype: str) -> None:
    f = _fmt(name)
    x = probe_inputs(f, dtype, seed=len(name) * 11 + len(dtype))
    sats = SATURATIONS[_kind(f)] + (("nan",) if getattr(f, "has_nan", False) else ())
    for mode, mname in MODE_NAMES.items():
        for sat in sats:
            kw: dict[str, Any] = {"rounding": mname, "saturation": sat}
            if mode >= cuda.STOCHASTIC_A:
                kw.update(seed=777 + mode, offset=(1 << 33) + 5, random_bits=RANDOM_BITS[mode])
            got, bad = emulated_encode(lib, x, f, **kw)
            want = mf.encode(x, f, **kw)
            assert not bad
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype} {mname} {sat}")
    r = np.random.default_rng(2).integers(0, 1 << 6, x.size)
    kw2: dict[str, Any] = {"rounding": "stochastic_b", "random_bits": 6, "random": r}
    got, bad = emulated_encode(lib, x, f, **kw2)
    np.testing.assert_array_equal(got, mf.encode(x, f, **kw2))


@needs_gxx
@pytest.mark.parametrize("name", [*FIXED, *LNS])
def test_emulated_decode_equals_cpu(lib: ctypes.CDLL, name: str) -> None:
    f = _fmt(name)
    codes = _codes_of(f, np.random.default_rng(5))
    check_decode(emulated_decode, lib, codes, f, name)


@needs_gxx
def test_decode_into_float32_subnormals(lib: ctypes.CDLL) -> None:
    """Values below 2^-126 reach float32 as subnormals, not zeros (the -ftz=true trap)."""
    lns = LNS["lns12_8.3"]
    codes = np.arange(lns.num_codes, dtype=lns.dtype)
    got, _ = emulated_decode(lib, codes, lns, np.float32)
    want = mf.decode(codes, lns, dtype=np.float32)
    tiny = (want != 0) & (np.abs(want) < np.finfo(np.float32).tiny)
    assert tiny.sum() > 20  # the case exists in this format
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@needs_gxx
def test_binary32_bits_rne_equals_numpy_cast(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(9)
    raw = rng.integers(0, 1 << 64, 1 << 16, dtype=np.uint64, endpoint=False).view(np.float64)
    # every float32 subnormal/normal boundary neighbourhood, ties at the subnormal quanta
    k = rng.integers(0, 1 << 24, 1 << 14).astype(np.float64)
    ties = np.concatenate([(k + 0.5) * 2.0**-149, k * 2.0**-149, (k + 0.5) * 2.0**-150])
    ulp = np.concatenate([np.arange(-60, 60) * 2.0**-180 + 2.0**-150,
                          np.arange(-60, 60) * 2.0**-180 + 2.0**-149,
                          np.arange(-60, 60) * 2.0**-178 + 2.0**-126])
    fmax = float(np.finfo(np.float32).max)
    edges = np.array([0.0, 2.0**-1074, 2.0**-1022, 2.0**-151, 2.0**-150, 2.0**-149,
                      fmax, fmax + 2.0**103, fmax + 2.0**103 - 2.0**50, fmax + 2.0**104,
                      np.inf, 1e300, 1.0, 1.5, 2.0**-126 - 2.0**-150, np.nan])
    nan_payloads = (np.uint64(0x7FF0000000000000) | rng.integers(
        1, 1 << 52, 256, dtype=np.uint64)).view(np.float64)
    ints = rng.integers(-(1 << 60), 1 << 60, 4096).astype(np.float64)
    x = np.concatenate([raw, ties, ulp, edges, nan_payloads, ints])
    x = np.ascontiguousarray(np.concatenate([x, -x]))
    out = np.zeros(x.size, dtype=np.uint32)
    lib.mfk_b32(_ptr(x), _ptr(out), ctypes.c_uint64(x.size))
    with np.errstate(over="ignore", invalid="ignore"):
        want = x.astype(np.float32).view(np.uint32)
    np.testing.assert_array_equal(out, want)


@needs_gxx
def test_float_decode_of_e8_format_keeps_subnormals(tmp_path: object) -> None:
    """The FloatFormat decode kernel stores float32 through the same function: an E8M7
    format's subnormals (2^-133 ..) stay float32 subnormals."""
    import ctypes as ct

    f = FloatFormat(8, 7)
    src = HOST_PRELUDE + cuda.prologue_source() + cuda.decode_kernel_source("uint16", "float32")
    path = os.path.join(str(tmp_path), "k.so")
    gxx(["-O1", "-shared", "-fPIC", "-o", path], src, str(tmp_path))
    klib = ct.CDLL(path)
    codes = np.arange(f.num_codes, dtype=np.uint16)
    out = np.zeros(codes.size, dtype=np.float32)
    bad = np.zeros(1, dtype=np.uint32)
    fn = klib.mf_decode_uint16_float32
    _launch(klib, fn, [_ptr(codes), _ptr(out), ct.c_uint64(codes.size),
                       *[ct.c_int32(v) for v in f.spec], _ptr(bad)])
    want = mf.decode(codes, f, dtype=np.float32)
    assert ((want != 0) & (np.abs(want) < np.finfo(np.float32).tiny)).sum() >= 254
    np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))


@needs_gxx
def test_emulated_encode_flags_nan(lib: ctypes.CDLL) -> None:
    for f in (FIXED["sfix32_15.16"], LNS["ulns8_4.3_inf"]):
        _, bad = emulated_encode(lib, np.array([1.0, np.nan, 2.0]), f)
        assert bad
        # the all-ones code of a 32-bit format is a code, not a marker
        got, bad = emulated_encode(lib, np.array([1.0, -2.0**-16, 3.0]), f)
        assert not bad
        np.testing.assert_array_equal(got, mf.encode(np.array([1.0, -2.0**-16, 3.0]), f))


def test_kernel_names_and_bad_keys() -> None:
    assert fl.encode_kernel_name("fixed", "float32", "uint32") == \
        "mf_fixed_encode_float32_uint32"
    assert fl.decode_kernel_name("lns", "uint16", "float64") == "mf_lns_decode_uint16_float64"
    with pytest.raises(ValueError, match="code_dtype must be one of"):
        fl.encode_kernel_name("lns", "float32", "uint32")  # LNS has <= 16 bits
    with pytest.raises(ValueError, match="kind must be"):
        fl.decode_kernel_name("float", "uint8", "float32")
    with pytest.raises(ValueError, match="in_dtype must be one of"):
        fl.encode_kernel_name("fixed", "float16", "uint8")
    assert "--device-int128" in fl.compile_options()
    assert len(fl.kernel_sources()) == len({n for n, _, _ in fl.kernel_sources()}) == 31


@needs_gxx
def test_call_path_with_stand_in_cupy(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """mf.encode / decode / quantize of CuPy-typed arrays into fixed-point and LNS formats
    go through codec -> cuda_fixed_lns -> kernel arguments (order and scalar types checked by
    the stand-in), and equal the CPU; errors as on the CPU."""
    cp: Any = _fake_cupy(str(tmp_path))
    cp.uint64 = np.uint64
    cp.cuda.runtime.getDevice = lambda: 0
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setattr(cuda, "_MODULES", {})
    monkeypatch.setattr(fl, "_THRESHOLDS", {})
    for f in (FIXED["sfix8_3.4"], FIXED["sfix32_15.16"], LNS["lns12_8.3"]):
        x = probe_inputs(f, "float32", seed=4)
        xd = cp.asarray(x)
        for kw in ({}, {"rounding": "toward_zero", "saturation": "finite"},
                   {"rounding": "stochastic_a", "random_bits": 7, "seed": 3, "offset": 11},
                   {"rounding": "stochastic_c", "random_bits": 4,
                    "random": cp.asarray(np.arange(x.size) % 16)}):
            got = mf.encode(xd, f, **kw)
            assert type(got) is cp.ndarray
            host_kw = {k: (np.asarray(v) if k == "random" else v) for k, v in kw.items()}
            np.testing.assert_array_equal(np.asarray(got), mf.encode(x, f, **host_kw))
        codes = _codes_of(f, np.random.default_rng(0))
        for dt in (np.float32, np.float64, np.float16):
            u = f"u{np.dtype(dt).itemsize}"
            with np.errstate(over="ignore"):  # float16 overflows to Inf, as on the CPU
                got_v = mf.decode(cp.asarray(codes), f, dtype=dt)
                want_v = mf.decode(codes, f, dtype=dt)
            np.testing.assert_array_equal(np.asarray(got_v).view(u), want_v.view(u))
        np.testing.assert_array_equal(np.asarray(mf.quantize(xd, f)), mf.quantize(x, f))
    f8 = FIXED["sfix8_3.4"]
    with pytest.raises(ValueError, match="no NaN code"):
        mf.encode(cp.asarray(np.array([1.0, np.nan])), f8)
    with pytest.raises(ValueError, match="codes must be in"):
        mf.decode(cp.asarray(np.array([0, 300], dtype=np.int64)), f8)
    assert len(fl._THRESHOLDS) == 1  # one table per (device, F), reused
