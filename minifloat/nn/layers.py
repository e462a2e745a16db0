"""Layers with explicit forward and backward passes (NCHW), quantised by the run's policy.

Every layer projects its forward output onto the ``activations`` grid and the gradient it
passes back onto the ``errors`` grid (each layer has its own slots, so dynamic offsets are per
tensor); parameter gradients go onto the ``weight_grads`` grid; inputs kept for the backward
pass are stored as codes in the ``saved_inputs`` format. Quantisation is treated as the
identity in the backward pass (straight-through). A layer without a context (``attach(None)``)
computes in plain floating point in its input's dtype: that is what the gradient checks use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .quant import QuantContext, Stored, TensorQuantizer, store
from .tensor import Parameter, matmul


class Module:
    """Base class: ``forward(x)``, ``backward(grad) -> grad_input``, parameters, quantisers."""

    def __init__(self) -> None:
        self.name = ""
        self.training = True
        self.ctx: QuantContext | None = None
        self.input_grad = True  # False: backward need not compute the input gradient
        self._q: dict[str, TensorQuantizer] = {}
        self._saved: dict[str, Any] = {}

    # ---- structure ----
    def children(self) -> list[Module]:
        """Direct sub-modules."""
        return []

    def modules(self) -> Iterator[Module]:
        """This module and all sub-modules, depth first."""
        yield self
        for c in self.children():
            yield from c.modules()

    def own_parameters(self) -> list[Parameter]:
        """Parameters of this module itself (not of children)."""
        return []

    def parameters(self) -> list[Parameter]:
        """All parameters, in a fixed order."""
        return [p for m in self.modules() for p in m.own_parameters()]

    def set_names(self, prefix: str = "") -> None:
        """Give every module and parameter a dotted name."""
        self.name = prefix or type(self).__name__.lower()
        for i, c in enumerate(self.children()):
            c.set_names(f"{prefix}.{i}" if prefix else f"{i}")
        for p in self.own_parameters():
            p.name = f"{self.name}.{p.role}"

    def first_layer(self) -> Module:
        """The module that receives the network input (self for a leaf)."""
        return self

    def train(self, mode: bool = True) -> Module:
        """Training (batch statistics, dropout) or evaluation mode, recursively."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode."""
        return self.train(False)

    def attach(self, ctx: QuantContext | None) -> None:
        """Bind every module and parameter to a run's quantisation context (or None for plain
        floating point) and project the parameters' initial values."""
        for m in self.modules():
            m.ctx = ctx
            m._q = {}
            m._saved = {}
        for p in self.parameters():
            p.attach(ctx)

    def astype(self, dtype: Any) -> Module:
        """Convert parameters (float32 roles) to ``dtype``, e.g. float64 for gradient checks."""
        for p in self.parameters():
            p.astype(dtype)
        for m in self.modules():
            m._astype(dtype)
        return self

    def _astype(self, dtype: Any) -> None:
        pass

    # ---- quantisation helpers ----
    def quantizer(self, role: str, slot: str | None = None) -> TensorQuantizer | None:
        """This module's slot ``slot`` (default: named after the role) for ``role``; None
        without a context. Each slot has its own dynamic offset and offset record."""
        if self.ctx is None:
            return None
        key = slot or role
        q = self._q.get(key)
        if q is None:
            q = self.ctx.quantizer(f"{self.name}.{key}", role)
            self._q[key] = q
        return q

    def q(self, role: str, x: np.ndarray, slot: str | None = None) -> np.ndarray:
        """``x`` projected onto this module's ``role`` grid (identity without a context)."""
        qq = self.quantizer(role, slot)
        return x if qq is None else qq(x)

    def qop(self, role: str, x: np.ndarray, axis: int, slot: str) -> np.ndarray:
        """A matmul operand: ``x`` in ``role``'s block format with blocks along ``axis``, the
        matmul's reduction axis (slot ``slot``); ``x`` itself when the role's format is not
        block-scaled (such roles project layer outputs instead, :meth:`q`)."""
        if self.ctx is None or not self.ctx.policy.role(role).blocked:
            return x  # no slot is made: its offset record would stay empty
        qq = self.quantizer(role, slot)
        assert qq is not None
        return qq.block(x, axis)

    def save(self, key: str, x: np.ndarray, role: str | None = "saved_inputs",
             axis: int = 1) -> None:
        """Keep ``x`` for the backward pass (as codes when ``role`` is quantised, a block
        format with blocks along ``axis``; masks and indices with ``role=None`` as they
        are)."""
        if not self.training:
            return
        self._saved[key] = store(self.quantizer(role) if role else None, x, axis)

    def load(self, key: str) -> np.ndarray:
        """A tensor kept by :meth:`save`."""
        try:
            return self._saved[key].values()
        except KeyError:
            raise RuntimeError(f"{self.name}: backward() without a training-mode forward()") \
                from None

    def saved_nbytes(self) -> int:
        """Bytes kept for the backward pass by this module (not children)."""
        return sum(s.nbytes for s in self._saved.values())

    def saved_items(self) -> list[tuple[str, Stored]]:
        """(key, stored tensor) kept by this module."""
        return list(self._saved.items())

    # ---- computation ----
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Output for input ``x``."""
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Gradient w.r.t. the input, given the gradient w.r.t. the output; sets the
        parameters' ``grad``."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sequential(Module):
    """Modules applied in order."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        self.layers = list(layers)

    def children(self) -> list[Module]:
        return self.layers

    def first_layer(self) -> Module:
        return self.layers[0].first_layer() if self.layers else self

    def forward(self, x: np.ndarray) -> np.ndarray:
        for m in self.layers:
            x = m.forward(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for m in reversed(self.layers):
            grad = m.backward(grad)
        return grad

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {m!r}".replace("\n", "\n  ")
                          for i, m in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


def _pair(v: Any, name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, (int, np.integer)) for i in t):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(t[0]), int(t[1])


