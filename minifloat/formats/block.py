"""Block-scaled formats: blocks of elements that share one scale (OCP Microscaling, NVFP4).

A :class:`BlockFormat` is an element format (any :class:`FloatFormat` or a fixed-point
:class:`FixedFormat` of at most 16 bits), a scale format (a :class:`FloatFormat`: OCP's E8M0,
E4M3, ...), a block size along one axis (or a 2-D tile over two axes), the rule that picks a
block's scale from its largest magnitude, and an optional per-tensor second-level scale.
Element ``i`` of a block with scale ``s`` (and tensor scale ``T``) stands for
``element_value(code_i) * s * T``.  docs/semantics.md §8 gives the rules with the spec
sections they follow.  Pure data: no codec, no backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ._check import check_int
from .fixed import FixedFormat
from .float import PRESETS, FloatFormat

#: Scale rules (docs/semantics.md §8.2).  The value is the id of the C++ core (block.h).
SCALE_RULES: dict[str, int] = {"floor": 0, "ceil": 1, "even": 2, "rceil": 3, "amax": 4}

#: Padding rules for a last partial block: None (the axis must be a multiple of the block
#: size) or "zeros" (the block is treated as if filled up with zeros: they never change its
#: largest magnitude, so the scale comes from the elements present).
PADDINGS = (None, "zeros")

ElementFormat = Union[FloatFormat, FixedFormat]


def _element_precision(e: ElementFormat) -> int:
    """Significant bits of the element's largest binade (decode exactness budget)."""
    return e.man_bits + 1 if isinstance(e, FloatFormat) else e.bits


