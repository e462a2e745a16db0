"""Every GPU kernel compiles with the real NVRTC, warnings as errors, on a machine without a GPU.

NVRTC (the PyPI wheel ``nvidia-cuda-nvrtc``, loaded through ctypes by tests/nvrtc_ctypes.py)
compiles CUDA C++ on the CPU; it needs no driver and no device.  Each kernel source of
:func:`minifloat.backends.cuda.kernel_sources` is compiled with the options the backend hands to
``cupy.RawModule`` plus what CuPy appends (``-ftz=true`` and the architecture), with
``-Werror=all-warnings``:

- to PTX for ``compute_80`` and ``compute_90`` (CuPy's ``-arch=compute_XX`` path);
- to cubin for ``sm_80`` and ``sm_90`` (CuPy's ``-arch=sm_XX`` path, the default when NVRTC knows
  the device's architecture), which runs NVRTC's built-in ptxas as well.

The log must be empty of warnings in all four, and the PTX free of flushing (``.ftz``)
instructions.  The fixed-point and LNS kernels of
:func:`minifloat.backends.cuda_fixed_lns.kernel_sources` (with their ``--device-int128``) are
compiled on every architecture, and so are the two contraction kernels of
:func:`minifloat.backends.cuda_linalg.kernel_sources` and the eight block-format kernels of
:func:`minifloat.backends.cuda_blocks.kernel_sources`.  Every kernel (encode, decode and the 99
elementwise ``mf_arith_<op>_m<mode>`` kernels) is compiled for ``compute_80`` and ``sm_90``; to keep
this file's runtime reasonable, ``compute_90`` and ``sm_80`` compile every encode/decode kernel
and the elementwise kernels of every operation in a representative set of modes
(:data:`ARITH_SUBSET_MODES`).  Self-tests show that a warning does fail under
these options and that a syntax error is reported with NVRTC's log.  Skipped when no NVRTC
library is installed (``pip install nvidia-cuda-nvrtc``, part of the ``test`` extra).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import pytest

from minifloat.backends import cuda, cuda_blocks, cuda_fixed_lns, cuda_linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvrtc_ctypes  # noqa: E402

_NVRTC = nvrtc_ctypes.load()
pytestmark = pytest.mark.skipif(
    _NVRTC is None,
    reason="NVRTC not installed: pip install nvidia-cuda-nvrtc (or set MINIFLOAT_NVRTC_LIB)")

PTX_ARCHS = ("compute_80", "compute_90")
CUBIN_ARCHS = ("sm_80", "sm_90")
# Architectures that compile every kernel; the others compile every encode/decode kernel and
# the elementwise kernels in these modes only (nearest_even and stochastic_c: a deterministic
# and a stochastic instance of project.h's code paths for every operation).
FULL_ARCHS = ("compute_80", "sm_90")
ARITH_SUBSET_MODES = (0, 9)
# What CuPy's compiler appends to RawModule's options (cupy/cuda/compiler.py), besides the
# architecture and its own include folders, which these sources do not use.
CUPY_ADDS = ("-ftz=true",)


def nvrtc() -> nvrtc_ctypes.NVRTC:
    assert _NVRTC is not None
    return _NVRTC


def _werror() -> tuple[str, ...]:
    """``-Werror=all-warnings`` where this NVRTC accepts it (13.x does; 12.9 has no -Werror
    option at all and rejects every spelling).  Either way compile_or_fail also fails on any
    warning left in the log."""
    r = nvrtc().compile('extern "C" __global__ void k() {}\n',
                        ["-Werror=all-warnings", "--gpu-architecture=compute_80"])
    return ("-Werror=all-warnings",) if r.ok else ()


WERROR = _werror() if _NVRTC is not None else ()


def full_options(options: Sequence[str], arch: str) -> list[str]:
    opts = [*options, *CUPY_ADDS, f"--gpu-architecture={arch}", *WERROR]
    # -w silences every warning and overrides -Werror (NVRTC says so): it must never be here.
    assert "-w" not in opts and "--disable-warnings" not in opts
    return opts


def compile_or_fail(name: str, source: str, options: Sequence[str], arch: str
                    ) -> nvrtc_ctypes.CompileResult:
    r = nvrtc().compile(source, full_options(options, arch), name=f"{name}.cu")
    if not r.ok:
        pytest.fail(f"NVRTC {nvrtc().version()} failed on {name} for {arch} "
                    f"({r.status}):\n{r.log}")
    # -Werror makes NVRTC diagnostics errors; option-level and ptxas messages are not
    # covered by it (nor anything, on an NVRTC without -Werror), so any "warning" left in the
    # log fails too.
    if "warning" in r.log.lower():
        pytest.fail(f"NVRTC {nvrtc().version()} warned on {name} for {arch}:\n{r.log}")
    return r


def distinct_sources(arch: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """kernel_sources() for ``arch`` (all of them on FULL_ARCHS, see the module docstring),
    identical (source, options) pairs compiled once."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    keyed = [*zip(cuda.kernel_keys(), cuda.kernel_sources()),
             *zip(cuda_fixed_lns.kernel_keys(), cuda_fixed_lns.kernel_sources()),
             *[(("contract", (n,)), k) for n, k in zip(cuda_linalg.OUT_TYPES,
                                                      cuda_linalg.kernel_sources())],
             *[(("block", (k[0],)), k) for k in cuda_blocks.kernel_sources()]]
    for (kind, key), (name, src, opts) in keyed:
        if kind == "arith" and arch not in FULL_ARCHS and key[1] not in ARITH_SUBSET_MODES:
            continue
        if (src, opts) not in seen:
            seen.add((src, opts))
            out.append((name, src, opts))
    return out


