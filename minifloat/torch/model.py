"""``quantize_model``: a ``minifloat.nn`` QuantPolicy applied to a torch model's Conv2d and
Linear layers, with the NumPy trainer's policy, slot and offset code (one source of truth).

Per wrapped layer ``name`` (its qualified module name) the slots are those of
``minifloat.nn``: ``name.activations`` (output, forward), ``name.errors`` (the gradient passed
back to the layer's input), ``name.weights``/``name.biases`` (the parameters as used forward;
in direct mode the parameters themselves), ``name.weight_grads``/``name.bias_grads`` (their
gradients, before any data-parallel all-reduce), ``name.saved_inputs`` (the input the weight
gradient is computed from). The model input is projected by ``input.activations`` and the
gradient of the loss w.r.t. the model output by ``loss.errors``. Products use the policy's
accumulator: "float32_blas" runs torch's own kernels; "float32" or a format runs minifloat's
contraction (``minifloat.nn.tensor.matmul``) for the forward and both backward products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..nn.policy import BLOCK_ROLES, QuantPolicy, get_policy
from ..nn.quant import QuantContext, TensorQuantizer
from ..nn.tensor import matmul as nn_matmul
from .block_model import BlockLayerFn, BlockSlots
from .bridge import to_array, values_to_tensor
from .quant_ops import apply_quantizer, eager, register_slot, slot, slot_quantize

_CONTEXTS: dict[str, QuantContext] = {}


@torch.library.custom_op("minifloat::policy_matmul", mutates_args=())
def _policy_mm_op(a: torch.Tensor, b: torch.Tensor, context: str) -> torch.Tensor:
    ctx = _CONTEXTS[context]
    av = np.ascontiguousarray(to_array(a), dtype=np.float32)
    bv = np.ascontiguousarray(to_array(b), dtype=np.float32)
    return values_to_tensor(nn_matmul(av, bv, ctx), a)


@_policy_mm_op.register_fake
def _(a: torch.Tensor, b: torch.Tensor, context: str) -> torch.Tensor:
    return a.new_empty((a.shape[0], b.shape[1]))


def _mm(a: torch.Tensor, b: torch.Tensor, key: str) -> torch.Tensor:
    return a @ b if not key else _policy_mm_op(a, b, key)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _LayerCfg:
    kind: str  # "linear" or "conv"
    mm: str  # "" (torch kernels) or the context key of minifloat's contraction
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


def _layer_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
                   cfg: _LayerCfg) -> torch.Tensor:
    """The layer's output from its (projected) input, weight and bias."""
    if cfg.kind == "linear":
        y = _mm(x.reshape(-1, x.shape[-1]), w.t().contiguous(), cfg.mm)
        y = y.reshape(*x.shape[:-1], w.shape[0])
        return y if b is None else y + b
    if not cfg.mm:
        return F.conv2d(x, w, b, cfg.stride, cfg.padding, cfg.dilation, cfg.groups)
    n, o = x.shape[0], w.shape[0]
    cols = F.unfold(x, w.shape[2:], padding=cfg.padding, stride=cfg.stride)  # (N, CKK, L)
    L = cols.shape[2]
    ct = cols.permute(1, 0, 2).reshape(cols.shape[1], n * L)  # (CKK, N*L)
    yt = _mm(w.reshape(o, -1), ct.contiguous(), cfg.mm)  # (O, N*L)
    if b is not None:
        yt = yt + b[:, None]
    oh = (x.shape[2] + 2 * cfg.padding[0] - w.shape[2]) // cfg.stride[0] + 1
    return yt.reshape(o, n, oh, L // oh).permute(1, 0, 2, 3).contiguous()


def _layer_backward(g: torch.Tensor, xs: torch.Tensor, w: torch.Tensor, cfg: _LayerCfg,
                    xshape: Any, has_bias: bool, need_x: bool) -> tuple[Any, Any, Any]:
    """(input, weight, bias) gradients from the output gradient ``g``; the weight gradient
    from ``xs``, the input as saved (None where not needed)."""
    gx = gw = gb = None
    if cfg.kind == "linear":
        g2 = g.reshape(-1, g.shape[-1]).contiguous()
        gw = _mm(g2.t().contiguous(), xs.reshape(-1, xs.shape[-1]).contiguous(), cfg.mm)
        gb = g2.sum(0) if has_bias else None
        if need_x:
            gx = _mm(g2, w.contiguous(), cfg.mm).reshape(xshape)
        return gx, gw, gb
    gb = g.sum((0, 2, 3)) if has_bias else None
    if not cfg.mm:
        tg: Any = torch.nn.grad  # type: ignore[attr-defined]
        gw = tg.conv2d_weight(xs, w.shape, g, cfg.stride, cfg.padding, cfg.dilation,
                              cfg.groups)
        if need_x:
            gx = tg.conv2d_input(xshape, w, g, cfg.stride, cfg.padding, cfg.dilation,
                                 cfg.groups)
        return gx, gw, gb
    o, n = w.shape[0], g.shape[0]
    gt = g.transpose(0, 1).reshape(o, -1).contiguous()  # (O, N*L)
    cols = F.unfold(xs, w.shape[2:], padding=cfg.padding, stride=cfg.stride)
    ckk, L = cols.shape[1], cols.shape[2]
    ct = cols.permute(0, 2, 1).reshape(n * L, ckk).contiguous()  # (N*L, CKK)
    gw = _mm(gt, ct, cfg.mm).reshape(w.shape)
    if need_x:
        dct = _mm(w.reshape(o, -1).t().contiguous(), gt, cfg.mm)  # (CKK, N*L)
        dcols = dct.reshape(ckk, n, L).permute(1, 0, 2)
        gx = F.fold(dcols, xshape[2:], w.shape[2:], padding=cfg.padding, stride=cfg.stride)
    return gx, gw, gb


class _LayerFn(torch.autograd.Function):
    """Linear/conv whose weight gradient is computed from ``xs`` (the saved input as stored
    in the saved_inputs format) and whose products use the policy's accumulator (the
    operator path: its projections are separate slot operators)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, xs: torch.Tensor, w: torch.Tensor,  # type: ignore[override]
                b: torch.Tensor | None, cfg: _LayerCfg) -> torch.Tensor:
        ctx.cfg, ctx.xshape, ctx.has_bias = cfg, x.shape, b is not None
        ctx.save_for_backward(xs, w)
        return _layer_forward(x, w, b, cfg)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        xs, w = ctx.saved_tensors
        gx, gw, gb = _layer_backward(g, xs, w, ctx.cfg, ctx.xshape, ctx.has_bias,
                                     ctx.needs_input_grad[0])
        return gx, None, gw, gb, None


def _project(q: TensorQuantizer | None, t: torch.Tensor) -> torch.Tensor:
    """``t`` through slot ``q`` (unchanged for None: the role is float32)."""
    return t if q is None else apply_quantizer(q, t)


class _FusedLayerFn(torch.autograd.Function):
    """The whole quantised layer as one autograd node (the eager path): forward projects the
    weight and bias (weights/biases slots, not in direct mode), the input kept for the weight
    gradient (saved_inputs) and the output (activations); backward projects the input
    gradient (errors), the weight and bias gradients (weight_grads). The same slots, called
    as often and on the same tensors as the operator path's separate nodes, so the same bits
    (the keyed streams do not depend on the order of the slots)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor,  # type: ignore[override]
                b: torch.Tensor | None, q: _Slots, save: bool) -> torch.Tensor:
        wq, bq = w, b
        if not q.direct:
            wq = _project(q.weights, w)
            if b is not None:
                bq = _project(q.biases, b)
        xs = _project(q.saved, x) if save else x
        y = _project(q.activations, _layer_forward(x, wq, bq, q.cfg))
        ctx.q, ctx.xshape, ctx.has_bias = q, x.shape, b is not None
        ctx.save_for_backward(xs, wq)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        xs, w = ctx.saved_tensors
        q: _Slots = ctx.q
        gx, gw, gb = _layer_backward(g, xs, w, q.cfg, ctx.xshape, ctx.has_bias,
                                     ctx.needs_input_grad[0])
        need = ctx.needs_input_grad  # a frozen parameter's slot is not called (as per slot)
        if gx is not None:
            gx = _project(q.errors, gx.contiguous())
        gw = _project(q.weight_grads, gw.contiguous()) if need[1] else None
        if gb is not None:
            gb = _project(q.bias_grads, gb.contiguous()) if need[2] else None
        return gx, gw, gb, None, None


