"""Compute backends: ``cpu`` (the pybind11 module over the header core) and ``cuda`` (CuPy
RawModule kernels compiled by NVRTC from the same headers). They sit between the format
descriptors (below) and the codec (above): they take descriptors' spec tuples and arrays and
never check user arguments (the codec does)."""

from __future__ import annotations

import os


def include_dir() -> str:
    """Folder holding the installed header core (``minifloat/*.h``): the same files the C++
    extension was built from, for the GPU backend (NVRTC) and for C++ users."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = os.path.join(here, "include")
    # An editable install runs from the checkout, where the headers are in csrc/include.
    return installed if os.path.isdir(installed) else os.path.join(here, "..", "csrc", "include")
