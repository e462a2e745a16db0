"""minifloat.nn: small CNN layers and fully emulated low-precision training.

Every tensor role of training (weights, biases, activations, errors, weight gradients,
updates, optimizer state, master weights, saved inputs, accumulator) gets a number format,
rounding, saturation and exponent offset from a :class:`QuantPolicy`; :func:`fit` trains a
model under it. See docs/nn.md.

>>> import minifloat as mf
>>> pol = mf.nn.get_policy("asymmetric8")
>>> pol.role("errors").offset.value
13
"""

from .formats import select_offset
from .init import fixup_scale, initialize
from .layers import (
    AvgPool2d,
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
    col2im,
    im2col,
    softmax_cross_entropy,
)
from .memory import memory_report
from .models import MODELS, alexnet_small, build_model, lenet5, resnet
from .optim import SGD, CosineLR, LossScaler, ReduceOnPlateau, StepLR, get_schedule
from .policy import (
    POLICIES,
    ROLES,
    OffsetSpec,
    QuantPolicy,
    RoleSpec,
    fixed_point,
    get_policy,
)
from .quant import QuantContext, Stored, TensorQuantizer
from .tensor import Parameter
from .train import FitResult, evaluate, fit

__all__ = [
    "AvgPool2d", "BatchNorm2d", "Conv2d", "CosineLR", "Dropout", "FitResult", "Flatten",
    "GlobalAvgPool2d", "Linear", "LossScaler", "MODELS", "MaxPool2d", "Module", "OffsetSpec",
    "POLICIES", "Parameter", "QuantContext", "QuantPolicy", "ROLES", "ReLU", "ReduceOnPlateau",
    "Residual", "RoleSpec", "SGD", "Scalar", "Sequential", "StepLR", "Stored",
    "TensorQuantizer", "alexnet_small", "build_model", "col2im", "evaluate", "fit",
    "fixed_point", "fixup_scale", "get_policy", "get_schedule", "im2col", "initialize",
    "lenet5", "memory_report", "resnet", "select_offset", "softmax_cross_entropy",
]
