"""Number-format descriptors: pure data, the bottom layer of minifloat.

- :class:`FloatFormat` (:mod:`.float`): binary floats with any exponent/mantissa split and bias,
  the ml_dtypes-named presets, IEEE P3109 formats (:func:`p3109`);
- :class:`FixedFormat` (:mod:`.fixed`): two's-complement fixed point;
- :class:`LNSFormat` (:mod:`.lns`): logarithmic number systems, with the LNS addition
  algorithms in :mod:`.lns_add`;
- :class:`BlockFormat` (:mod:`.block`): block-scaled formats (OCP MX, NVFP4);
- :func:`format`: a descriptor from a name.

Nothing here imports the codec, a backend or the compiled core: a descriptor is its
parameters plus the constants and values its definition implies.
"""

from __future__ import annotations

import re
from typing import Protocol, Union, cast, runtime_checkable

import numpy as np

from ._check import check_bool, check_int
from .block import BLOCK_ALIASES, BLOCK_PRESETS, SCALE_RULES, BlockFormat
from .fixed import FixedFormat
from .float import ALIASES, NAN_LAYOUTS, PRESETS, FloatFormat, p3109
from .lns import LNS_PRESETS, LNSFormat


@runtime_checkable
class Format(Protocol):
    """What every number format offers the codec, MiniArray and accumulation code: FloatFormat,
    FixedFormat and LNSFormat all satisfy it (for annotations; dispatch is on the class)."""

    name: str | None

    @property
    def bits(self) -> int:
        """Total bits of a code."""

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of codes."""

    @property
    def num_codes(self) -> int:
        """2**bits."""

    @property
    def spec(self) -> tuple[int, ...]:
        """The descriptor tuple of the C++ core."""

    @property
    def has_nan(self) -> bool:
        """The format has a NaN code."""

    @property
    def has_zero(self) -> bool:
        """The format has a zero."""

    @property
    def max(self) -> float:
        """Largest finite value."""


FormatLike = Union[FloatFormat, FixedFormat, LNSFormat, BlockFormat, str]

_P3109_NAME = re.compile(r"^binary(\d+)p(\d+)([su]?)([ef]?)$")


def format(name: FormatLike) -> FloatFormat:  # noqa: A001 - the user-facing name
    """The format called ``name``: an ml_dtypes name (``"float8_e4m3fn"``), a short alias
    (``"e4m3"``, ``"e5m2"``, ``"bf16"``, ...) or a P3109 name ``"binary{K}p{P}[s|u][e|f]"``.
    ``"lns8"``, ``"lns12"``, ``"lns16"`` are LNS presets (minifloat.lns); ``"mxfp8_e4m3"``,
    ``"mxfp4_e2m1"``, ``"nvfp4"``, ... block-scaled presets (:data:`BLOCK_PRESETS`). A
    FloatFormat, FixedFormat, LNSFormat or BlockFormat is returned unchanged."""
    if isinstance(name, (FloatFormat, FixedFormat, LNSFormat, BlockFormat)):
        # Fixed-point and LNS formats share the codec, MiniArray and accumulation API; their
        # own attributes are only read by code that dispatched on the type.
        return cast(FloatFormat, name)
    if not isinstance(name, str):
        raise TypeError(f"format must be a FloatFormat or a name, got {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in PRESETS:
        return PRESETS[key]
    if key in LNS_PRESETS:
        return cast(FloatFormat, LNS_PRESETS[key])
    key = BLOCK_ALIASES.get(key, key)
    if key in BLOCK_PRESETS:
        return cast(FloatFormat, BLOCK_PRESETS[key])
    m = _P3109_NAME.match(key)
    if m:
        return p3109(int(m.group(1)), int(m.group(2)), signed=m.group(3) != "u",
                     extended=m.group(4) != "f")
    allowed = ", ".join(list(PRESETS) + list(ALIASES) + list(BLOCK_PRESETS))
    raise ValueError(f"unknown format name {name!r}; allowed: {allowed}, "
                     "or P3109 'binary{K}p{P}' with optional 'se'/'sf'/'ue'/'uf'")


__all__ = ["ALIASES", "BLOCK_ALIASES", "BLOCK_PRESETS", "LNS_PRESETS", "NAN_LAYOUTS", "PRESETS",
           "SCALE_RULES", "BlockFormat", "FixedFormat", "FloatFormat", "Format", "FormatLike",
           "LNSFormat", "check_bool", "check_int", "format", "p3109"]
