"""The compiled core, at the best ISA level this CPU runs (docs/build.md).

The C++ sources are compiled once per ISA level into separate extension modules
(``minifloat._core_baseline``, ``_core_avx2`` = x86-64-v3, ``_core_avx512`` = x86-64-v4 on
x86-64; ``_core_baseline`` only on aarch64; ``_core_native`` alone in an opt-in
``-DMINIFLOAT_NATIVE=ON`` build). At import this module asks ``minifloat._cpuinfo`` (CPUID and
XGETBV) which levels the CPU and OS support, imports the highest one compiled in, and
re-exports its functions, so ``from minifloat import _core; _core.encode(...)`` calls it.
The levels differ only in the instructions the compiler chose: every level gives the same bits.

``$MINIFLOAT_ISA`` (``baseline``, ``avx2``, ``avx512`` or ``native``) forces a level; a level
that was not compiled in or that this CPU cannot run is an ImportError that says so.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from . import _cpuinfo

ENV_VAR = "MINIFLOAT_ISA"
#: Every level name, lowest first.
LEVELS = ("baseline", "avx2", "avx512", "native")


def compiled_levels() -> tuple[str, ...]:
    """The ISA levels this build compiled in, lowest first."""
    return tuple(v for v in str(_cpuinfo.COMPILED_LEVELS).split(",") if v)


def supported_levels() -> tuple[str, ...]:
    """The ISA levels this CPU and OS can run, lowest first (``native``: the build machine's
    own, assumed runnable when compiled in)."""
    return tuple(_cpuinfo.supported_levels()) + ("native",)


def _choose() -> tuple[str, str]:
    """(level, how it was chosen)."""
    compiled = compiled_levels()
    runnable = [lv for lv in compiled if lv in supported_levels()]
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced:
        if forced not in LEVELS:
            raise ImportError(
                f"minifloat: ${ENV_VAR}={forced!r} is not an ISA level; allowed values: "
                f"{', '.join(LEVELS[:3])} (or native in a -DMINIFLOAT_NATIVE=ON build), "
                f"or unset it to pick the best level automatically")
        if forced not in compiled:
            raise ImportError(
                f"minifloat: ${ENV_VAR}={forced!r}: this build has only the levels "
                f"{', '.join(compiled)}; allowed values here: {', '.join(runnable)}")
        if forced not in runnable:
            raise ImportError(
                f"minifloat: ${ENV_VAR}={forced!r}: this CPU cannot run that level (it lacks "
                f"the instructions or the OS support); allowed values here: "
                f"{', '.join(runnable)}")
        return forced, f"${ENV_VAR}={forced}"
    if not runnable:
        raise ImportError(f"minifloat: no compiled ISA level ({', '.join(compiled)}) runs on "
                          f"this CPU")
    return runnable[-1], "best level supported by this CPU (CPUID/XGETBV)"


def _load() -> tuple[ModuleType, str, str]:
    level, how = _choose()
    return importlib.import_module(f"minifloat._core_{level}"), level, how


_module, ISA, ISA_CHOSEN_BY = _load()

for _name in dir(_module):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_module, _name)
del _name


def build_info() -> dict[str, Any]:
    """How the core was built and which level runs: compiler, flags, levels compiled in and
    supported here, the level in use and how it was chosen, the module file."""
    return {
        "compiler": str(_cpuinfo.COMPILER),
        "build_type": str(_cpuinfo.BUILD_TYPE),
        "architecture": str(_cpuinfo.SYSTEM_PROCESSOR),
        "common_flags": str(_cpuinfo.COMMON_FLAGS),
        "levels_compiled": list(compiled_levels()),
        "levels_supported": [lv for lv in compiled_levels() if lv in supported_levels()],
        "level": ISA,
        "level_flags": str(getattr(_module, "ISA_FLAGS", "")),
        "level_target": str(getattr(_module, "ISA_TARGET", "")).strip(),
        "chosen_by": ISA_CHOSEN_BY,
        "module": _module.__name__,
        "module_file": str(getattr(_module, "__file__", "")),
        "cpu_features": sorted(k for k, v in dict(_cpuinfo.features()).items() if v),
    }


def build_info_text() -> str:
    """build_info() as the lines ``minifloat info --build`` and ``mf.show_config()`` print."""
    b = build_info()
    rows = [
        ("compiler", b["compiler"]),
        ("build type", b["build_type"]),
        ("architecture", b["architecture"]),
        ("flags (every level)", b["common_flags"]),
        ("levels compiled in", ", ".join(b["levels_compiled"])),
        ("levels this CPU runs", ", ".join(b["levels_supported"])),
        ("level in use", f"{b['level']} ({b['module']})"),
        ("level flags", b["level_flags"] or "(none)"),
        ("compiler targeted", b["level_target"] or "(baseline)"),
        ("chosen by", b["chosen_by"]),
        ("CPU features", " ".join(b["cpu_features"]) or "(not probed)"),
    ]
    w = max(len(k) for k, _ in rows)
    return "".join(f"{k + ':':<{w + 1}} {v}\n" for k, v in rows)
