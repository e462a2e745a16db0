"""Torch models: versions of minifloat.nn's models with the same initial parameters (copied
from the NumPy model built with the same seed), so both engines start from identical weights;
and ResNet-18 in its CIFAR form (experiments/torch_resnet18_cifar10.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import models as np_models
from ..nn.layers import Conv2d as NpConv2d
from ..nn.layers import Linear as NpLinear


class LeNet5(nn.Module):
    """LeNet-5 as ``minifloat.nn.lenet5``: conv5x5(6) - ReLU - maxpool2 - conv5x5(16) - ReLU -
    maxpool2 - fc120 - ReLU - fc84 - ReLU - fc(classes); 28x28 inputs padded by 2."""

    def __init__(self, in_shape: Any = (1, 28, 28), num_classes: int = 10, *,
                 seed: int = 0) -> None:
        super().__init__()
        ref = np_models.lenet5(in_shape, num_classes, seed=seed)
        convs = [m for m in ref.modules() if isinstance(m, NpConv2d)]
        fcs = [m for m in ref.modules() if isinstance(m, NpLinear)]
        self.features = nn.Sequential(
            nn.Conv2d(convs[0].in_channels, 6, 5, padding=convs[0].padding), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(fcs[0].in_features, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes))
        tl = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        with torch.no_grad():
            refs: list[Any] = [*convs, *fcs]
            for t, r in zip(tl, refs):
                t.weight.copy_(torch.from_numpy(np.asarray(r.weight.init_value, np.float32)))
                if r.bias is not None and t.bias is not None:
                    t.bias.copy_(torch.from_numpy(np.asarray(r.bias.init_value, np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for images (N, C, H, W)."""
        return self.classifier(self.features(x))


def lenet5(in_shape: Any = (1, 28, 28), num_classes: int = 10, *, seed: int = 0) -> LeNet5:
    """A :class:`LeNet5` initialised as ``minifloat.nn.lenet5(in_shape, num_classes,
    seed=seed)``."""
    return LeNet5(in_shape, num_classes, seed=seed)


class BasicBlock(nn.Module):
    """ResNet's basic block: conv3x3 - BN - ReLU - conv3x3 - BN, plus the shortcut (identity,
    or conv1x1 - BN where the stride or width changes), then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output."""
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) in its CIFAR form: a 3x3 stem (no max-pool), four stages of
    two basic blocks with ``width``, 2, 4 and 8 x ``width`` channels (strides 1, 2, 2, 2),
    global average pooling and a linear classifier. ``width=64`` is the standard network
    (11.17 M parameters for 10 classes). Parameters are initialised by torch's default rules
    from ``seed`` (the global random state is left as it was)."""

    def __init__(self, num_classes: int = 10, *, width: int = 64, in_channels: int = 3,
                 seed: int = 0) -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width={width!r}; allowed: an int >= 1")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU())
            blocks: list[nn.Module] = []
            cin = width
            for i, stride in enumerate((1, 2, 2, 2)):
                cout = width << i
                blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for images (N, C, H, W)."""
        y = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def resnet18(num_classes: int = 10, *, width: int = 64, in_channels: int = 3,
             seed: int = 0) -> ResNet18:
    """A :class:`ResNet18` (CIFAR form) built from ``seed``."""
    return ResNet18(num_classes, width=width, in_channels=in_channels, seed=seed)
