"""The minifloat C ABI (``csrc/capi/minifloat_c.h``): where it is, and a ctypes binding.

The shared library ``libminifloat_c`` is built with the package (installed as
``minifloat/lib/libminifloat_c.so``, the header as ``minifloat/include/minifloat_c.h``) from the
same header core as the Python extension, so C programs, SystemVerilog DPI-C testbenches and
other FFIs get the package's results bit for bit (docs/hardware.md, "Three ways in").

- :func:`get_library` — path of the shared library (``$MINIFLOAT_C_LIBRARY`` overrides).
- :func:`get_header_dir` — folder holding ``minifloat_c.h``.
- :func:`compile_library` — build it from a source checkout with a C++17 compiler.
- :func:`load` — the library as a ``ctypes.CDLL`` with every function's signature set;
  :func:`format_struct` turns a :class:`FloatFormat` into the ``mf_format`` struct.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .formats import FloatFormat

ENV_VAR = "MINIFLOAT_C_LIBRARY"

# Constants of minifloat_c.h (MF_*), by the names the Python API uses.
ROUNDING_CODES = {
    "nearest_even": 0, "nearest_away": 1, "nearest_zero": 2, "toward_zero": 3,
    "toward_positive": 4, "toward_negative": 5, "odd": 6, "stochastic_a": 7,
    "stochastic_b": 8, "stochastic_c": 9, "stochastic_equal": 10,
}
SATURATION_CODES = {"none": 0, "finite": 1, "propagate": 2, "nan": 3}
OP_CODES = {"add": 0, "sub": 1, "mul": 2, "div": 3, "fma": 4, "sqrt": 5}
NAN_LAYOUT_CODES = {"ieee": 0, "max": 1, "negzero": 2, "none": 3}
ERRORS = {
    0: "MF_OK", 1: "MF_ERR_NULL", 2: "MF_ERR_FORMAT", 3: "MF_ERR_ROUNDING",
    4: "MF_ERR_SATURATION", 5: "MF_ERR_RANDOM_BITS", 6: "MF_ERR_RANDOM_VALUE", 7: "MF_ERR_OP",
    8: "MF_ERR_CODE", 9: "MF_ERR_NO_CODE",
}
ABI_VERSION = 1


def library_name() -> str:
    """File name of the shared library on this platform."""
    if sys.platform == "win32":
        return "minifloat_c.dll"
    if sys.platform == "darwin":
        return "libminifloat_c.dylib"
    return "libminifloat_c.so"


def _package_dirs() -> list[Path]:
    """Folders the installed package occupies: this source folder and, for an editable
    install, the folder that holds the compiled extension (site-packages/minifloat)."""
    dirs = [Path(__file__).resolve().parent]
    # minifloat._cpuinfo is compiled (minifloat._core is the Python dispatcher, in the source
    # folder of an editable install).
    spec = importlib.util.find_spec("minifloat._cpuinfo")
    if spec is not None and spec.origin:
        core_dir = Path(spec.origin).resolve().parent
        if core_dir not in dirs:
            dirs.append(core_dir)
    return dirs


def _source_dir() -> Path | None:
    """``csrc/capi`` of a source checkout holding this package, or None."""
    src = Path(__file__).resolve().parent.parent / "csrc"
    return src if (src / "capi" / "minifloat_c.cpp").is_file() else None


def get_library() -> str:
    """Path of the C ABI shared library.

    ``$MINIFLOAT_C_LIBRARY`` (a file path) overrides the search; otherwise ``lib/`` of the
    installed package.

    Raises:
        FileNotFoundError: the library is not there (not built, or the variable names a
            missing file); the message says where it looked and how to build it.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        if not os.path.isfile(env):
            raise FileNotFoundError(f"${ENV_VAR}={env!r} is not a file")
        return env
    tried = [d / "lib" / library_name() for d in _package_dirs()]
    for p in tried:
        if p.is_file():
            return str(p)
    hint = ("reinstall the package (pip install .) to build it, or build it from a source "
            "checkout: cmake -S csrc/capi -B build/capi && cmake --build build/capi, then set "
            f"${ENV_VAR}=build/capi/{library_name()} (or call minifloat.capi.compile_library)")
    raise FileNotFoundError(f"{library_name()} not found (looked in: "
                            f"{', '.join(str(p) for p in tried)}); {hint}")