# ------------------------------------------------------------------ the kernels


def test_kernel_list_is_complete() -> None:
    names = [n for n, _, _ in cuda.kernel_sources()]
    n_enc = len(cuda.INPUT_TYPES) * len(cuda.CODE_TYPES) * cuda.NUM_ROUNDINGS
    n_dec = len(cuda.CODE_TYPES) * len(cuda.VALUE_TYPES)
    n_arith = len(cuda.ARITH_OPS) * cuda.NUM_ROUNDINGS
    assert len(names) == len(set(names)) == n_enc + n_dec + n_arith == 191
    assert "mf_encode_uint64_uint16_m10" in names and "mf_decode_uint8_float64" in names
    assert "mf_arith_fma_m10" in names and "mf_arith_positive_m0" in names
    # fixed point: 4 inputs x 3 code dtypes + 3 x 2 decodes + the arithmetic kernel;
    # LNS: 4 x 2 + 2 x 2
    n_fl = len(cuda_fixed_lns.kernel_sources())
    assert n_fl == 18 + 1 + 12
    n_mm = len(cuda_linalg.kernel_sources())  # contraction kernels: uint8 and uint16 outputs
    n_bl = len(cuda_blocks.kernel_sources())  # block encode (2 inputs x 2 codes) and decode
    assert n_mm == 2 and n_bl == 8
    n_mm += n_bl
    assert len(distinct_sources("compute_80")) == 191 + n_fl + n_mm
    assert len(distinct_sources("sm_80")) == n_enc + n_dec + len(cuda.ARITH_OPS) * len(
        ARITH_SUBSET_MODES) + n_fl + n_mm
    for name, src, opts in cuda.kernel_sources():
        assert f" {name}(" in src
        assert opts == cuda.compile_options()
    assert "mf_fixed_arith" in {name for name, _, _ in cuda_fixed_lns.kernel_sources()}
    for name, src, opts in cuda_fixed_lns.kernel_sources():
        assert f" {name}(" in src and '#include "minifloat/lns.h"' in src
        assert opts == (*cuda.compile_options(), "--device-int128")


