"""``quantize`` as a PyTorch operator (``torch.ops.minifloat.quantize``, with a fake
implementation for ``torch.compile``/``torch.export``) and ``Quantizer``, the module that
rounds activations forward and errors backward.

Autograd: the projection is treated as the identity (straight-through estimator,
``grad="ste"``), or ``grad="clipped"``: the gradient is zero where the input lies outside the
format's finite range [min, max] (where saturation or overflow changed it; NaN inputs too).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..formats import BlockFormat, format
from ..nn.formats import format_to_json, resolve_format
from ..nn.policy import QuantPolicy, RoleSpec
from ..nn.quant import QuantContext, TensorQuantizer
from ..rounding import check_rounding, check_saturation
from .bridge import check_tensor, quantize_tensor, to_array, values_to_tensor

GRADS = ("ste", "clipped")


@functools.lru_cache(maxsize=1024)
def _fmt(key: str) -> Any:
    return resolve_format(json.loads(key), "fmt")


def format_key(fmt: Any) -> str:
    """A JSON string naming ``fmt`` (what the operator takes; ``_fmt`` reads it back)."""
    f = format(fmt) if not isinstance(fmt, str) or fmt.strip().lower() != "float32" else None
    if f is None:
        raise ValueError("fmt='float32' is not a codec format; allowed: a format name or "
                         "object (mf.format, FloatFormat, FixedFormat, LNSFormat)")
    return json.dumps(format_to_json(f), sort_keys=True)


def _bounds(key: str) -> tuple[float, float]:
    f = _fmt(key)
    return float(f.min), float(f.max)


# ---- eager path: the same computation without the operator machinery ----
#
# Outside torch.compile / torch.export / tracing, on plain CPU tensors, the projections run as
# torch.autograd.Functions that call the codec on the tensors' NumPy views directly: the
# custom operators' dispatch (schema checks, autograd wrapper, redispatch) costs more than the
# projection of a small tensor. Both paths call the same functions (quantize_tensor,
# apply_quantizer) with the same arguments, so their bits are the same (tests/test_torch.py);
# compiled and exported graphs always see the operators.

_EAGER = [True]
_PLAIN = (torch.Tensor, torch.nn.Parameter)
# torch >= 2.1 has each of these under one of the names (private ones with a safe default)
_compiling: Any = getattr(getattr(torch, "compiler", None), "is_compiling", None) or \
    torch._dynamo.is_compiling
_dispatch_modes: Any = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 0)
_functorch: Any = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)


@contextlib.contextmanager
def custom_ops_only() -> Iterator[None]:
    """Inside this block every projection goes through the ``torch.ops.minifloat`` operators,
    as under torch.compile (the reference for the eager path; for tests and debugging)."""
    prev = _EAGER[0]
    _EAGER[0] = False
    try:
        yield
    finally:
        _EAGER[0] = prev


def eager(*tensors: torch.Tensor | None) -> bool:
    """Whether the eager path may run on ``tensors``: not compiling, exporting or tracing, no
    torch dispatch mode or functorch transform active, plain CPU tensors."""
    if not _EAGER[0] or _compiling() or torch.jit.is_tracing() or _dispatch_modes() or \
            _functorch():
        return False
    return all(t is None or (type(t) in _PLAIN and t.device.type == "cpu") for t in tensors)


@torch.library.custom_op("minifloat::quantize", mutates_args=())
def _quantize_op(x: torch.Tensor, fmt: str, rounding: str, saturation: str, random_bits: int,
                 seed: int, offset: int, flush_subnormals: bool, grad: str,
                 backward: str) -> torch.Tensor:
    return quantize_tensor(x, _fmt(fmt), _proj(rounding, saturation, random_bits, seed, offset,
                                               flush_subnormals))


@_quantize_op.register_fake
def _(x: torch.Tensor, fmt: str, rounding: str, saturation: str, random_bits: int, seed: int,
      offset: int, flush_subnormals: bool, grad: str, backward: str) -> torch.Tensor:
    return x.new_empty(x.shape)


def _setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, fmt, grad, backward = inputs[0], inputs[1], inputs[8], inputs[9]
    ctx.fmt, ctx.grad, ctx.backward = fmt, grad, backward
    if grad == "clipped":
        ctx.save_for_backward(x)


def _backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:
    if ctx.grad == "clipped":
        (x,) = ctx.saved_tensors
        lo, hi = _bounds(ctx.fmt)
        g = torch.where((x >= lo) & (x <= hi), g, torch.zeros_like(g))
    if ctx.backward:
        b = json.loads(ctx.backward)
        g = _quantize_op(g, b["fmt"], b["rounding"], b["saturation"], b["random_bits"],
                         b["seed"], b["offset"], b["flush_subnormals"], "ste", "")
    return (g,) + (None,) * 9


_quantize_op.register_autograd(_backward, setup_context=_setup)


class _EagerQuantize(torch.autograd.Function):
    """``_quantize_op`` and its autograd formula, for the eager path."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, a: dict[str, Any], grad: str,  # type: ignore[override]
                backward: str) -> torch.Tensor:
        ctx.fmt, ctx.grad, ctx.backward = a["fmt"], grad, backward
        if grad == "clipped":
            ctx.save_for_backward(x)
        return quantize_tensor(x, _fmt(a["fmt"]), _proj(a["rounding"], a["saturation"],
                                                        a["random_bits"], a["seed"],
                                                        a["offset"], a["flush_subnormals"]))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        if ctx.grad == "clipped":
            (x,) = ctx.saved_tensors
            lo, hi = _bounds(ctx.fmt)
            g = torch.where((x >= lo) & (x <= hi), g, torch.zeros_like(g))
        if ctx.backward:
            b = json.loads(ctx.backward)
            g = quantize_tensor(g, _fmt(b["fmt"]), _proj(b["rounding"], b["saturation"],
                                                          b["random_bits"], b["seed"],
                                                          b["offset"], b["flush_subnormals"]))
        return g, None, None, None


