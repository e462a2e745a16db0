"""Small CNNs for 28x28 (MNIST, Fashion-MNIST) and 32x32 (CIFAR-10) inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .init import fixup_scale
from .layers import (
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Residual,
    Scalar,
    Sequential,
)

MODELS: tuple[str, ...] = ("lenet5", "alexnet_small", "resnet8", "resnet20")


def _check_shape(in_shape: Any) -> tuple[int, int, int]:
    t = tuple(int(v) for v in in_shape)
    if len(t) != 3 or min(t) < 1:
        raise ValueError(f"in_shape must be (C, H, W), got {in_shape!r}")
    return t  # type: ignore[return-value]


def lenet5(in_shape: Any = (1, 28, 28), num_classes: int = 10, *, seed: int = 0) -> Sequential:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv5x5(6) - pool - conv5x5(16)
    - pool - fc120 - fc84 - fc(classes). 28x28 inputs are padded by 2 (as the 32x32 original)."""
    c, h, w = _check_shape(in_shape)
    rng = np.random.default_rng(seed)
    pad = 2 if (h, w) == (28, 28) else 0
    hh, ww = (h + 2 * pad - 4) // 2, (w + 2 * pad - 4) // 2
    hh, ww = (hh - 4) // 2, (ww - 4) // 2
    if hh < 1 or ww < 1:
        raise ValueError(f"lenet5: input {in_shape} too small")
    m = Sequential(
        Conv2d(c, 6, 5, padding=pad, rng=rng), ReLU(), MaxPool2d(2),
        Conv2d(6, 16, 5, rng=rng), ReLU(), MaxPool2d(2), Flatten(),
        Linear(16 * hh * ww, 120, rng=rng), ReLU(),
        Linear(120, 84, rng=rng), ReLU(),
        Linear(84, num_classes, rng=rng, init="xavier"),
    )
    m.set_names()
    return m


def alexnet_small(in_shape: Any = (3, 32, 32), num_classes: int = 10, *, seed: int = 0,
                  width: int = 32, dropout: float = 0.5) -> Sequential:
    """A small AlexNet-style CNN: conv3x3(w) - pool - conv3x3(2w) - pool - conv3x3(4w) -
    conv3x3(4w) - pool - fc(8w) - dropout - fc(classes), ReLU after each conv/fc."""
    c, h, w = _check_shape(in_shape)
    rng = np.random.default_rng(seed)
    fh, fw = h // 2 // 2 // 2, w // 2 // 2 // 2
    if fh < 1 or fw < 1:
        raise ValueError(f"alexnet_small: input {in_shape} too small")
    m = Sequential(
        Conv2d(c, width, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
        Conv2d(width, 2 * width, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
        Conv2d(2 * width, 4 * width, 3, padding=1, rng=rng), ReLU(),
        Conv2d(4 * width, 4 * width, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
        Flatten(), Linear(4 * width * fh * fw, 8 * width, rng=rng), ReLU(),
        Dropout(dropout, seed=seed), Linear(8 * width, num_classes, rng=rng, init="xavier"),
    )
    m.set_names()
    return m


def _block(cin: int, cout: int, stride: int, norm: str, rng: np.random.Generator,
           scale: float) -> list[Module]:
    """A basic residual block (two 3x3 convs) followed by ReLU."""
    if norm == "batch":
        body = Sequential(Conv2d(cin, cout, 3, stride, 1, bias=False, rng=rng),
                          BatchNorm2d(cout), ReLU(),
                          Conv2d(cout, cout, 3, 1, 1, bias=False, rng=rng), BatchNorm2d(cout))
        short = None
        if stride != 1 or cin != cout:
            short = Sequential(Conv2d(cin, cout, 1, stride, bias=False, rng=rng),
                               BatchNorm2d(cout))
    else:  # Fixup: scalar biases, a scalar multiplier, first conv rescaled, last conv zero
        c1 = Conv2d(cin, cout, 3, stride, 1, bias=False, rng=rng)
        c1.weight.init_value = (c1.weight.init_value * scale).astype(np.float32)
        c1.weight.data = c1.weight.init_value.copy()
        c2 = Conv2d(cout, cout, 3, 1, 1, bias=False, rng=rng, init="zeros")
        body = Sequential(Scalar("bias"), c1, Scalar("bias"), ReLU(), Scalar("bias"), c2,
                          Scalar("scale"), Scalar("bias"))
        short = None
        if stride != 1 or cin != cout:
            short = Sequential(Scalar("bias"), Conv2d(cin, cout, 1, stride, bias=False, rng=rng))
    return [Residual(body, short), ReLU()]


def resnet(depth: int = 20, in_shape: Any = (3, 32, 32), num_classes: int = 10, *,
           seed: int = 0, norm: str = "batch", width: int = 16) -> Sequential:
    """CIFAR-style ResNet of depth 6n+2 (He et al. 2016): conv3x3(w) then three stages of n
    basic blocks with w, 2w, 4w channels (stride 2 at stages 2 and 3, 1x1 projection
    shortcuts), global average pooling, fc. ``norm="batch"`` uses BatchNorm2d, ``"fixup"``
    uses Fixup initialisation without normalisation (Zhang et al. 2019)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet: depth={depth}; allowed: 6n+2 >= 8 (8, 14, 20, 32, ...)")
    if norm not in ("batch", "fixup"):
        raise ValueError(f"resnet: norm={norm!r}; allowed: 'batch', 'fixup'")
    c, h, w = _check_shape(in_shape)
    rng = np.random.default_rng(seed)
    n = (depth - 2) // 6
    scale = fixup_scale(3 * n, 2)
    layers: list[Module] = [Conv2d(c, width, 3, 1, 1, bias=norm == "fixup", rng=rng)]
    if norm == "batch":
        layers.append(BatchNorm2d(width))
    layers.append(ReLU())
    cin = width
    for stage, cout in enumerate((width, 2 * width, 4 * width)):
        for b in range(n):
            stride = 2 if stage > 0 and b == 0 else 1
            layers += _block(cin, cout, stride, norm, rng, scale)
            cin = cout
    fc = Linear(cin, num_classes, rng=rng, init="zeros" if norm == "fixup" else "xavier")
    layers += [GlobalAvgPool2d(), fc]
    m = Sequential(*layers)
    m.set_names()
    return m


def build_model(name: str, in_shape: Any = (1, 28, 28), num_classes: int = 10, *,
                seed: int = 0, **kw: Any) -> Sequential:
    """Model ``name`` (``MODELS``) for inputs of ``in_shape`` (C, H, W); extra keywords go to
    the builder (e.g. ``norm="fixup"`` for the resnets, ``width=``)."""
    if name == "lenet5":
        return lenet5(in_shape, num_classes, seed=seed, **kw)
    if name == "alexnet_small":
        return alexnet_small(in_shape, num_classes, seed=seed, **kw)
    if name in ("resnet8", "resnet20"):
        return resnet(int(name[6:]), in_shape, num_classes, seed=seed, **kw)
    raise ValueError(f"model={name!r}; allowed: {', '.join(MODELS)}")
