"""Matrix products and convolution with minifloat's explicit accumulators as torch operators:
``matmul``, ``linear``, ``conv2d`` (autograd included).

The operands are projected into their format (exact when already on its grid), multiplied
exactly and summed by the accumulator exactly as ``mf.matmul``/``mf.conv2d`` do on the same
codes ("float32", "float64", "exact", a format such as "bf16" with sequential or pairwise
order, "float32_blas"); the result is projected into ``out_format`` and returned as floats.
Backward: ``dA = dC B^T`` and ``dB = A^T dC`` through the same accumulator, with the incoming
gradient first projected into ``grad_format`` (default: the operands' format); straight-through
for the operand projections. Convolution uses im2col in (c, i, j) order (``F.unfold``), the
order ``mf.conv2d`` sums in.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..array import from_codes
from ..codec import decode, encode
from ..formats import format
from ..linalg import matmul as mf_matmul
from ..nn.formats import format_to_json, resolve_format
from .bridge import check_tensor, to_array, values_to_tensor

_PROJ_KEYS = ("rounding", "saturation", "random_bits", "seed", "offset", "flush_subnormals")


@functools.lru_cache(maxsize=256)
def _spec(key: str) -> dict[str, Any]:
    d = json.loads(key)
    for k in ("fa", "fb", "fo", "fg"):
        d[k] = resolve_format(d[k], k)
    acc = d["accumulator"]
    if isinstance(acc, dict):
        d["accumulator"] = resolve_format(acc, "accumulator")
    return d


def contract_key(fmt: Any, accumulator: Any, out_format: Any, grad_format: Any, order: Any,
                 block: Any, projection: dict[str, Any]) -> str:
    """The JSON spec of a contraction (what the operator takes), checked."""
    fa, fb = (fmt if isinstance(fmt, (tuple, list)) else (fmt, fmt))
    fa, fb = format(fa), format(fb)
    fo = format(out_format) if out_format is not None else fa
    fg = format(grad_format) if grad_format is not None else fa
    unknown = set(projection) - set(_PROJ_KEYS)
    if unknown:
        raise TypeError(f"unknown keyword(s) {sorted(unknown)}; allowed: {', '.join(_PROJ_KEYS)}")
    if isinstance(accumulator, str):
        acc: Any = accumulator
    else:
        acc = format_to_json(format(accumulator))
    d = {"fa": format_to_json(fa), "fb": format_to_json(fb), "fo": format_to_json(fo),
         "fg": format_to_json(fg), "accumulator": acc, "order": order, "block": block,
         "projection": projection}
    key = json.dumps(d, sort_keys=True)
    _check(key)
    return key


@functools.lru_cache(maxsize=256)
def _check(key: str) -> None:
    """Run the spec once on a 1x1 product so bad settings fail here, naming the parameter."""
    _contract_np(np.ones((1, 1), np.float32), np.ones((1, 1), np.float32), key, False)


def _contract_np(a: np.ndarray, b: np.ndarray, key: str, grad: bool) -> np.ndarray:
    s = _spec(key)
    fa, fb = (s["fg"], s["fb"]) if grad else (s["fa"], s["fb"])
    kw: dict[str, Any] = {"accumulator": s["accumulator"]}
    if s["order"] is not None:
        kw["order"] = s["order"]
    if s["block"] is not None:
        kw["block"] = s["block"]
    ca = from_codes(encode(a, fa), fa)
    cb = from_codes(encode(b, fb), fb)
    res = mf_matmul(ca, cb, out_format=s["fo"], **kw, **s["projection"])
    return decode(res.codes, s["fo"], np.float64)


@torch.library.custom_op("minifloat::contract", mutates_args=())
def _contract_op(a: torch.Tensor, b: torch.Tensor, key: str, grad: bool) -> torch.Tensor:
    av, bv = to_array(a), to_array(b)
    if not isinstance(av, np.ndarray):
        av, bv = av.get(), bv.get()
    return values_to_tensor(_contract_np(av, bv, key, grad), a).to(a.device)


@_contract_op.register_fake
def _(a: torch.Tensor, b: torch.Tensor, key: str, grad: bool) -> torch.Tensor:
    return a.new_empty(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]) +
                       (a.shape[-2], b.shape[-1]))


def _sum_to(g: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return g.sum_to_size(shape) if g.shape != shape else g


class _Matmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, key: str) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.key = key
        return _contract_op(a, b, key, False)  # type: ignore[no-any-return]

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _sum_to(_contract_op(g, b.transpose(-1, -2), ctx.key, True), a.shape)
        if ctx.needs_input_grad[1]:
            gb = _sum_to(_contract_op(a.transpose(-1, -2), g, ctx.key, True), b.shape)
        return ga, gb, None


def matmul(a: torch.Tensor, b: torch.Tensor, *, fmt: Any, accumulator: Any = "float32",
           out_format: Any = None, grad_format: Any = None, order: str | None = None,
           block: int | None = None, **projection: Any) -> torch.Tensor:
    """``a @ b`` (2-D or batched, NumPy broadcasting) as ``mf.matmul`` computes it on the
    codes of ``a`` and ``b`` in ``fmt`` (a format, or a pair for a and b), with
    ``accumulator`` and ``out_format`` (default: fmt); result in a's dtype.

    Args:
        a, b: float tensors (at least 2-D).
        fmt: operand format(s); values off its grid are rounded to nearest-even first.
        accumulator: "float32", "float64", "exact", "float32_blas" or a format.
        out_format: format of the result (its projection takes ``rounding=`` etc.).
        grad_format: format the incoming gradient is projected into for the backward
            products (default: a's format).
        order, block: summation order ("sequential", "pairwise") and pairwise block size.
        projection: rounding, saturation, random_bits, seed, offset, flush_subnormals of the
            output (and of a format accumulator's additions).
    """
    check_tensor(a, "a")
    check_tensor(b, "b")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: a and b must be at least 2-D, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned")
    key = contract_key(fmt, accumulator, out_format, grad_format, order, block, projection)
    return _Matmul.apply(a, b, key)  # type: ignore[no-any-return]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
           fmt: Any, **kw: Any) -> torch.Tensor:
    """``x W^T + b`` with the product as :func:`matmul` (the bias added in x's dtype)."""
    check_tensor(x, "x")
    lead = x.shape[:-1]
    y = matmul(x.reshape(-1, x.shape[-1]), weight.t(), fmt=fmt, **kw)
    y = y.reshape(*lead, weight.shape[0])
    return y if bias is None else y + bias


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: Any = 1, padding: Any = 0, *, fmt: Any, **kw: Any) -> torch.Tensor:
    """2-D convolution (NCHW, OIHW) as ``mf.conv2d``: im2col in (c, i, j) order and the product
    as :func:`matmul`; the bias is added in x's dtype."""
    check_tensor(x, "x")
    check_tensor(weight, "weight")
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: x must be (N, C, H, W) and weight (O, C, kh, kw) with the "
                         f"same C; got {tuple(x.shape)} and {tuple(weight.shape)}")
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    n, _, h, w = x.shape
    o, c, kh, kw_ = weight.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw_) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError("conv2d: kernel larger than the padded input")
    cols = F.unfold(x, (kh, kw_), padding=(ph, pw), stride=(sh, sw))  # (N, C*kh*kw, L)
    cols = cols.transpose(1, 2).reshape(n * oh * ow, c * kh * kw_)
    y = matmul(cols, weight.reshape(o, -1).t(), fmt=fmt, **kw)  # (N*L, O)
    y = y.reshape(n, oh, ow, o).permute(0, 3, 1, 2)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.contiguous()