class Linear(Module):
    """``y = x W^T + b`` with ``W`` of shape (out_features, in_features).

    Backward: ``dx = dy W``, ``dW = dy^T x`` (x as saved), ``db = sum_n dy``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: np.random.Generator | None = None, init: str = "kaiming") -> None:
        super().__init__()
        from .init import initialize

        rng = rng if rng is not None else np.random.default_rng(0)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(initialize(init, (out_features, in_features), in_features,
                                           out_features, rng), "weights")
        self.bias = Parameter(np.zeros(out_features, np.float32), "biases") if bias else None

    def own_parameters(self) -> list[Parameter]:
        return [self.weight] + ([self.bias] if self.bias is not None else [])

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self.name}: input must be (N, {self.in_features}), got {x.shape}")
        x = self.qop("activations", x, 1, "input")  # block roles: blocks along features
        # kept blocked along the batch axis, the weight gradient's reduction axis: the stored
        # codes are that matmul's operand (re-blocking them there changes nothing)
        self.save("x", x, axis=0)
        y = matmul(x, self.weight.data.T, self.ctx)
        if self.bias is not None:
            y += self.bias.data
        return self.q("activations", y)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self.load("x")
        # dW = dy^T x reduces over the batch: block operands along axis 0
        gw = self.qop("errors", grad, 0, "grad_w")
        xw = self.qop("saved_inputs", x, 0, "input_w")
        self.weight.grad = self.q("weight_grads", matmul(gw.T, xw, self.ctx))
        if self.bias is not None:
            self.bias.grad = self.q("weight_grads", grad.sum(axis=0), "bias_grads")
        if not self.input_grad:
            return np.zeros(0, dtype=grad.dtype)
        # dx = dy W reduces over the outputs: dy blocked along axis 1, W along axis 0
        gx = self.qop("errors", grad, 1, "grad_x")
        return self.q("errors", matmul(gx, self.weight.dgrad_operand(), self.ctx))

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


def im2col(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
           padding: tuple[int, int]) -> tuple[np.ndarray, int, int]:
    """Columns of every receptive field: ((N*OH*OW), C*kh*kw) in (c, i, j) order, and OH, OW.

    The result is the transpose of a C-contiguous (C*kh*kw, N*OH*OW) array (``cols.T`` is
    free): it is built with kh*kw block copies whose inner runs are output rows, several
    times faster than copying a 6-D window view."""
    n, c, h, w = x.shape
    ph, pw = padding
    sh, sw = stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols_t = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    xt = x.transpose(1, 0, 2, 3)
    for i in range(kh):
        for j in range(kw):
            cols_t[:, i, j] = xt[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return cols_t.reshape(c * kh * kw, n * oh * ow).T, oh, ow


def col2im(cols: np.ndarray, shape: tuple[int, ...], kh: int, kw: int, stride: tuple[int, int],
           padding: tuple[int, int], oh: int, ow: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column entry back to its input position.
    ``cols`` is ((N*OH*OW), C*kh*kw); the transpose of a C-contiguous array is read in place."""
    n, c, h, w = shape
    ph, pw = padding
    sh, sw = stride
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    # (c, kh, kw, n, oh, ow): each of the kh*kw adds reads blocks with output rows inner
    g = cols.T.reshape(c, kh, kw, n, oh, ow)
    ot = out.transpose(1, 0, 2, 3)
    for i in range(kh):
        for j in range(kw):
            ot[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += g[:, i, j]
    return out[:, :, ph:ph + h, pw:pw + w]


class Conv2d(Module):
    """2-D convolution (cross-correlation), weights (out, in, kh, kw), through im2col:
    ``y[n,o] = sum_{c,i,j} x[n,c,s*y+i,s*x+j] W[o,c,i,j] + b[o]``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, bias: bool = True, *,
                 rng: np.random.Generator | None = None, init: str = "kaiming") -> None:
        super().__init__()
        from .init import initialize

        rng = rng if rng is not None else np.random.default_rng(0)
        self.kh, self.kw = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        if min(self.kh, self.kw, *self.stride) < 1 or min(self.padding) < 0:
            raise ValueError("Conv2d: kernel_size and stride must be >= 1, padding >= 0")
        self.in_channels, self.out_channels = in_channels, out_channels
        fan_in = in_channels * self.kh * self.kw
        self.weight = Parameter(initialize(init, (out_channels, in_channels, self.kh, self.kw),
                                           fan_in, out_channels * self.kh * self.kw, rng),
                                "weights")
        self.bias = Parameter(np.zeros(out_channels, np.float32), "biases") if bias else None
        self._shape: tuple[int, ...] = ()

    def own_parameters(self) -> list[Parameter]:
        return [self.weight] + ([self.bias] if self.bias is not None else [])

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.name}: input must be (N, {self.in_channels}, H, W), "
                             f"got {x.shape}")
        x = self.qop("activations", x, 1, "input")  # block roles: blocks along channels
        # kept blocked along the batch axis; the weight gradient re-blocks its columns along
        # N*OH*OW (a second rounding of the stored values, docs/nn.md)
        self.save("x", x, axis=0)
        self._shape = x.shape
        cols, oh, ow = im2col(x, self.kh, self.kw, self.stride, self.padding)
        w2 = self.weight.data.reshape(self.out_channels, -1)
        # y^T = W2 @ cols^T: (out, N*OH*OW), both operands C-contiguous (no copies)
        yt = matmul(w2, cols.T, self.ctx)
        if self.bias is not None:
            yt += self.bias.data[:, None]
        n = x.shape[0]
        y = yt.reshape(self.out_channels, n, oh, ow).transpose(1, 0, 2, 3)
        return self.q("activations", np.ascontiguousarray(y))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self.load("x")
        cols, oh, ow = im2col(x, self.kh, self.kw, self.stride, self.padding)
        # g^T: (out, N*OH*OW) in the column order of cols
        gt = np.ascontiguousarray(grad.transpose(1, 0, 2, 3)).reshape(self.out_channels, -1)
        # dW = g^T cols reduces over N*OH*OW: block operands along that axis
        gw = self.qop("errors", gt, 1, "grad_w")
        cw = self.qop("saved_inputs", cols, 0, "input_w")
        self.weight.grad = self.q("weight_grads", matmul(gw, cw, self.ctx).reshape(
            self.weight.shape))
        if self.bias is not None:
            self.bias.grad = self.q("weight_grads", gt.sum(axis=1), "bias_grads")
        if not self.input_grad:  # the network input needs no gradient
            return np.zeros(0, dtype=grad.dtype)
        # dcols^T = W2^T g^T reduces over the output channels: both blocked along them
        w2 = self.weight.dgrad_operand()
        gx = self.qop("errors", gt, 0, "grad_x")
        dcols_t = matmul(np.ascontiguousarray(w2.T), gx, self.ctx)  # (C*kh*kw, N*OH*OW)
        dx = col2im(dcols_t.T, self._shape, self.kh, self.kw, self.stride, self.padding, oh, ow)
        return self.q("errors", dx)

    def __repr__(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, ({self.kh}, {self.kw}), "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None})")


class ReLU(Module):
    """``max(x, 0)``; keeps a boolean mask (1 byte per element) for the backward pass."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        mask = x > 0
        self.save("mask", mask, None)
        return np.where(mask, x, x.dtype.type(0))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.where(self.load("mask"), grad, grad.dtype.type(0))


class Flatten(Module):
    """(N, ...) -> (N, prod(...))."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._shape)


class MaxPool2d(Module):
    """Max over k x k windows with a stride (default k); keeps the argmax (uint8) per output.
    Ties go to the first maximum in row-major window order."""

    def __init__(self, kernel_size: Any = 2, stride: Any = None) -> None:
        super().__init__()
        self.k = _pair(kernel_size, "kernel_size")
        self.stride = self.k if stride is None else _pair(stride, "stride")
        if self.k[0] * self.k[1] > 255:
            raise ValueError("MaxPool2d: kernel with more than 255 elements")
        self._shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        (kh, kw), (sh, sw) = self.k, self.stride
        n, c, h, w = x.shape
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        # running maximum over the kh*kw strided views; a later position wins only if it is
        # strictly larger (or the first NaN), as np.argmax: ties go to the first maximum
        best = x[:, :, :sh * (oh - 1) + 1:sh, :sw * (ow - 1) + 1:sw].copy()
        idx = np.zeros(best.shape, dtype=np.uint8)
        nan = np.isnan(best)
        for t in range(1, kh * kw):
            i, j = divmod(t, kw)
            v = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            win = v > best
            if nan.any() or np.isnan(v).any():
                vnan = np.isnan(v)
                win = (win & ~nan) | (vnan & ~nan)
                nan |= vnan
            np.copyto(best, v, where=win)
            idx[win] = t
        self.save("argmax", idx, None)
        return best

    def backward(self, grad: np.ndarray) -> np.ndarray:
        idx = self.load("argmax")
        (kh, kw), (sh, sw) = self.k, self.stride
        n, c, oh, ow = grad.shape
        dx = np.zeros(self._shape, dtype=grad.dtype)
        for t in range(kh * kw):
            i, j = divmod(t, kw)
            dx[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += \
                np.where(idx == t, grad, grad.dtype.type(0))
        return dx

    def __repr__(self) -> str:
        return f"MaxPool2d({self.k}, stride={self.stride})"


class AvgPool2d(Module):
    """Mean over k x k windows with a stride (default k); the mean is projected onto the
    activations grid, the spread-out gradient onto the errors grid."""

    def __init__(self, kernel_size: Any = 2, stride: Any = None) -> None:
        super().__init__()
        self.k = _pair(kernel_size, "kernel_size")
        self.stride = self.k if stride is None else _pair(stride, "stride")
        self._shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        (kh, kw), (sh, sw) = self.k, self.stride
        n, c, h, w = x.shape
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
        win = win[:, :, ::sh, ::sw][:, :, :oh, :ow]
        return self.q("activations", win.mean(axis=(-2, -1), dtype=x.dtype))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (kh, kw), (sh, sw) = self.k, self.stride
        n, c, oh, ow = grad.shape
        g = grad / grad.dtype.type(kh * kw)
        dx = np.zeros(self._shape, dtype=grad.dtype)
        for i in range(kh):
            for j in range(kw):
                dx[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += g
        return self.q("errors", dx)

    def __repr__(self) -> str:
        return f"AvgPool2d({self.k}, stride={self.stride})"


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) -> (N, C)."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return self.q("activations", x.mean(axis=(2, 3), dtype=x.dtype))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        n, c, h, w = self._shape
        g = grad / grad.dtype.type(h * w)
        return self.q("errors", np.broadcast_to(g[:, :, None, None], self._shape).copy())


class Dropout(Module):
    """Inverted dropout: zero each element with probability ``p`` in training and scale the
    rest by ``1/(1-p)`` (projected onto the activations grid). The mask comes from a
    generator seeded by ``seed`` (reset by ``fit``), so runs are reproducible."""

    def __init__(self, p: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p={p}; allowed: 0 <= p < 1")
        self.p = p
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Restart the mask generator."""
        self.rng = np.random.default_rng(seed)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0:
            return x
        mask = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.save("mask", mask, None)
        scale = x.dtype.type(1.0 / (1.0 - self.p))
        return self.q("activations", np.where(mask, x * scale, x.dtype.type(0)))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self.p == 0:
            return grad
        scale = grad.dtype.type(1.0 / (1.0 - self.p))
        return self.q("errors", np.where(self.load("mask"), grad * scale, grad.dtype.type(0)))

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel:
    ``y = gamma * (x - mean) / sqrt(var + eps) + beta`` with batch statistics in training and
    running statistics (float32, momentum ``momentum``) in evaluation. gamma has the weights
    role, beta the biases role; the normalised input is kept in the saved_inputs format."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.channels, self.eps, self.momentum = channels, eps, momentum
        self.weight = Parameter(np.ones(channels, np.float32), "weights")
        self.bias = Parameter(np.zeros(channels, np.float32), "biases")
        self.running_mean = np.zeros(channels, np.float32)
        self.running_var = np.ones(channels, np.float32)
        self._inv = np.ones(channels, np.float32)

    def own_parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]

    def _astype(self, dtype: Any) -> None:
        self.running_mean = self.running_mean.astype(dtype)
        self.running_var = self.running_var.astype(dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"{self.name}: input must be (N, {self.channels}, H, W)")
        if self.training:
            mean = x.mean(axis=(0, 2, 3))
            var = x.var(axis=(0, 2, 3))
            m = self.momentum
            n = x.size // self.channels
            self.running_mean = ((1 - m) * self.running_mean + m * mean).astype(x.dtype)
            self.running_var = ((1 - m) * self.running_var
                                + m * var * n / max(n - 1, 1)).astype(x.dtype)
        else:
            mean, var = self.running_mean, self.running_var
        inv = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xhat = (x - mean[None, :, None, None]) * inv[None, :, None, None]
        self._inv = inv
        self.save("xhat", xhat)
        y = xhat * self.weight.data[None, :, None, None] + self.bias.data[None, :, None, None]
        return self.q("activations", y)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        xhat = self.load("xhat")
        self.weight.grad = self.q("weight_grads", (grad * xhat).sum(axis=(0, 2, 3)))
        self.bias.grad = self.q("weight_grads", grad.sum(axis=(0, 2, 3)), "bias_grads")
        gx = grad * self.weight.data[None, :, None, None]
        dx = (gx - gx.mean(axis=(0, 2, 3), keepdims=True)
              - xhat * (gx * xhat).mean(axis=(0, 2, 3), keepdims=True))
        return self.q("errors", dx * self._inv[None, :, None, None])

    def __repr__(self) -> str:
        return f"BatchNorm2d({self.channels})"