@dataclass(frozen=True)
class _Slots:
    """A wrapped layer's quantizers (None where the role is float32), for the fused node."""

    cfg: _LayerCfg
    direct: bool
    activations: TensorQuantizer | None
    errors: TensorQuantizer | None
    weights: TensorQuantizer | None
    biases: TensorQuantizer | None
    weight_grads: TensorQuantizer | None
    bias_grads: TensorQuantizer | None
    saved: TensorQuantizer | None


def _qualified(ctx: QuantContext, name: str, role: str) -> str:
    return register_slot(ctx.quantizer(name, role))


class _Wrapped:
    """The forward of a quantised Conv2d/Linear (installed by :func:`quantize_model`)."""

    _mf: dict[str, Any]

    def _quantized_forward(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self
        k = m._mf
        if "block" in k:  # a block-scaled policy: one eager node (minifloat.torch.block_model)
            return _block_forward(m, x)
        if eager(x, m.weight, m.bias):
            save = k["saved"] != "" and m.training and torch.is_grad_enabled()
            return _FusedLayerFn.apply(x, m.weight, m.bias, k["slots"],  # type: ignore[no-any-return]
                                       save)
        x = slot_quantize(x, "", k["errors"]) if x.requires_grad else x
        w, b = m.weight, m.bias
        if k["direct"]:  # the parameters are the codes' values themselves
            w = slot_quantize(w, "", k["weight_grads"])
            if b is not None:
                b = slot_quantize(b, "", k["bias_grads"])
        else:
            w = slot_quantize(w, k["weights"], k["weight_grads"])
            if b is not None:
                b = slot_quantize(b, k["biases"], k["bias_grads"])
        xs = x
        if k["saved"] and m.training and torch.is_grad_enabled():
            xs = slot_quantize(x.detach(), k["saved"])
        y = _LayerFn.apply(x, xs.detach(), w, b, k["cfg"])
        return slot_quantize(y, k["activations"], "")


@torch.compiler.disable  # type: ignore[misc]
def _block_forward(m: Any, x: torch.Tensor) -> torch.Tensor:
    """A wrapped layer under a block-scaled policy: always eager (torch.compile runs it as a
    graph break; its NumPy block codec is not traceable)."""
    k = m._mf
    save = m.training and torch.is_grad_enabled()
    shape = x.shape
    flat = k["block"].kind == "linear" and x.dim() != 2
    y = BlockLayerFn.apply(x.reshape(-1, shape[-1]) if flat else x, m.weight, m.bias,
                           k["block"], save)
    return y.reshape(*shape[:-1], y.shape[-1]) if flat else y  # type: ignore[no-any-return]


class QuantLinear(torch.nn.Linear, _Wrapped):
    """A torch.nn.Linear whose tensors follow a quantisation policy (see quantize_model)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer under its policy."""
        return self._quantized_forward(x)


class QuantConv2d(torch.nn.Conv2d, _Wrapped):
    """A torch.nn.Conv2d whose tensors follow a quantisation policy (see quantize_model)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer under its policy."""
        return self._quantized_forward(x)


def _block_slots(ctx: QuantContext, name: str, cfg: _LayerCfg) -> BlockSlots:
    """The slots of layer ``name`` under a block-scaled policy (None: a float32 role)."""
    pol = ctx.policy

    def qs(slot: str, role: str) -> TensorQuantizer | None:
        return ctx.quantizer(f"{name}.{slot}", role) if pol.role(role).quantized else None

    return BlockSlots(
        cfg.kind, cfg.stride, cfg.padding, qs("activations", "activations"),
        qs("weights", "weights"), qs("biases", "biases"),
        qs("errors.grad_w", "errors") if pol.errors.blocked else None,
        qs("errors", "errors"), qs("weight_grads", "weight_grads"),
        qs("bias_grads", "weight_grads"), qs("saved_inputs", "saved_inputs"))


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def quantize_model(model: torch.nn.Module, policy: Any = "asymmetric8", *, seed: int = 0,
                   rank: int | None = None, record: bool = True,
                   quantize_input: bool = True) -> torch.nn.Module:
    """Apply ``policy`` to every ``torch.nn.Linear`` and ``torch.nn.Conv2d`` of ``model``, in
    place (the layers keep their class's behaviour, parameters and state_dict keys; their
    class becomes QuantLinear/QuantConv2d); returns ``model``.

    Args:
        model: the torch model.
        policy: a preset name (``minifloat.nn.POLICIES``), a QuantPolicy, a dict or a JSON
            path: the same policies as ``minifloat.nn.fit``.
        seed: seed of every stochastic rounding (keyed streams, docs/torch.md).
        rank: data-parallel rank (default: torch.distributed's rank when initialised, else 0).
        record: record the offset each slot uses at every step (``context(model).offsets``).
        quantize_input: project the model input onto the activations grid (as nn.fit does).

    Direct-mode policies (``update="direct"``, e.g. sqpu) project the parameters into their
    formats now; train them with :class:`minifloat.torch.optim.QuantizedOptimizer`.
    """
    pol: QuantPolicy = get_policy(policy)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if getattr(model, "_minifloat_context", None) is not None:
        raise ValueError("model is already quantised (quantize_model was applied to it)")
    if rank is None:
        dist = torch.distributed
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    ctx = QuantContext(pol, seed=seed, record=record, streams="keyed", rank=rank)
    ckey = f"{id(ctx)}"
    _CONTEXTS[ckey] = ctx
    mm = "" if pol.accumulator == "float32_blas" else ckey
    sv = pol.role("saved_inputs")
    blocked = any(pol.role(r).blocked for r in BLOCK_ROLES)
    if blocked and (mm or pol.update == "direct"):
        raise ValueError(f"policy {pol.name!r}: a block-scaled policy runs with accumulator="
                         f"'float32_blas' and update='ste' (got accumulator="
                         f"{pol.accumulator!r}, update={pol.update!r})")
    wrapped = 0
    for name, m in list(model.named_modules()):
        if type(m) is torch.nn.Linear:
            cfg = _LayerCfg("linear", mm)
            cls: type = QuantLinear
        elif type(m) is torch.nn.Conv2d:
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise ValueError(f"layer {name}: padding_mode={m.padding_mode!r}, padding="
                                 f"{m.padding!r}; allowed: 'zeros' with integer padding")
            cfg = _LayerCfg("conv", mm, _pair(m.stride), _pair(m.padding), _pair(m.dilation),
                            m.groups)
            if (mm or blocked) and (cfg.dilation != (1, 1) or cfg.groups != 1):
                raise ValueError(f"layer {name}: accumulator={pol.accumulator} and block-"
                                 "scaled policies support dilation 1 and groups 1 only")
            cls = QuantConv2d
        else:
            continue
        name = name or "model"
        keys: dict[str, Any] = {
            "cfg": cfg, "direct": pol.update == "direct",
            "activations": _qualified(ctx, f"{name}.activations", "activations"),
            "errors": _qualified(ctx, f"{name}.errors", "errors"),
            "weights": _qualified(ctx, f"{name}.weights", "weights"),
            "biases": _qualified(ctx, f"{name}.biases", "biases"),
            "weight_grads": _qualified(ctx, f"{name}.weight_grads", "weight_grads"),
            "bias_grads": _qualified(ctx, f"{name}.bias_grads", "weight_grads"),
            "saved": _qualified(ctx, f"{name}.saved_inputs", "saved_inputs")
            if sv.quantized else "",
        }
        qs = [slot(keys[r]) if keys[r] else None for r in (
            "activations", "errors", "weights", "biases", "weight_grads", "bias_grads", "saved")]
        keys["slots"] = _Slots(cfg, keys["direct"],
                               *(q if q is not None and q.quantized else None for q in qs))
        if blocked:
            keys["block"] = _block_slots(ctx, name, cfg)
        m.__class__ = cls
        m._mf = keys  # type: ignore[assignment]
        if pol.update == "direct":  # parameters quantised at initialisation (SQPU)
            with torch.no_grad():
                m.weight.copy_(slot_quantize(m.weight.detach(), keys["weights"]))
                if m.bias is not None:
                    m.bias.copy_(slot_quantize(m.bias.detach(), keys["biases"]))
        wrapped += 1
    if not wrapped:
        raise ValueError("model has no torch.nn.Linear or torch.nn.Conv2d layer to quantise")
    in_key = _qualified(ctx, "input.activations", "activations")
    loss_key = _qualified(ctx, "loss.errors", "errors")

    def pre(mod: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        ctx.training = mod.training
        if quantize_input and args and isinstance(args[0], torch.Tensor):
            return (slot_quantize(args[0], in_key),) + tuple(args[1:])
        return args

    def post(mod: torch.nn.Module, args: Any, out: Any) -> Any:
        if isinstance(out, torch.Tensor) and out.requires_grad:
            return slot_quantize(out, "", loss_key)
        return out

    model.register_forward_pre_hook(pre)
    model.register_forward_hook(post)
    model._minifloat_context = ctx  # type: ignore[assignment]
    return model


def context(model: torch.nn.Module) -> QuantContext:
    """The QuantContext of a quantised model: its policy, ``step`` (advanced by
    QuantizedOptimizer.step, or by you after each optimizer step), recorded ``offsets`` and
    ``offsets_view()``."""
    ctx = getattr(model, "_minifloat_context", None)
    if ctx is None:
        raise ValueError("model is not quantised; call minifloat.torch.quantize_model first")
    return ctx  # type: ignore[no-any-return]


def parameter_slots(model: torch.nn.Module) -> dict[int, tuple[str, str]]:
    """id(parameter) -> (slot name, role) for the parameters of quantised layers."""
    out: dict[int, tuple[str, str]] = {}
    for name, m in model.named_modules():
        if isinstance(m, _Wrapped):
            name = name or "model"
            out[id(m.weight)] = (f"{name}.weights", "weights")  # type: ignore[attr-defined]
            if m.bias is not None:  # type: ignore[attr-defined]
                out[id(m.bias)] = (f"{name}.biases", "biases")  # type: ignore[attr-defined]
    return out


__all__ = ["QuantConv2d", "QuantLinear", "context", "parameter_slots", "quantize_model", "slot"]
