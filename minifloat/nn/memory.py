"""Memory accounting of a training run, measured from the tensors actually kept.

- parameters: the stored parameters (codes in the weights/biases formats, or float32).
- master_weights: the optimizer's master copies (update="master"; 0 in direct mode).
- optimizer_state: momentum buffers (in the optimizer_state format).
- saved_activations: everything the layers keep from the forward to the backward pass for
  one batch (inputs as codes in the saved_inputs format; ReLU/dropout masks 1 byte and
  max-pool arg-max indices 1 byte per element).

The straight-through-estimator (STE) baseline of quantisation-aware training, as the QPU paper
compares against, keeps float32 latent weights plus the low-precision copy used in the forward
pass, float32 optimizer state, and float32 saved inputs (masks and indices as above):
``ratio_vs_ste = total / ste_total``.
"""

from __future__ import annotations

from typing import Any

from .formats import storage_bytes
from .layers import Module
from .optim import SGD
from .policy import QuantPolicy


def memory_report(model: Module, optimizer: SGD, policy: QuantPolicy,
                  batch_size: int) -> dict[str, Any]:
    """Bytes per category for ``model`` trained by ``optimizer`` under ``policy``; the saved
    activations are those of the last training-mode forward pass (batch ``batch_size``)."""
    params = model.parameters()
    n = sum(p.size for p in params)
    p_bytes = sum(p.nbytes for p in params)
    saved = 0
    saved_ste = 0
    for m in model.modules():
        for _key, s in m.saved_items():
            saved += s.nbytes
            if s.codes is not None:  # a saved input: float32 under STE
                saved_ste += 4 * s.size
            elif s.array is not None and s.array.dtype.kind == "f":
                saved_ste += 4 * int(s.array.size)
            else:  # masks and indices
                saved_ste += s.nbytes
    low_copy = 0
    for p in params:
        spec = policy.role(p.role)
        if spec.quantized:
            low_copy += storage_bytes(spec.format, p.size)
    state = optimizer.state_nbytes
    master = optimizer.master_nbytes
    total = p_bytes + master + state + saved
    ste_state = 4 * n if optimizer.momentum else 0
    ste_total = 4 * n + low_copy + ste_state + saved_ste
    return {
        "num_parameters": n,
        "batch_size": batch_size,
        "parameters": p_bytes,
        "master_weights": master,
        "optimizer_state": state,
        "saved_activations": saved,
        "total": total,
        "ste_parameters": 4 * n + low_copy,
        "ste_optimizer_state": ste_state,
        "ste_saved_activations": saved_ste,
        "ste_total": ste_total,
        "ratio_vs_ste": total / ste_total if ste_total else 1.0,
    }