@dataclass(frozen=True, init=False)
class BlockFormat:
    """A block-scaled format.

    Args:
        element: the element format: a FloatFormat (any split and bias) or a FixedFormat of at
            most 16 bits (MXINT8's element is ``FixedFormat(1, 6)``).
        scale: the scale format, a FloatFormat (``"e8m0"`` for OCP MX, ``"e4m3"`` for
            NVFP4, any other, e.g. an unsigned E4M3).
        block_size: elements per block along ``axis`` (int), or a 2-D tile ``(k0, k1)``
            over the two axes of ``axis``.
        axis: the block axis (int), or two distinct axes for a 2-D tile; default -1
            (-2, -1 for a tile).
        scale_rule: ``"floor"`` (OCP MX v1.0 §6.3), ``"ceil"``, ``"even"``, ``"rceil"``
            (power-of-two scales) or ``"amax"`` (the scale is amax / element max rounded to
            nearest-even in the scale format: NVFP4).
        tensor_scale: None (one level), ``"amax"`` (a float32 per-tensor scale
            ``RN(amax(x) / (scale max * element max))``, NVFP4's second level) or a
            positive float32 value chosen by the caller (calibrated).
        padding: None (an axis length must be a multiple of the block size) or ``"zeros"``
            (a last partial block behaves as if padded with zeros).
        saturation: the element saturation used when a call gives none: ``"finite"``
            (elements clamp to the largest finite value, as every MX conversion does).
        name: a label; not part of equality.

    Raises:
        TypeError: a format of the wrong kind.
        ValueError: a parameter outside its allowed values (the message names it).
    """

    element: ElementFormat
    scale: FloatFormat
    block_size: tuple[int, ...]
    axis: tuple[int, ...]
    scale_rule: str = "floor"
    tensor_scale: str | float | None = None
    padding: str | None = None
    saturation: str = "finite"
    name: str | None = field(default=None, compare=False)

    def __init__(
        self,
        element: Any,
        scale: Any = "e8m0",
        block_size: int | tuple[int, int] = 32,
        axis: int | tuple[int, int] | None = None,
        *,
        scale_rule: str = "floor",
        tensor_scale: str | float | None = None,
        padding: str | None = None,
        saturation: str = "finite",
        name: str | None = None,
    ) -> None:
        element = _element_of(element)
        scale = _scale_of(scale)
        if isinstance(block_size, (tuple, list)):
            if len(block_size) != 2:
                raise ValueError("block_size must be an int or a pair (k0, k1), "
                                 f"got {block_size!r}")
            sizes = tuple(check_int("block_size", k, 1, 1 << 20) for k in block_size)
        else:
            sizes = (check_int("block_size", block_size, 1, 1 << 20),)
        if axis is None:
            axes: tuple[int, ...] = (-2, -1) if len(sizes) == 2 else (-1,)
        elif isinstance(axis, (tuple, list)):
            axes = tuple(check_int("axis", a, -64, 63) for a in axis)
        else:
            axes = (check_int("axis", axis, -64, 63),)
        if len(axes) != len(sizes):
            raise ValueError(f"axis {axis!r} must name one axis per block dimension "
                             f"(block_size {block_size!r})")
        if len(axes) == 2 and axes[0] == axes[1]:
            raise ValueError(f"axis must name two distinct axes for a 2-D block, got {axis!r}")
        if scale_rule not in SCALE_RULES:
            raise ValueError(f"scale_rule must be one of {', '.join(SCALE_RULES)}; "
                             f"got {scale_rule!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be None or 'zeros', got {padding!r}")
        if saturation not in ("none", "finite", "propagate", "nan", "wrap"):
            raise ValueError("saturation must be one of none, finite, propagate, nan, wrap; "
                             f"got {saturation!r}")
        if saturation == "wrap" and not isinstance(element, FixedFormat):
            raise ValueError("saturation='wrap' is only defined for fixed-point elements")
        if tensor_scale is not None and tensor_scale != "amax":
            if isinstance(tensor_scale, str) or not isinstance(tensor_scale, (int, float)):
                raise ValueError("tensor_scale must be None, 'amax' or a positive float32 "
                                 f"value; got {tensor_scale!r}")
            t = float(tensor_scale)
            if not (math.isfinite(t) and t > 0 and float(np.float32(t)) == t):
                raise ValueError(f"tensor_scale must be a positive finite float32 value, "
                                 f"got {tensor_scale!r}")
            tensor_scale = t
        budget = (_element_precision(element) + scale.man_bits + 1
                  + (24 if tensor_scale is not None else 0))
        if budget > 53:
            raise ValueError(f"element ({element}) and scale ({scale}) significands "
                             f"{'with a float32 tensor scale ' if tensor_scale is not None else ''}"
                             f"need {budget} bits; block values are exact in float64 only up "
                             "to 53: choose narrower formats")
        for k, v in (("element", element), ("scale", scale), ("block_size", sizes),
                     ("axis", axes), ("scale_rule", scale_rule),
                     ("tensor_scale", tensor_scale), ("padding", padding),
                     ("saturation", saturation), ("name", name)):
            object.__setattr__(self, k, v)
        if self.scale_pow2_range[0] > self.scale_pow2_range[1]:
            raise ValueError(f"scale format {scale} holds no power of two")

    # ---- what the element and scale imply ----
    @property
    def bits(self) -> int:
        """Bits of one element code."""
        return self.element.bits

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of element codes."""
        return self.element.dtype

    @property
    def scale_dtype(self) -> np.dtype:
        """NumPy dtype of scale codes."""
        return self.scale.dtype

    @property
    def num_codes(self) -> int:
        """Element codes: 2**bits."""
        return self.element.num_codes

    @property
    def block_elems(self) -> int:
        """Elements per (full) block."""
        return math.prod(self.block_size)

    @property
    def bits_per_element(self) -> float:
        """Storage per element: element bits + scale bits / block elements (the per-tensor
        scale, 32 bits per tensor, is left out)."""
        return self.bits + self.scale.bits / self.block_elems

    @property
    def emax_elem(self) -> int:
        """floor(log2(element max)): OCP's emax_elem."""
        return math.frexp(self.element.max)[1] - 1

    @property
    def scale_pow2_range(self) -> tuple[int, int]:
        """(pmin, pmax): the powers of two 2^pmin .. 2^pmax that are scale values."""
        s = self.scale
        lo = s.minexp - s.man_bits if s.subnormals and s.man_bits > 0 else s.minexp
        return lo, math.frexp(s.max)[1] - 1

    @property
    def max(self) -> float:
        """Largest finite value: element max * largest scale (times a fixed tensor scale)."""
        t = self.tensor_scale if isinstance(self.tensor_scale, float) else 1.0
        return self.element.max * self.scale.max * t

    @property
    def has_nan(self) -> bool:
        """A block can be NaN (through a NaN scale or a NaN element)."""
        return self.scale.has_nan or getattr(self.element, "has_nan", False)

    @property
    def has_zero(self) -> bool:
        """Zero elements exist."""
        return bool(getattr(self.element, "has_zero", True))

    def core_spec(self, tensor: float) -> tuple[Any, ...]:
        """The descriptor tuple of the C++ core (block.h BlockSpec) with tensor scale T."""
        e = self.element
        kind = 0 if isinstance(e, FloatFormat) else 1
        prec = e.man_bits if isinstance(e, FloatFormat) else self.emax_elem + e.frac_bits
        lo, hi = self.scale_pow2_range
        return (kind, e.spec, self.scale.spec, SCALE_RULES[self.scale_rule], self.emax_elem,
                prec, float(e.max), lo, hi, float(tensor))

    def replace(self, **changes: Any) -> BlockFormat:
        """A copy with some parameters changed (the name is dropped unless given)."""
        kw: dict[str, Any] = dict(
            element=self.element, scale=self.scale,
            block_size=self.block_size if len(self.block_size) == 2 else self.block_size[0],
            axis=self.axis if len(self.axis) == 2 else self.axis[0],
            scale_rule=self.scale_rule, tensor_scale=self.tensor_scale, padding=self.padding,
            saturation=self.saturation)
        kw.update(changes)
        return BlockFormat(**kw)

    def __str__(self) -> str:
        if self.name:
            return self.name
        k = "x".join(str(b) for b in self.block_size)
        return f"block({self.element}, scale={self.scale}, {k}, {self.scale_rule})"

    def __repr__(self) -> str:
        k = self.block_size if len(self.block_size) == 2 else self.block_size[0]
        a = self.axis if len(self.axis) == 2 else self.axis[0]
        extra = "".join(f", {n}={getattr(self, n)!r}" for n, d in
                        (("tensor_scale", None), ("padding", None), ("saturation", "finite"))
                        if getattr(self, n) != d)
        label = f", name={self.name!r}" if self.name else ""
        return (f"BlockFormat({self.element!r}, {self.scale!r}, block_size={k}, axis={a}, "
                f"scale_rule={self.scale_rule!r}{extra}{label})")