@pytest.mark.parametrize("arch", PTX_ARCHS + CUBIN_ARCHS)
def test_every_kernel_compiles(arch: str) -> None:
    srcs = distinct_sources(arch)
    t0 = time.perf_counter()
    for name, src, opts in srcs:
        r = compile_or_fail(name, src, opts, arch)
        # the kernel is in the PTX under its extern "C" name
        assert f".entry {name}(" in r.ptx, name
        # CuPy's -ftz=true flushes float32 subnormals in every f32 instruction that has an
        # .ftz form; the kernels must contain none (float32 stores go through integer
        # arithmetic: mf::binary32_bits_rne), or a GPU result could differ from the CPU's.
        flushing = [ln.strip() for ln in r.ptx.splitlines() if ".ftz" in ln]
        assert not flushing, (name, flushing[:3])
        if arch.startswith("sm_"):
            assert r.cubin_size > 0, name
    dt = time.perf_counter() - t0
    print(f"\nNVRTC {'.'.join(map(str, nvrtc().version()))} {arch}: {len(srcs)} sources "
          f"compiled in {dt:.1f} s")


@pytest.mark.parametrize("arch", ("compute_80", "sm_90"))
def test_all_kernels_in_one_file(arch: str) -> None:
    """One prologue followed by every kernel text (prologue_source's documented use): all of
    them for compute_80; for sm_90 (slower, cubin) the elementwise kernels in
    ARITH_SUBSET_MODES only."""
    keys = [(kind, key) for kind, key in cuda.kernel_keys()
            if arch == "compute_80" or kind != "arith" or key[1] in ARITH_SUBSET_MODES]
    parts = [cuda.prologue_source()]
    parts += [cuda.kernel_text(kind, key)[1] for kind, key in keys]
    r = compile_or_fail("all_kernels", "\n".join(parts), cuda.compile_options(), arch)
    assert r.ptx.count(".entry ") == len(keys)
    fl_keys = cuda_fixed_lns.kernel_keys()
    text = "\n".join([cuda_fixed_lns.prologue_source()] +
                     [cuda_fixed_lns.kernel_text(w, k)[1] for w, k in fl_keys])
    r = compile_or_fail("all_fixed_lns", text, cuda_fixed_lns.compile_options(), arch)
    assert r.ptx.count(".entry ") == len(fl_keys)


# ------------------------------------------------------------------ self-tests of the check

def test_nvrtc_version_and_archs() -> None:
    major, _ = nvrtc().version()
    assert major >= 12
    archs = nvrtc().supported_archs()
    assert 80 in archs and 90 in archs


@pytest.mark.parametrize("snippet", [
    'extern "C" __global__ void k(int* p) { int unused_local = 3; p[0] = 1; }\n',
    '__device__ int f(int x) { if (x) return 1; }\n'
    'extern "C" __global__ void k(int* p) { p[0] = f(p[1]); }\n',
], ids=["unused-variable", "missing-return"])
def test_a_warning_fails(snippet: str) -> None:
    quiet = nvrtc().compile(snippet, ["--std=c++17", "--gpu-architecture=compute_80"])
    assert quiet.ok and "warning" in quiet.log  # NVRTC warns on it ...
    if WERROR:  # ... these options make it an error ...
        strict = nvrtc().compile(snippet, full_options(["--std=c++17"], "compute_80"))
        assert not strict.ok and "error" in strict.log
    # ... and the check fails on it, naming the diagnostic
    with pytest.raises(pytest.fail.Exception, match="NVRTC_ERROR_COMPILATION|warned"):
        compile_or_fail("warn", snippet, ["--std=c++17"], "compute_80")


def test_a_syntax_error_is_reported_with_the_log() -> None:
    src = cuda.prologue_source() + 'extern "C" __global__ void k(int* p) { p[0] = 1 }\n'
    with pytest.raises(pytest.fail.Exception) as info:
        compile_or_fail("broken", src, cuda.compile_options(), "compute_80")
    msg = str(info.value)
    assert "NVRTC_ERROR_COMPILATION" in msg and 'expected a ";"' in msg and "broken.cu(" in msg


def test_an_unknown_option_fails() -> None:
    """NVRTC rejects nvcc-only options (the backend once passed --expt-relaxed-constexpr)."""
    r = nvrtc().compile('extern "C" __global__ void k() {}\n',
                        ["--expt-relaxed-constexpr", "--gpu-architecture=compute_80"])
    assert not r.ok and r.status == "NVRTC_ERROR_INVALID_OPTION"
    assert "unrecognized option" in r.log