def get_header_dir() -> str:
    """Folder holding ``minifloat_c.h`` (installed ``include/``, else the checkout's
    ``csrc/capi``).

    Raises:
        FileNotFoundError: neither exists.
    """
    tried = [d / "include" for d in _package_dirs()]
    src = _source_dir()
    if src is not None:
        tried.append(src / "capi")
    for d in tried:
        if (d / "minifloat_c.h").is_file():
            return str(d)
    raise FileNotFoundError("minifloat_c.h not found (looked in: "
                            f"{', '.join(str(d) for d in tried)})")


def compile_library(out_dir: str | os.PathLike[str], compiler: str | None = None) -> str:
    """Compile the shared library from a source checkout into ``out_dir``; returns its path.

    Args:
        out_dir: folder for the library (created if missing).
        compiler: a C++17 compiler command (default ``$CXX``, else ``g++``, else ``c++``).

    Raises:
        FileNotFoundError: no source checkout (csrc/) beside the package, or no compiler.
        RuntimeError: the compiler failed (its output is in the message).
    """
    src = _source_dir()
    if src is None:
        raise FileNotFoundError("the C ABI sources (csrc/capi/minifloat_c.cpp) are not beside "
                                "this package: compile_library needs a source checkout")
    cxx = compiler or os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx or not shutil.which(cxx.split()[0]):
        raise FileNotFoundError(f"no C++ compiler found (tried {cxx or 'g++, c++'})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lib = out / library_name()
    cmd = [*cxx.split(), "-std=c++17", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC",
           "-fvisibility=hidden", f"-I{src / 'include'}", str(src / "capi" / "minifloat_c.cpp"),
           "-o", str(lib)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"compiling the C ABI failed ({' '.join(cmd)}):\n{res.stderr}")
    return str(lib)


class MfFormat(ctypes.Structure):
    """``mf_format`` of minifloat_c.h."""

    _fields_ = [(name, ctypes.c_int32) for name in (
        "exp_bits", "man_bits", "bias", "is_signed", "subnormals", "infinities", "nan_layout",
        "negative_zero")]


def format_struct(fmt: FloatFormat) -> MfFormat:
    """The ``mf_format`` struct of a float format (its ``spec`` tuple)."""
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"format_struct takes a FloatFormat, got {type(fmt).__name__}")
    return MfFormat(*fmt.spec)


def load(path: str | os.PathLike[str] | None = None) -> ctypes.CDLL:
    """The C ABI library (default :func:`get_library`) with argument and result types set.

    Raises:
        FileNotFoundError: see :func:`get_library`.
        RuntimeError: the library's ABI version is not the one this module binds.
    """
    lib = ctypes.CDLL(str(path) if path is not None else get_library())
    i32, u32, sz = ctypes.c_int, ctypes.c_uint32, ctypes.c_size_t
    fp = ctypes.POINTER(MfFormat)
    u16p, u8p = ctypes.POINTER(ctypes.c_uint16), ctypes.POINTER(ctypes.c_uint8)
    u32p = ctypes.POINTER(ctypes.c_uint32)
    sigs = {
        "mf_abi_version": (i32, []),
        "mf_error_string": (ctypes.c_char_p, [i32]),
        "mf_check_format": (i32, [fp, ctypes.c_char_p, sz]),
        "mf_format_bits": (i32, [fp]),
        "mf_encode": (i32, [fp, ctypes.c_double, i32, i32, i32, u32, u32p, u32p]),
        "mf_decode": (i32, [fp, u32, ctypes.POINTER(ctypes.c_double)]),
        "mf_op": (i32, [i32, fp, fp, u32, u32, u32, i32, i32, i32, u32, u32p, u32p]),
        "mf_op_array": (i32, [i32, fp, fp, sz, u16p, u16p, u16p, i32, i32, i32, u32p, u16p,
                              u8p, ctypes.POINTER(sz)]),
        "mf_encode_array": (i32, [fp, sz, ctypes.POINTER(ctypes.c_double), i32, i32, i32, u32p,
                                  u16p, u8p, ctypes.POINTER(sz)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    version = lib.mf_abi_version()
    if version != ABI_VERSION:
        raise RuntimeError(f"{path or get_library()} has C ABI version {version}; this module "
                           f"binds version {ABI_VERSION}")
    return lib


__all__ = [
    "ENV_VAR", "ERRORS", "MfFormat", "NAN_LAYOUT_CODES", "OP_CODES", "ROUNDING_CODES",
    "SATURATION_CODES", "compile_library", "format_struct", "get_header_dir", "get_library",
    "library_name", "load",
]