def _proj(rounding: str, saturation: str, random_bits: int, seed: int, offset: int,
          flush_subnormals: bool) -> dict[str, Any]:
    """The operator's arguments as mf.encode keywords."""
    proj: dict[str, Any] = {"rounding": rounding, "saturation": saturation,
                            "flush_subnormals": flush_subnormals}
    if random_bits:
        proj["random_bits"] = random_bits
    if seed >= 0:
        proj["seed"], proj["offset"] = seed, offset
    return proj


def _projection_args(fmt: Any, rounding: str, saturation: str | None, random_bits: int | None,
                     seed: int | None, offset: int, flush_subnormals: bool) -> dict[str, Any]:
    mode = check_rounding(rounding)
    if saturation is None:  # block formats carry their own default ("finite", as MX does)
        f = format(fmt)
        saturation = f.saturation if isinstance(f, BlockFormat) else "none"  # type: ignore[unreachable]
    check_saturation(saturation)
    for name, v in (("random_bits", random_bits), ("seed", seed)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{name}={v!r}; allowed: None or an int >= 0")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset={offset!r}; allowed: an int >= 0")
    if seed is not None and seed >= 1 << 63:
        raise ValueError(f"seed={seed}; allowed: 0 <= seed < 2**63")
    return {"fmt": format_key(fmt), "rounding": mode, "saturation": saturation,
            "random_bits": int(random_bits or 0), "seed": -1 if seed is None else int(seed),
            "offset": int(offset), "flush_subnormals": bool(flush_subnormals)}


def quantize(x: torch.Tensor, fmt: Any, *, rounding: str = "nearest_even",
             saturation: str | None = None, random_bits: int | None = None, seed: int | None = None,
             offset: int = 0, flush_subnormals: bool = False, grad: str = "ste",
             backward: dict[str, Any] | None = None) -> torch.Tensor:
    """``x``'s values projected into ``fmt`` (``mf.quantize`` on the same data, bit for bit),
    as a new contiguous tensor of x's dtype, shape and device.

    Args:
        x: float32, float64, float16 or bfloat16 tensor on the CPU (or CUDA with CuPy);
            strided views are fine.
        fmt: a format name or object (any FloatFormat, FixedFormat, LNSFormat, or a
            BlockFormat: blocks along its own axis, ``mf.quantize``'s values).
        rounding, saturation, random_bits, flush_subnormals: as ``mf.encode`` (saturation
            default "none", a block format's own for block formats).
        seed, offset: Philox seed and first stream position of a stochastic mode: element i
            (C order) uses position ``offset + i``; without ``seed`` the bits come from the
            context's stream (``mf.config(seed=...)``), as in ``mf.quantize``.
        grad: ``"ste"`` (straight-through) or ``"clipped"`` (zero outside [fmt.min, fmt.max]).
        backward: optional projection of the gradient, a dict with ``fmt`` and the same
            keywords (e.g. ``{"fmt": "e5m2", "rounding": "stochastic_c", "random_bits": 8,
            "seed": 1}``).

    Registered as ``torch.ops.minifloat.quantize`` with a fake implementation, so it runs
    under ``torch.compile`` and ``torch.export``.
    """
    check_tensor(x, "x")
    if grad not in GRADS:
        raise ValueError(f"grad={grad!r}; allowed: {', '.join(GRADS)}")
    a = _projection_args(fmt, rounding, saturation, random_bits, seed, offset,
                         flush_subnormals)
    bwd = ""
    if backward is not None:
        if not isinstance(backward, dict) or "fmt" not in backward:
            raise TypeError("backward must be a dict with a 'fmt' key and projection keywords")
        kw = dict(backward)
        unknown = set(kw) - {"fmt", "rounding", "saturation", "random_bits", "seed", "offset",
                             "flush_subnormals"}
        if unknown:
            raise ValueError(f"backward: unknown keys {sorted(unknown)}")
        bwd = json.dumps(_projection_args(kw.pop("fmt"), kw.get("rounding", "nearest_even"),
                                          kw.get("saturation"), kw.get("random_bits"),
                                          kw.get("seed"), kw.get("offset", 0),
                                          kw.get("flush_subnormals", False)))
    if eager(x):
        return _EagerQuantize.apply(x, a, grad, bwd)  # type: ignore[no-any-return]
    return _quantize_op(x, a["fmt"], a["rounding"], a["saturation"], a["random_bits"],
                        a["seed"], a["offset"], a["flush_subnormals"], grad, bwd)


