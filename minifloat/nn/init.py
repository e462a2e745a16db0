"""Weight initialisation: Kaiming (He) normal, Xavier (Glorot) uniform, and Fixup rescaling.

- ``kaiming``: N(0, 2 / fan_in) (ReLU networks, He et al. 2015).
- ``xavier``: U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).
- ``zeros``: all zero (the last layer of a Fixup residual branch).
Fixup (Zhang et al. 2019): in a BN-free residual net with L branches of m layers, the
branches' other layers are scaled by ``L ** (-1 / (2m - 2))`` (see :func:`fixup_scale`).
"""

from __future__ import annotations

import numpy as np

INITS = ("kaiming", "xavier", "zeros")


def initialize(kind: str, shape: tuple[int, ...], fan_in: int, fan_out: int,
               rng: np.random.Generator) -> np.ndarray:
    """A float32 array of ``shape`` drawn by initialiser ``kind`` (``INITS``)."""
    if kind == "kaiming":
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    elif kind == "xavier":
        a = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, size=shape)
    elif kind == "zeros":
        w = np.zeros(shape)
    else:
        raise ValueError(f"init={kind!r}; allowed: {', '.join(INITS)}")
    return w.astype(np.float32)


def fixup_scale(num_branches: int, layers_per_branch: int) -> float:
    """Fixup's factor ``L ** (-1 / (2m - 2))`` for the non-final layers of each branch."""
    if num_branches < 1 or layers_per_branch < 2:
        raise ValueError("fixup_scale needs num_branches >= 1 and layers_per_branch >= 2")
    return float(num_branches ** (-1.0 / (2 * layers_per_branch - 2)))
