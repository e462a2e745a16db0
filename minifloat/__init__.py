"""minifloat: bit-exact, fast emulation of custom low-bit number formats.

>>> import minifloat as mf
>>> mf.quantize([0.3, 500.0], "e4m3")
array([0.3125,    nan])
"""

from typing import Any, TextIO

from . import fixed as fixed  # noqa: F401 - mf.fixed, mf.lns: the user-facing namespaces
from . import lns as lns  # noqa: F401
from .array import MiniArray, asarray, from_codes, full, ones, zeros
from .backends import include_dir
from .backends.cpu import get_num_threads, set_num_threads
from .block_array import BlockArray
from .blocks import BlockCodes
from .codec import decode, encode, philox_words, quantize
from .formats import (
    ALIASES,
    BLOCK_PRESETS,
    LNS_PRESETS,
    PRESETS,
    BlockFormat,
    FixedFormat,
    FloatFormat,
    Format,
    FormatLike,
    LNSFormat,
    format,
    p3109,
)
from .io import from_ml_dtypes, load, pack_codes, save, unpack_codes
from .linalg import block_matmul, conv2d, dot, einsum, matmul, mean, tensordot
from .linalg import sum as sum  # noqa: A004 - mf.sum shadows builtins.sum only inside minifloat
from .ops import (
    absolute,
    add,
    divide,
    fma,
    fmax,
    fmin,
    maximum,
    minimum,
    multiply,
    negative,
    positive,
    reciprocal,
    sign,
    sqrt,
    square,
    subtract,
)
from .rounding import ROUNDINGS, SATURATIONS, config

__version__ = "0.1.0"


def build_info() -> dict[str, Any]:
    """How the compiled core was built and which ISA level runs (docs/build.md).

    Keys: ``compiler``, ``build_type``, ``architecture``, ``common_flags`` (every level),
    ``levels_compiled``, ``levels_supported`` (of those, the ones this CPU runs), ``level``
    (in use), ``level_flags``, ``level_target`` (the compiler's target macros), ``chosen_by``
    (``$MINIFLOAT_ISA`` or the CPU probe), ``module``, ``module_file``, ``cpu_features``,
    ``version``.
    """
    from . import _core

    info = _core.build_info()
    info["version"] = __version__
    return info


def show_config(file: TextIO | None = None) -> None:
    """Print build_info() as text (the output of ``minifloat info --build``) to ``file``
    (default sys.stdout)."""
    import sys

    from . import _core

    (file or sys.stdout).write(f"minifloat {__version__}\n" + _core.build_info_text())


def get_include() -> str:
    """Folder holding the installed header core (``minifloat/*.h``): the same files the C++
    extension was built from, for the GPU backend (NVRTC) and for C++ users."""
    return include_dir()


def get_library() -> str:
    """Path of the C ABI shared library (``libminifloat_c``, header ``minifloat_c.h``): the
    same header core behind a stable C interface, for C, DPI-C and FFI users
    (:mod:`minifloat.capi`). Raises FileNotFoundError, saying how to build it, when absent."""
    from .capi import get_library as _get_library

    return _get_library()


# Submodules imported on first use (``mf.data``), so ``import minifloat`` stays light.
_LAZY_SUBMODULES = ("capi", "data", "hw", "nn")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'minifloat' has no attribute {name!r}")


__all__ = [
    "MiniArray", "asarray", "from_codes", "full", "ones", "zeros", "conv2d", "dot", "einsum",
    "matmul", "block_matmul", "mean", "sum", "tensordot", "absolute", "add", "divide", "fma",
    "fmax", "fmin",
    "maximum", "minimum", "multiply", "negative", "positive", "reciprocal", "sign", "sqrt",
    "square", "subtract", "from_ml_dtypes", "load", "save",
    "ALIASES", "PRESETS", "ROUNDINGS", "SATURATIONS", "FloatFormat", "config", "decode",
    "encode", "format", "get_include", "get_library", "get_num_threads", "p3109",
    "philox_words", "quantize", "set_num_threads", "FixedFormat", "LNSFormat", "LNS_PRESETS",
    "Format", "FormatLike", "BlockFormat", "BlockCodes", "BlockArray", "BLOCK_PRESETS",
    "pack_codes", "unpack_codes", "build_info", "show_config",
]
