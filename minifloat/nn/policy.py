"""Quantisation policy: which number format, rounding and saturation each tensor role uses.

Roles (``ROLES``) of a training step:

=================  =========================================================================
weights            Linear/Conv weights and BatchNorm scales, stored as codes
biases             Linear/Conv biases and BatchNorm shifts, stored as codes
activations        forward outputs of every layer
errors             gradients with respect to activations (backward signals)
weight_grads       gradients with respect to parameters
updates            the step ``lr * direction`` before it is applied (direct update mode)
optimizer_state    momentum buffers
master_weights     the master copy the optimizer updates (update="master"): "float32", or a
                   low-precision weight accumulator (Sakr & Shanbhag)
saved_inputs       layer inputs kept for the backward pass (stored as codes)
accumulator        sum of products in matmul/conv: "float32_blas", "float32" or a format
=================  =========================================================================

Each role except ``accumulator`` is a :class:`RoleSpec`; its exponent offset is an
:class:`OffsetSpec` (static, or chosen per tensor from its largest magnitude).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from .formats import (
    FLOAT32,
    check_projection,
    format_label,
    format_to_json,
    resolve_format,
)

ROLES: tuple[str, ...] = ("weights", "biases", "activations", "errors", "weight_grads",
                          "updates", "optimizer_state", "master_weights", "saved_inputs",
                          "accumulator")
TENSOR_ROLES = ROLES[:-1]
OFFSET_MODES = ("static", "dynamic", "delayed", "init", "param")
UPDATE_MODES = ("master", "direct")
ACCUMULATORS = ("float32_blas", "float32")
# Roles that may name a block format (BlockFormat): the operands of the matmuls of a training
# step (docs/nn.md, "Block-scaled policies").
BLOCK_ROLES = ("weights", "activations", "errors", "saved_inputs")


@dataclass(frozen=True)
class OffsetSpec:
    """How a role's exponent offset ``k`` is chosen (``k`` is added to the exponent bias, i.e.
    the values are scaled by ``2**-k``).

    Args:
        mode: ``"static"`` (always ``value``), ``"dynamic"`` (per tensor, just in time: the
            largest ``k`` with ``amax * 2**k <= max * 2**-margin`` for the tensor's own max
            magnitude ``amax``), ``"delayed"`` (the same from the largest amax of the last
            ``history`` tensors this slot has seen, not including the current one; the first
            tensor uses its own amax), ``"init"`` (chosen as in dynamic mode from the first
            tensor the slot projects, then kept: a parameter quantised at initialisation
            into a fixed point of its own; ``value`` if that tensor is all zeros), or
            ``"param"`` (updates role only: the current offset of the tensor the update is
            added to, i.e. the parameter in direct mode or a quantised master copy in master
            mode, so the update is rounded onto that tensor's own grid; ``value`` when that
            tensor is float32).
        value: the static offset; for dynamic modes the offset used when amax is 0 or not
            finite, until a finite amax has been seen.
        margin: binades of headroom kept above amax (dynamic, delayed and init modes).
        history: amax history length (delayed mode).
        min: lowest allowed offset (those modes clamp to ``[min, max]``).
        max: highest allowed offset.
    """

    mode: str = "static"
    value: int = 0
    margin: int = 0
    history: int = 16
    min: int = -32
    max: int = 32

    def __post_init__(self) -> None:
        if self.mode not in OFFSET_MODES:
            raise ValueError(f"offset mode={self.mode!r}; allowed: {', '.join(OFFSET_MODES)}")
        for k in ("value", "margin", "history", "min", "max"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"offset {k} must be an int, got {v!r}")
        if self.history < 1:
            raise ValueError(f"offset history={self.history}; allowed: >= 1")
        if self.min > self.max:
            raise ValueError(f"offset min={self.min} > max={self.max}")

    @classmethod
    def from_any(cls, spec: Any) -> OffsetSpec:
        """An OffsetSpec from an OffsetSpec, an int (static offset), a mode name
        (``OFFSET_MODES``) or a dict of the fields."""
        if isinstance(spec, OffsetSpec):
            return spec
        if spec is None:
            return cls()
        if isinstance(spec, bool):
            raise TypeError("offset must be an int, a mode name, a dict or an OffsetSpec")
        if isinstance(spec, int):
            return cls("static", spec)
        if isinstance(spec, str):
            return cls(spec)
        if isinstance(spec, dict):
            return cls(**spec)
        raise TypeError(f"offset must be an int, a mode name, a dict or an OffsetSpec; "
                        f"got {type(spec).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RoleSpec:
    """Format and projection of one tensor role.

    Args:
        format: ``"float32"`` (no quantisation) or a codec format / format name / dict.
        rounding: rounding mode name (``mf.ROUNDINGS``); stochastic modes draw reproducible
            Philox bits from the run's seed.
        saturation: ``"finite"`` (overflow -> largest finite, the training default), ``"none"``,
            ``"propagate"`` or ``"nan"``.
        random_bits: N random bits for stochastic_a/b/c.
        offset: the exponent offset (OffsetSpec, int, mode name or dict).
        flush_subnormals: results that round to a subnormal become zero.
    """

    format: Any = FLOAT32
    rounding: str = "nearest_even"
    saturation: str = "finite"
    random_bits: int | None = None
    offset: OffsetSpec = field(default_factory=OffsetSpec)
    flush_subnormals: bool = False

    def __post_init__(self) -> None:
        f = resolve_format(self.format)
        object.__setattr__(self, "format", f)
        object.__setattr__(self, "offset", OffsetSpec.from_any(self.offset))
        if hasattr(f, "block_size"):
            if self.offset != OffsetSpec():
                raise ValueError(f"format={f}: a block format scales each block itself; the "
                                 "offset must be the default (static 0)")
            if self.flush_subnormals:
                raise ValueError(f"format={f}: flush_subnormals is not defined for block "
                                 "formats; allowed: False")

    @property
    def quantized(self) -> bool:
        """Whether tensors of this role are projected (format is not float32)."""
        return self.format != FLOAT32

    @property
    def blocked(self) -> bool:
        """Whether the role's format is block-scaled (a BlockFormat): its tensors are then
        projected as matmul operands, blocks along each matmul's reduction axis."""
        return hasattr(self.format, "block_size")

    def check(self, role: str) -> None:
        """Raise ValueError if the settings are not valid (naming ``role``)."""
        if self.quantized:
            check_projection(self.format, self.rounding, self.saturation, self.random_bits, role)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d: dict[str, Any] = {"format": format_to_json(self.format)}
        if self.quantized:
            d.update(rounding=self.rounding, saturation=self.saturation,
                     offset=self.offset.to_dict())
            if self.random_bits is not None:
                d["random_bits"] = self.random_bits
            if self.flush_subnormals:
                d["flush_subnormals"] = True
        return d

    @classmethod
    def from_any(cls, spec: Any) -> RoleSpec:
        """A RoleSpec from a RoleSpec, a format (name/object) or a dict of the fields."""
        if isinstance(spec, RoleSpec):
            return spec
        if isinstance(spec, dict) and "format" in spec:
            return cls(**spec)
        return cls(format=spec)

    def describe(self) -> str:
        """One line: format, offset, rounding."""
        if not self.quantized:
            return FLOAT32
        o = self.offset
        if o.mode == "static":
            off = f"offset {o.value:+d}"
        elif o.mode == "param":
            off = "offset of the updated tensor"
        else:
            off = f"offset {o.mode} (margin {o.margin}, [{o.min}, {o.max}])"
        return f"{format_label(self.format)}, {off}, {self.rounding}, sat {self.saturation}"