# ---- quantisation slots: TensorQuantizers (policy roles, offsets, keyed streams) ----

_SLOTS: dict[str, TensorQuantizer] = {}
_ids = itertools.count()


def register_slot(q: TensorQuantizer) -> str:
    """Make ``q`` callable from the ``minifloat::slot_quantize`` operator; returns its key."""
    key = f"{next(_ids)}:{q.name}"
    _SLOTS[key] = q
    return key


def slot(key: str) -> TensorQuantizer:
    """The quantizer registered under ``key``."""
    return _SLOTS[key]


def _apply_slot(key: str, x: torch.Tensor) -> torch.Tensor:
    if not key:
        return x.clone()
    q = _SLOTS[key]
    if not q.quantized:
        return x.clone()
    return apply_quantizer(q, x)


def apply_quantizer(q: TensorQuantizer, x: torch.Tensor) -> torch.Tensor:
    """``x`` projected by the (quantised) slot ``q``: a new tensor of x's dtype and device."""
    a = to_array(x)
    if not isinstance(a, np.ndarray):
        a = a.get()  # TensorQuantizer computes on the CPU
    a = np.ascontiguousarray(a, dtype=np.float32 if x.dtype != torch.float64 else np.float64)
    out = q(a)
    if out is a:
        out = out.copy()
    return values_to_tensor(out, x)


@torch.library.custom_op("minifloat::slot_quantize", mutates_args=())
def _slot_op(x: torch.Tensor, forward: str, backward: str) -> torch.Tensor:
    return _apply_slot(forward, x)


@_slot_op.register_fake
def _(x: torch.Tensor, forward: str, backward: str) -> torch.Tensor:
    return x.new_empty(x.shape)


def _slot_setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    ctx.bkey = inputs[2]


def _slot_backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:
    if ctx.bkey:
        g = _slot_op(g.contiguous(), ctx.bkey, "")
    return g, None, None


_slot_op.register_autograd(_slot_backward, setup_context=_slot_setup)


class _EagerSlot(torch.autograd.Function):
    """``_slot_op`` and its autograd formula, for the eager path."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, forward: str,  # type: ignore[override]
                backward: str) -> torch.Tensor:
        ctx.bkey = backward
        return _apply_slot(forward, x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        if ctx.bkey:
            g = _apply_slot(ctx.bkey, g.contiguous())
        return g, None, None


def slot_quantize(x: torch.Tensor, forward: str = "", backward: str = "") -> torch.Tensor:
    """``x`` projected by the slot ``forward`` (identity if empty); its gradient projected by
    the slot ``backward`` (straight-through if empty)."""
    if eager(x):
        return _EagerSlot.apply(x, forward, backward)  # type: ignore[no-any-return]
    return _slot_op(x, forward, backward)  # type: ignore[no-any-return]


class Quantizer(torch.nn.Module):
    """Rounds its input forward with ``forward`` and the gradient flowing back with
    ``backward`` (QPyTorch's ``Quantizer`` shape; docs/differences.md lists the differences).

    Args:
        forward: the forward projection: a format (name/object), a dict of
            :class:`minifloat.nn.RoleSpec` fields (``format``, ``rounding``, ``saturation``,
            ``random_bits``, ``offset``, ``flush_subnormals``) or a RoleSpec; None or
            ``"float32"``: identity.
        backward: the same for the gradient.
        seed: seed of the stochastic roundings (keyed streams, docs/torch.md).
        name: slot name used in the stream keys and offset records.

    Offsets (``offset=``) may be static or chosen per tensor (``"dynamic"``, ``"delayed"``),
    exactly as in ``minifloat.nn``. Note RoleSpec's default saturation is ``"finite"``.
    """

    def __init__(self, forward: Any = None, backward: Any = None, *, seed: int = 0,
                 name: str = "quantizer") -> None:
        super().__init__()
        fwd = RoleSpec.from_any("float32" if forward is None else forward)
        bwd = RoleSpec.from_any("float32" if backward is None else backward)
        fwd.check("forward")
        bwd.check("backward")
        self.context = QuantContext(QuantPolicy(name=name, activations=fwd, errors=bwd),
                                    seed=seed, streams="keyed")
        self._fkey = register_slot(self.context.quantizer(f"{name}.forward", "activations"))
        self._bkey = register_slot(self.context.quantizer(f"{name}.backward", "errors"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` rounded forward; its gradient rounded backward."""
        check_tensor(x, "x")
        return slot_quantize(x, self._fkey, self._bkey)

    def extra_repr(self) -> str:
        p = self.context.policy
        return f"forward={p.activations.describe()!r}, backward={p.errors.describe()!r}"
