"""Block-scaled policies (OCP MX, NVFP4) inside ``quantize_model``: the Linear/Conv2d layer as
one autograd node whose matmul operands are projected onto the roles' block formats with
blocks along each matmul's reduction axis, the rule of ``minifloat.nn`` (docs/nn.md,
"Block-scaled policies"), through the same TensorQuantizer slots:

- forward ``y = x W^T``: the input blocked along its features/channels (activations), the
  weight as a matrix ``(out, -1)`` blocked along its rows (weights);
- weight gradient ``dW = dy^T x``: the output gradient (errors, slot ``grad_w``) and the
  saved input (saved_inputs, kept blocked along the batch axis) blocked along the batch
  (Linear) or N*OH*OW (Conv2d) axis;
- input gradient ``dx = dy W``: the output gradient (errors, slot ``grad_x``) blocked along
  the outputs, the weight re-blocked from its float32 value along the outputs (a 2-D tile
  format uses the forward tiles).

A role whose format is not block-scaled is applied as in the other paths (weights and
biases before use, the output by activations, the input gradient by errors, the parameter
gradients by weight_grads). The products are torch's own float32 kernels. The node runs
eagerly (NumPy codec in between); under torch.compile/export the layer raises a ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..nn.quant import TensorQuantizer
from .bridge import to_array, values_to_tensor
from .quant_ops import apply_quantizer


@dataclass(frozen=True)
class BlockSlots:
    """A wrapped layer's quantizers under a block-scaled policy (None: float32 role)."""

    kind: str  # "linear" or "conv"
    stride: tuple[int, int]
    padding: tuple[int, int]
    activations: TensorQuantizer | None
    weights: TensorQuantizer | None
    biases: TensorQuantizer | None
    errors_w: TensorQuantizer | None  # errors as the weight gradient's operand
    errors_x: TensorQuantizer | None  # errors as the input gradient's operand (or output)
    weight_grads: TensorQuantizer | None
    bias_grads: TensorQuantizer | None
    saved: TensorQuantizer | None


def _blocked(q: TensorQuantizer | None) -> bool:
    return q is not None and q.blocked


def block_operand(q: TensorQuantizer | None, t: torch.Tensor, axis: int) -> torch.Tensor:
    """``t`` projected onto slot ``q``'s block format with blocks along ``axis`` (``t`` itself
    when the slot is None or not block-scaled)."""
    if not _blocked(q):
        return t
    assert q is not None
    a = to_array(t)
    if not isinstance(a, np.ndarray):
        a = a.get()  # the block codec runs on the CPU
    a = np.ascontiguousarray(a, dtype=np.float64 if t.dtype == torch.float64 else np.float32)
    return values_to_tensor(q.block(a, axis), t)


def _plain(q: TensorQuantizer | None, t: torch.Tensor) -> torch.Tensor:
    """``t`` through a non-block slot (unchanged for None or a block slot)."""
    return t if q is None or q.blocked or not q.quantized else apply_quantizer(q, t)


def _matrix_operands(x: torch.Tensor, w: torch.Tensor, q: BlockSlots) -> tuple[Any, Any]:
    """The forward operands: input blocked along axis 1, weight (out, -1) along axis 1."""
    w2 = w.detach().reshape(w.shape[0], -1)
    wq = block_operand(q.weights, w2, 1) if _blocked(q.weights) else _plain(q.weights, w2)
    return block_operand(q.activations, x.detach(), 1), wq.reshape(w.shape)


class BlockLayerFn(torch.autograd.Function):
    """Linear (2-D input) or Conv2d under a block-scaled policy (see the module doc)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor,  # type: ignore[override]
                b: torch.Tensor | None, q: BlockSlots, save: bool) -> torch.Tensor:
        xq, wq = _matrix_operands(x, w, q)
        bq = None if b is None else _plain(q.biases, b.detach())
        if q.kind == "linear":
            y = xq @ wq.t()
            y = y if bq is None else y + bq
        else:
            y = F.conv2d(xq, wq, bq, q.stride, q.padding)
        xs = xq
        if save:  # kept blocked along the batch axis (the weight gradient's reduction axis)
            xs = block_operand(q.saved, xq, 0) if _blocked(q.saved) else _plain(q.saved, xq)
        ctx.q, ctx.xshape, ctx.has_bias = q, x.shape, b is not None
        ctx.save_for_backward(xs, w.detach())
        return _plain(q.activations, y)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        xs, w = ctx.saved_tensors
        q: BlockSlots = ctx.q
        need = ctx.needs_input_grad
        o = w.shape[0]
        w2 = w.reshape(o, -1)
        if _blocked(q.weights):  # dx = dy W reduces over the outputs: W blocked along them
            f = q.weights.spec.format  # type: ignore[union-attr]
            wd = block_operand(q.weights, w2, 0) if len(f.block_size) == 1 else \
                block_operand(q.weights, w2, 1)
        else:
            wd = _plain(q.weights, w2)
        gx = gw = gb = None
        if q.kind == "linear":
            g2 = g.contiguous()
            gb = g2.sum(0) if ctx.has_bias else None
            if need[1]:
                gw = block_operand(q.errors_w, g2, 0).t() @ block_operand(q.saved, xs, 0)
            if need[0]:
                gx = block_operand(q.errors_x, g2, 1) @ wd
        else:
            kh, kw = w.shape[2:]
            n = g.shape[0]
            gt = g.transpose(0, 1).reshape(o, -1).contiguous()  # (O, N*OH*OW)
            gb = gt.sum(1) if ctx.has_bias else None
            if need[1]:
                cols = F.unfold(xs, (kh, kw), padding=q.padding, stride=q.stride)
                ct = cols.permute(0, 2, 1).reshape(-1, cols.shape[1]).contiguous()
                gw = (block_operand(q.errors_w, gt, 1) @ block_operand(q.saved, ct, 0)) \
                    .reshape(w.shape)
            if need[0]:
                dct = wd.t().contiguous() @ block_operand(q.errors_x, gt, 0)  # (CKK, N*L)
                dcols = dct.reshape(dct.shape[0], n, -1).permute(1, 0, 2)
                gx = F.fold(dcols, ctx.xshape[2:], (kh, kw), padding=q.padding,
                            stride=q.stride)
        if gx is not None:
            gx = _plain(q.errors_x, gx.contiguous())
        if gw is not None:
            gw = _plain(q.weight_grads, gw.contiguous())
        if gb is not None:
            gb = _plain(q.bias_grads, gb.contiguous()) if need[2] else None
        return gx, gw, gb, None, None


__all__ = ["BlockLayerFn", "BlockSlots", "block_operand"]