_F32 = RoleSpec()


@dataclass(frozen=True)
class QuantPolicy:
    """A format, rounding and saturation for every tensor role of training (see module doc).

    ``update`` chooses how the optimizer applies a step: ``"master"`` updates the
    ``master_weights`` copy (float32, or a low-precision accumulator) and re-projects the
    weights from it; ``"direct"`` keeps only the low-precision parameters and applies
    ``w <- Q_weights(w - Q_updates(lr * direction))`` (quantised parameter updates, SQPU).
    ``accumulator`` is ``"float32_blas"`` (NumPy/BLAS float32 matmul: products of <= 12-bit
    operands are exact in float32, summation order is BLAS's), ``"float32"`` (sequential
    binary32 accumulation, bit-specified) or a FloatFormat (each addition rounded into it,
    through ``mf.matmul``; slow).
    """

    name: str = "custom"
    weights: RoleSpec = _F32
    biases: RoleSpec = _F32
    activations: RoleSpec = _F32
    errors: RoleSpec = _F32
    weight_grads: RoleSpec = _F32
    updates: RoleSpec = _F32
    optimizer_state: RoleSpec = _F32
    master_weights: RoleSpec = _F32
    saved_inputs: RoleSpec | None = None  # None: as activations
    accumulator: Any = "float32_blas"
    update: str = "master"

    def __post_init__(self) -> None:
        for r in TENSOR_ROLES:
            v = getattr(self, r)
            if r == "saved_inputs" and v is None:
                continue
            spec = RoleSpec.from_any(v)
            spec.check(r)
            if spec.blocked and r not in BLOCK_ROLES:
                raise ValueError(f"{r}: block formats apply to the matmul operand roles only; "
                                 f"allowed roles: {', '.join(BLOCK_ROLES)}")
            if spec.quantized and spec.offset.mode == "param" and r != "updates":
                allowed = ", ".join(m for m in OFFSET_MODES if m != "param")
                raise ValueError(f"{r}: offset mode 'param' applies to the updates role only; "
                                 f"allowed here: {allowed}")
            object.__setattr__(self, r, spec)
        if self.update not in UPDATE_MODES:
            raise ValueError(f"update={self.update!r}; allowed: {', '.join(UPDATE_MODES)}")
        acc = self.accumulator
        if not (isinstance(acc, str) and acc in ACCUMULATORS):
            f = resolve_format(acc, "accumulator")
            if f == FLOAT32:
                f = "float32"
            elif not hasattr(f, "exp_bits"):
                raise ValueError("accumulator: an emulated accumulator must be a FloatFormat; "
                                 f"allowed: {', '.join(ACCUMULATORS)} or a FloatFormat")
            object.__setattr__(self, "accumulator", f)

    def role(self, role: str) -> RoleSpec:
        """The RoleSpec of ``role`` (saved_inputs defaults to the activations spec)."""
        if role not in TENSOR_ROLES:
            raise ValueError(f"role={role!r}; allowed: {', '.join(TENSOR_ROLES)}")
        v = getattr(self, role)
        return self.activations if v is None else v

    def replace_role(self, role: str, **changes: Any) -> QuantPolicy:
        """A copy with some fields of one role changed, e.g.
        ``policy.replace_role("errors", offset=OffsetSpec("dynamic"))``."""
        spec = dataclasses.replace(self.role(role), **changes)
        kw: dict[str, Any] = {role: spec}
        return dataclasses.replace(self, **kw)

    def with_format(self, fmt: Any, *, bias: int | None = None, rounding: str | None = None,
                    roles: tuple[str, ...] | None = None) -> QuantPolicy:
        """A copy in which every role of ``roles`` uses ``fmt`` (with exponent ``bias`` for a
        FloatFormat; the role's offset value becomes 0 then, the bias saying it all) and
        optionally ``rounding``. Default roles: the quantised ones, or for a policy without
        any (fp32) weights, biases, activations, errors and weight_grads."""
        if roles is None and not any(self.role(r).quantized for r in TENSOR_ROLES):
            roles = ("weights", "biases", "activations", "errors", "weight_grads")
        f = resolve_format(fmt)
        if bias is not None:
            if not hasattr(f, "bias"):
                raise ValueError("bias= applies to a FloatFormat only")
            f = f.replace(bias=bias)
        p = self
        for r in roles or TENSOR_ROLES:
            spec = p.role(r)
            if roles is None and not spec.quantized:
                continue
            ch: dict[str, Any] = {"format": f}
            if bias is not None:
                ch["offset"] = dataclasses.replace(spec.offset, value=0)
            if rounding is not None:
                ch["rounding"] = rounding
            p = p.replace_role(r, **ch)
        return dataclasses.replace(p, name=f"{self.name}+{format_label(f)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (``QuantPolicy.from_dict`` reads it back)."""
        d: dict[str, Any] = {"name": self.name, "update": self.update}
        for r in TENSOR_ROLES:
            v = getattr(self, r)
            if v is not None:
                d[r] = v.to_dict()
        acc = self.accumulator
        d["accumulator"] = acc if isinstance(acc, str) else format_to_json(acc)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantPolicy:
        """A policy from a dict: ``{"name", "update", "accumulator", "<role>": {...}}``; a
        ``"base"`` key names a preset that the other keys modify."""
        if not isinstance(d, dict):
            raise TypeError(f"policy dict expected, got {type(d).__name__}")
        d = dict(d)
        base = d.pop("base", None)
        unknown = set(d) - set(ROLES) - {"name", "update"}
        if unknown:
            raise ValueError(f"unknown policy keys {sorted(unknown)}; allowed: name, update, "
                             f"base, {', '.join(ROLES)}")
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k in TENSOR_ROLES:
                if isinstance(v, dict) and "format" in v:
                    v = dict(v)
                    if "offset" in v:
                        v["offset"] = OffsetSpec.from_any(v["offset"])
                kw[k] = RoleSpec.from_any(v)
            elif k == "accumulator" and isinstance(v, dict):
                kw[k] = resolve_format(v, "accumulator")
            else:
                kw[k] = v
        if base is not None:
            return dataclasses.replace(get_policy(base), **kw)
        return cls(**kw)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> QuantPolicy:
        """Read a policy JSON file (the format of :meth:`to_dict`)."""
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def describe(self) -> str:
        """Multi-line summary of every role."""
        acc = self.accumulator
        acc_label = acc if isinstance(acc, str) else format_label(acc)
        lines = [f"policy {self.name!r} (update={self.update}, accumulator={acc_label})"]
        for r in TENSOR_ROLES:
            lines.append(f"  {r:16s} {self.role(r).describe()}")
        return "\n".join(lines)


def fixed_point(int_bits: int, frac_bits: int) -> Any:
    """The signed fixed-point format ``FixedFormat(int_bits, frac_bits)`` (two's complement,
    1 + int_bits + frac_bits bits; docs/lns_fixed.md)."""
    from ..formats import FixedFormat

    return FixedFormat(int_bits, frac_bits)


def _presets() -> dict[str, QuantPolicy]:
    from ..formats import FloatFormat

    e4m3 = FloatFormat(4, 3, infinities=False, nan="max")  # OCP E4M3 layout, bias 7
    e5m2 = FloatFormat(5, 2)

    def role(fmt: Any, off: Any = 0, rounding: str = "nearest_even", **kw: Any) -> RoleSpec:
        return RoleSpec(fmt, rounding=rounding, offset=OffsetSpec.from_any(off), **kw)

    # Static offsets (added to the bias) for a mean-reduced loss. The per-tensor amax that
    # dynamic offsets pick for LeNet-5 on Fashion-MNIST (batch 64) is about 2^-1 for
    # weights, 2^3..2^4 for activations, 2^-6 for the logits' error (at most 1/batch), less
    # for deeper errors, 2^-5..2^0 for weight gradients. The offsets keep about two binades
    # of headroom above that (weights grow, batches may be smaller): E4M3 (2^-9 .. 448 at
    # offset 0) then covers weights 2^-15..7, activations 2^-12..56, errors 2^-22..0.055,
    # weight gradients 2^-19..0.44.
    asym: dict[str, Any] = dict(weights=role(e4m3, 6), biases=role(e4m3, 6),
                                activations=role(e4m3, 3), errors=role(e4m3, 13),
                                weight_grads=role(e4m3, 10))
    e7 = FloatFormat(4, 7, infinities=False, nan="none")
    trunc: dict[str, Any] = {k: role(e7, v.offset.value, "toward_zero")
                             for k, v in asym.items()}
    dyn = OffsetSpec("dynamic", margin=0)
    dyn_roles: dict[str, Any] = {k: role(e4m3, dyn) for k in asym}
    ieee4: dict[str, Any] = {k: role(e4m3, 0) for k in asym}
    ieee5: dict[str, Any] = {k: role(e5m2, 0) for k in asym}
    q8 = fixed_point(0, 7)
    sqpu_update = role(q8, 0, "stochastic_c", random_bits=16)
    # Block-scaled (OCP MX v1.0 / NVFP4) policies: every matmul operand in the block format,
    # blocks along that matmul's reduction axis (docs/nn.md, "Block-scaled policies");
    # gradients rounded stochastically in the 4-bit ones, as FP4 training recipes do.
    from ..formats import format as _named

    mx8, mx8e5 = _named("mxfp8_e4m3"), _named("mxfp8_e5m2")
    mx4, nv4 = _named("mxfp4_e2m1"), _named("nvfp4")
    mxfp8: dict[str, Any] = dict(weights=RoleSpec(mx8), activations=RoleSpec(mx8),
                                 errors=RoleSpec(mx8e5))
    # MXFP4 forward operands with MXFP8 E5M2 errors: with MXFP4 errors (stochastic_a, 16
    # bits) LeNet-5 on full Fashion-MNIST diverged in its first epoch (docs/results.md)
    mxfp4: dict[str, Any] = dict(weights=RoleSpec(mx4), activations=RoleSpec(mx4),
                                 errors=RoleSpec(mx8e5))
    nvfp4: dict[str, Any] = dict(
        weights=RoleSpec(nv4.replace(block_size=(16, 16), axis=(-2, -1))),
        activations=RoleSpec(nv4), errors=RoleSpec(nv4, rounding="stochastic_a", random_bits=16))
    policies = [
        QuantPolicy(name="fp32"),
        QuantPolicy(name="asymmetric8", **asym),
        QuantPolicy(name="asymmetric8_dynamic", **dyn_roles),
        QuantPolicy(name="asymmetric12_trunc", **trunc),
        QuantPolicy(name="e4m3", **ieee4),
        QuantPolicy(name="e5m2", **ieee5),
        QuantPolicy(name="sqpu", weights=role(q8), biases=role(q8),
                    updates=sqpu_update, saved_inputs=role(q8, OffsetSpec("dynamic")),
                    update="direct"),
        # The same with each weight tensor in a fixed point of its own: the power-of-two scale
        # that just holds its initial values (margin 0; margin 1 trained no better than sqpu,
        # docs/results.md), kept for the whole run; updates rounded stochastically onto the
        # parameter's own grid.
        QuantPolicy(name="sqpu_scaled", weights=role(q8, OffsetSpec("init")),
                    biases=role(q8), updates=role(q8, "param", "stochastic_c", random_bits=16),
                    saved_inputs=role(q8, OffsetSpec("dynamic")), update="direct"),
        QuantPolicy(name="sakr8", **asym,
                    master_weights=role(FloatFormat(5, 10), 4), optimizer_state=role(
                        FloatFormat(5, 10), 6)),
        QuantPolicy(name="mxfp8", **mxfp8),
        QuantPolicy(name="mxfp4", **mxfp4),
        QuantPolicy(name="nvfp4", **nvfp4),
    ]
    return {p.name: p for p in policies}


_PRESET_CACHE: dict[str, QuantPolicy] = {}


def presets() -> dict[str, QuantPolicy]:
    """The named policies (built once)."""
    if not _PRESET_CACHE:
        _PRESET_CACHE.update(_presets())
    return _PRESET_CACHE


POLICIES: tuple[str, ...] = ("fp32", "asymmetric8", "asymmetric8_dynamic",
                             "asymmetric12_trunc", "e4m3", "e5m2", "sqpu", "sqpu_scaled",
                             "sakr8", "mxfp8", "mxfp4", "nvfp4")


def get_policy(spec: Any) -> QuantPolicy:
    """A QuantPolicy from a preset name (``POLICIES``), a QuantPolicy, a dict, or the path of
    a JSON file."""
    if isinstance(spec, QuantPolicy):
        return spec
    if isinstance(spec, dict):
        return QuantPolicy.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        table = presets()
        if s in table:
            return table[s]
        if s.endswith(".json") or os.path.exists(s):
            if not os.path.exists(s):
                raise ValueError(f"policy file {s!r} does not exist")
            return QuantPolicy.from_json(s)
        raise ValueError(f"policy={s!r}; allowed: {', '.join(POLICIES)} or a JSON file path")
    raise TypeError(f"policy must be a name, a QuantPolicy, a dict or a path; "
                    f"got {type(spec).__name__}")
