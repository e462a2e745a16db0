"""Formats as JSON values and back: ``to_json(fmt)`` gives a dict of plain types (kind and
parameters; defaults left out) that ``from_json`` turns back into an equal descriptor. Used by
policy files (minifloat.nn), saved arrays (minifloat.io) and the torch operators."""

from __future__ import annotations

from typing import Any

from .block import BlockFormat
from .fixed import FixedFormat
from .float import FloatFormat
from .lns import LNSFormat


def to_json(fmt: Any) -> dict[str, Any]:
    """A JSON dict that :func:`from_json` turns back into ``fmt`` (FloatFormat, FixedFormat,
    LNSFormat or BlockFormat)."""
    if isinstance(fmt, FloatFormat):
        d: dict[str, Any] = {"kind": "float", "exp_bits": fmt.exp_bits, "man_bits": fmt.man_bits,
                             "bias": fmt.bias}
        for k, default in (("signed", True), ("subnormals", True), ("infinities", True),
                           ("nan", "ieee"), ("negative_zero", True)):
            if getattr(fmt, k) != default:
                d[k] = getattr(fmt, k)
        return d
    if isinstance(fmt, BlockFormat):
        b: dict[str, Any] = {
            "kind": "block", "element": to_json(fmt.element), "scale": to_json(fmt.scale),
            "block_size": list(fmt.block_size) if len(fmt.block_size) == 2 else fmt.block_size[0],
            "axis": list(fmt.axis) if len(fmt.axis) == 2 else fmt.axis[0],
            "scale_rule": fmt.scale_rule}
        optional: tuple[tuple[str, Any], ...] = (
            ("tensor_scale", None), ("padding", None), ("saturation", "finite"))
        for k, dflt in optional:
            if getattr(fmt, k) != dflt:
                b[k] = getattr(fmt, k)
        return b
    if isinstance(fmt, (FixedFormat, LNSFormat)):
        kind = "lns" if isinstance(fmt, LNSFormat) else "fixed"
        d = {"kind": kind, "int_bits": fmt.int_bits, "frac_bits": fmt.frac_bits}
        if not getattr(fmt, "signed", True):
            d["signed"] = False
        if getattr(fmt, "infinities", False):
            d["infinities"] = True
        return d
    raise TypeError(f"fmt must be a format descriptor, got {type(fmt).__name__}")


def from_json(spec: dict[str, Any], name: str = "format", resolve: Any = None) -> Any:
    """The descriptor of a :func:`to_json` dict (``kind`` "float" by default). ``resolve``
    turns a nested element/scale entry (dict or name) into a descriptor (default: this
    function for dicts)."""
    d = dict(spec)
    kind = d.pop("kind", "float")
    if kind == "block":
        sub = resolve or (lambda v, n: from_json(v, n))
        d["element"] = sub(d.pop("element"), f"{name}.element")
        d["scale"] = sub(d.pop("scale"), f"{name}.scale")
        for k in ("block_size", "axis"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return BlockFormat(**d)
    cls = {"float": FloatFormat, "fixed": FixedFormat, "lns": LNSFormat}.get(kind)
    if cls is None:
        raise ValueError(f"{name}: kind={kind!r}; allowed: 'float', 'fixed', 'lns', 'block'")
    if kind == "float":
        return cls(d.pop("exp_bits"), d.pop("man_bits"), **d)
    return cls(d.pop("int_bits"), d.pop("frac_bits"), **d)


__all__ = ["from_json", "to_json"]
