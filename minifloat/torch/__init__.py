"""minifloat inside PyTorch: the same bit-exact formats in torch training.

- :func:`quantize`: ``mf.quantize`` on a tensor (``torch.ops.minifloat.quantize``: works
  under torch.compile/export; straight-through or clipped gradient).
- :class:`Quantizer`: rounds activations forward and errors backward.
- :func:`quantize_model`: a ``minifloat.nn`` QuantPolicy on a model's Conv2d/Linear layers.
- :mod:`optim`: :class:`~minifloat.torch.optim.QuantizedOptimizer`,
  :class:`~minifloat.torch.optim.SQPU`.
- :func:`matmul`, :func:`linear`, :func:`conv2d`: explicit accumulators as in ``mf.matmul``.
- :func:`fit`: the README's training job through PyTorch (``minifloat train --engine torch``).
- :func:`resnet18`: ResNet-18 in its CIFAR form (experiments/torch_resnet18_cifar10.py).

Eager calls on CPU tensors run as autograd.Functions on the tensors' NumPy views (one fused
node per quantised layer); compiled/exported graphs use the operators (docs/torch.md).

See docs/torch.md. Needs ``torch`` (CPU build: ``pip install torch==2.13.0``); ``import
minifloat`` works without it.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError("minifloat.torch needs PyTorch >= 2.1: pip install 'minifloat[torch]' "
                      "(CPU build: pip install torch==2.13.0)") from e

from . import optim, train
from .linalg import conv2d, linear, matmul
from .model import QuantConv2d, QuantLinear, context, quantize_model
from .models import LeNet5, ResNet18, lenet5, resnet18
from .quant_ops import Quantizer, custom_ops_only, quantize
from .train import fit

__all__ = ["LeNet5", "QuantConv2d", "QuantLinear", "Quantizer", "ResNet18", "context",
           "conv2d", "custom_ops_only", "fit", "lenet5", "linear", "matmul", "optim",
           "quantize", "quantize_model", "resnet18", "train"]
