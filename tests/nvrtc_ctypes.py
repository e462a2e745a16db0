"""A minimal ctypes binding of NVRTC for the tests (not part of the package).

It loads ``libnvrtc`` from the PyPI wheel ``nvidia-cuda-nvrtc`` (CUDA 13: ``nvidia/cu13/lib``)
or ``nvidia-cuda-nvrtc-cu12`` (``nvidia/cuda_nvrtc/lib``), or from the file named by the
environment variable ``MINIFLOAT_NVRTC_LIB``.  NVRTC needs no GPU and no driver: it compiles
CUDA C++ to PTX (and, for ``sm_XX``, to cubin with its built-in ptxas) on the CPU.  Its
companion ``libnvrtc-builtins`` (loaded by libnvrtc at the first compile) is preloaded from the
same folder, so that no ``LD_LIBRARY_PATH`` is needed.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Folders of the wheels' shared libraries below site-packages/nvidia/.
_WHEEL_LIB_DIRS = ("cu13/lib", "cuda_nvrtc/lib")
NVRTC_SUCCESS = 0


class NvrtcError(RuntimeError):
    """An NVRTC call other than the compile itself failed."""


@dataclass(frozen=True)
class CompileResult:
    """Outcome of one nvrtcCompileProgram: ``ok`` (NVRTC_SUCCESS), the status text, the
    program log (errors, warnings, ptxas output), the PTX (empty when not ok) and the size of
    the cubin (0 unless compiled for a real architecture, ``sm_XX``)."""

    ok: bool
    status: str
    log: str
    ptx: str
    cubin_size: int = 0


def _lib_candidates(folder: str) -> list[str]:
    # libnvrtc.so.13 / libnvrtc.so.12 (not the .alt variant, nor the builtins)
    return sorted(p for p in glob.glob(os.path.join(folder, "libnvrtc.so*"))
                  if re.fullmatch(r"libnvrtc\.so(\.\d+)*", os.path.basename(p)))


def find_libnvrtc() -> str | None:
    """Path of libnvrtc: ``$MINIFLOAT_NVRTC_LIB``, else the one of an installed nvidia wheel,
    else None."""
    env = os.environ.get("MINIFLOAT_NVRTC_LIB")
    if env:
        return env
    spec = importlib.util.find_spec("nvidia")
    if spec is None or spec.submodule_search_locations is None:
        return None
    for base in spec.submodule_search_locations:
        for sub in _WHEEL_LIB_DIRS:
            found = _lib_candidates(os.path.join(base, sub))
            if found:
                return found[-1]
    return None


class NVRTC:
    """The NVRTC library at ``path`` (see :func:`find_libnvrtc`)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        folder = os.path.dirname(self.path)
        # Preload the builtins library so that libnvrtc's dlopen of it by soname finds it
        # loaded, whatever LD_LIBRARY_PATH says (the 12.9 and 13.5 wheels' libnvrtc also find
        # it through their $ORIGIN run path; a copy moved elsewhere would not).  Both stay
        # RTLD_LOCAL: in a process that also
        # runs CuPy (linked to another NVRTC, e.g. libnvrtc.so.12) these nvrtc* symbols must
        # not enter the global scope.
        self._builtins = [ctypes.CDLL(b, mode=ctypes.RTLD_LOCAL) for b in
                          sorted(glob.glob(os.path.join(folder, "libnvrtc-builtins.so*")))
                          if ".alt." not in os.path.basename(b)]
        lib = ctypes.CDLL(self.path, mode=ctypes.RTLD_LOCAL)
        p = ctypes.c_void_p
        pp = ctypes.POINTER(ctypes.c_void_p)
        cpp = ctypes.POINTER(ctypes.c_char_p)
        sz = ctypes.POINTER(ctypes.c_size_t)
        ip = ctypes.POINTER(ctypes.c_int)
        sigs = {
            "nvrtcVersion": [ip, ip],
            "nvrtcGetNumSupportedArchs": [ip],
            "nvrtcGetSupportedArchs": [ip],
            "nvrtcCreateProgram": [pp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, cpp, cpp],
            "nvrtcCompileProgram": [p, ctypes.c_int, cpp],
            "nvrtcGetProgramLogSize": [p, sz],
            "nvrtcGetProgramLog": [p, ctypes.c_char_p],
            "nvrtcGetPTXSize": [p, sz],
            "nvrtcGetPTX": [p, ctypes.c_char_p],
            "nvrtcGetCUBINSize": [p, sz],
            "nvrtcDestroyProgram": [pp],
        }
        for name, args in sigs.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = ctypes.c_int
        lib.nvrtcGetErrorString.argtypes = [ctypes.c_int]
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        self._lib = lib

    def error_string(self, code: int) -> str:
        """NVRTC's name of a result code, e.g. ``NVRTC_ERROR_COMPILATION``."""
        s = self._lib.nvrtcGetErrorString(code)
        return s.decode() if s else f"nvrtcResult {code}"

    def _check(self, code: int, what: str) -> None:
        if code != NVRTC_SUCCESS:
            raise NvrtcError(f"{what} failed: {self.error_string(code)}")

    def version(self) -> tuple[int, int]:
        """(major, minor) of this NVRTC, e.g. (13, 1)."""
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self._lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)),
                    "nvrtcVersion")
        return major.value, minor.value

    def supported_archs(self) -> list[int]:
        """The compute capabilities this NVRTC compiles for, e.g. [75, 80, ..., 120]."""
        n = ctypes.c_int()
        self._check(self._lib.nvrtcGetNumSupportedArchs(ctypes.byref(n)),
                    "nvrtcGetNumSupportedArchs")
        arr = (ctypes.c_int * n.value)()
        self._check(self._lib.nvrtcGetSupportedArchs(arr), "nvrtcGetSupportedArchs")
        return list(arr)

    def compile(self, source: str, options: Sequence[str], name: str = "kernel.cu"
                ) -> CompileResult:
        """Compile ``source`` with ``options``; the result carries NVRTC's log and PTX."""
        prog = ctypes.c_void_p()
        self._check(self._lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(),
                                                 name.encode(), 0, None, None),
                    "nvrtcCreateProgram")
        try:
            opts = [o.encode() for o in options]
            arr = (ctypes.c_char_p * max(1, len(opts)))(*opts)
            rc = self._lib.nvrtcCompileProgram(prog, len(opts), arr)
            n = ctypes.c_size_t()
            self._check(self._lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n)),
                        "nvrtcGetProgramLogSize")
            buf = ctypes.create_string_buffer(n.value)
            self._check(self._lib.nvrtcGetProgramLog(prog, buf), "nvrtcGetProgramLog")
            log = buf.value.decode(errors="replace")
            ptx, cubin_size = "", 0
            if rc == NVRTC_SUCCESS:
                self._check(self._lib.nvrtcGetPTXSize(prog, ctypes.byref(n)), "nvrtcGetPTXSize")
                pbuf = ctypes.create_string_buffer(n.value)
                self._check(self._lib.nvrtcGetPTX(prog, pbuf), "nvrtcGetPTX")
                ptx = pbuf.value.decode(errors="replace")
                # 0 for a virtual architecture (compute_XX): PTX only
                self._check(self._lib.nvrtcGetCUBINSize(prog, ctypes.byref(n)),
                            "nvrtcGetCUBINSize")
                cubin_size = n.value
            return CompileResult(rc == NVRTC_SUCCESS, self.error_string(rc), log, ptx,
                                 cubin_size)
        finally:
            self._lib.nvrtcDestroyProgram(ctypes.byref(prog))


def load() -> NVRTC | None:
    """The NVRTC of :func:`find_libnvrtc`, or None when no library is found."""
    path = find_libnvrtc()
    return NVRTC(path) if path else None