class Scalar(Module):
    """A learnable scalar bias (``x + b``, role biases) or multiplier (``x * s``, role
    weights): the extra parameters of Fixup residual branches."""

    def __init__(self, kind: str = "bias") -> None:
        super().__init__()
        if kind not in ("bias", "scale"):
            raise ValueError(f"Scalar: kind={kind!r}; allowed: 'bias', 'scale'")
        self.kind = kind
        self.param = Parameter(np.array([0.0 if kind == "bias" else 1.0], np.float32),
                               "biases" if kind == "bias" else "weights")

    def own_parameters(self) -> list[Parameter]:
        return [self.param]

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "bias":
            return self.q("activations", x + self.param.data[0])
        self.save("x", x)
        return self.q("activations", x * self.param.data[0])

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self.kind == "bias":
            self.param.grad = self.q("weight_grads", grad.sum().reshape(1))
            return grad
        self.param.grad = self.q("weight_grads", (grad * self.load("x")).sum().reshape(1))
        return self.q("errors", grad * self.param.data[0])

    def __repr__(self) -> str:
        return f"Scalar({self.kind!r})"


class Residual(Module):
    """``y = body(x) + shortcut(x)`` (identity shortcut when None); the sum is projected onto
    the activations grid, and the two backward paths' sum onto the errors grid."""

    def __init__(self, body: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def children(self) -> list[Module]:
        return [self.body] + ([self.shortcut] if self.shortcut is not None else [])

    def forward(self, x: np.ndarray) -> np.ndarray:
        s = x if self.shortcut is None else self.shortcut.forward(x)
        return self.q("activations", self.body.forward(x) + s)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        gs = grad if self.shortcut is None else self.shortcut.backward(grad)
        return self.q("errors", self.body.backward(grad) + gs)

    def __repr__(self) -> str:
        sc = "identity" if self.shortcut is None else repr(self.shortcut)
        return f"Residual(\n  body={self.body!r}\n  shortcut={sc}\n)".replace("\n", "\n  ")


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray,
                          scale: float = 1.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean softmax cross-entropy over the batch.

    Returns ``(loss, grad, correct)``: ``grad = scale * (softmax(logits) - onehot) / N`` (the
    gradient of ``scale * loss``, for loss scaling) and a boolean per example telling whether
    the arg-max class is the label. Computed in the logits' dtype with the max subtracted.
    """
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"logits must be (N, classes) and labels (N,); got {logits.shape} "
                         f"and {labels.shape}")
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    logp = z - np.log(s)
    rows = np.arange(n)
    loss = float(-logp[rows, labels].mean())
    p = e / s
    p[rows, labels] -= 1
    grad = p * logits.dtype.type(scale / n)
    return loss, grad, logits.argmax(axis=1) == labels
