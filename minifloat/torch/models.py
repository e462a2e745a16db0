"""Torch versions of minifloat.nn's models with the same initial parameters (copied from the
NumPy model built with the same seed), so both engines start from identical weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
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