def _element_of(e: Any) -> ElementFormat:
    if isinstance(e, str):
        key = e.strip().lower()
        from .float import ALIASES
        key = ALIASES.get(key, key)
        if key not in PRESETS:
            raise ValueError(f"unknown element format {e!r}; allowed: a FloatFormat, a "
                             f"FixedFormat or one of {', '.join(PRESETS)}")
        e = PRESETS[key]
    if isinstance(e, FloatFormat):
        return e
    if isinstance(e, FixedFormat):
        if e.bits > 16:
            raise ValueError(f"a fixed-point element has at most 16 bits; {e} has {e.bits}")
        return e
    raise TypeError(f"element must be a FloatFormat, a FixedFormat or a preset name, "
                    f"got {type(e).__name__}")


def _scale_of(s: Any) -> FloatFormat:
    if isinstance(s, str):
        from .float import ALIASES
        key = ALIASES.get(s.strip().lower(), s.strip().lower())
        if key not in PRESETS:
            raise ValueError(f"unknown scale format {s!r}; allowed: a FloatFormat or one of "
                             f"{', '.join(PRESETS)}")
        s = PRESETS[key]
    if not isinstance(s, FloatFormat):
        raise TypeError(f"scale must be a FloatFormat or a preset name, got {type(s).__name__}")
    return s


def _preset(name: str, element: Any, scale: Any, k: int, **kw: Any) -> BlockFormat:
    return BlockFormat(element, scale, k, name=name, **kw)


#: OCP Microscaling v1.0 (§5, Table 1: blocks of 32, E8M0 scales) and NVIDIA NVFP4 (blocks
#: of 16 E2M1 elements, E4M3 scales, a float32 per-tensor scale).
BLOCK_PRESETS: dict[str, BlockFormat] = {
    b.name: b
    for b in (
        _preset("mxfp8_e4m3", "float8_e4m3fn", "e8m0", 32),
        _preset("mxfp8_e5m2", "float8_e5m2", "e8m0", 32),
        _preset("mxfp6_e3m2", "float6_e3m2fn", "e8m0", 32),
        _preset("mxfp6_e2m3", "float6_e2m3fn", "e8m0", 32),
        _preset("mxfp4_e2m1", "float4_e2m1fn", "e8m0", 32),
        _preset("mxint8", FixedFormat(1, 6, name="int8_mx"), "e8m0", 32),
        _preset("nvfp4", "float4_e2m1fn", "float8_e4m3fn", 16, scale_rule="amax",
                tensor_scale="amax"),
    )
    if b.name
}

BLOCK_ALIASES: dict[str, str] = {"mxfp8": "mxfp8_e4m3", "mxfp6": "mxfp6_e3m2",
                                 "mxfp4": "mxfp4_e2m1"}
