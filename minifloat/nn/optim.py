"""SGD with momentum / Nesterov / weight decay in three storage modes, learning-rate
schedules, and static or dynamic loss scaling.

One step for a parameter with weights w, gradient g (already divided by the loss scale),
learning rate lr, momentum mu, weight decay lambda:

    d = g + lambda * w_m                       (w_m: the master copy, or w in direct mode)
    v = Q_state(mu * v + d)                    (momentum buffer, optimizer_state role)
    d = d + mu * v  (Nesterov)  or  v  (momentum)  or  d  (mu = 0)
    update="master":  w_m = Q_master(w_m - Q_updates(lr * d));  w = Q_weights(w_m)
    update="direct":  w   = Q_weights(w - Q_updates(lr * d))     (SQPU; no master copy)

An updates role with offset mode "param" rounds ``lr * d`` onto the grid of the tensor it is
added to (w, or a quantised w_m), so with the same format the subtraction is exact and the
update's stochastic rounding is the only rounding of the step.

``Q_master`` with a float32 role is the usual float32 master copy; with a low-precision
format it is a Sakr-style weight accumulator. Direct mode with stochastic rounding of the
updates is Buron et al.'s quantised parameter update.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .quant import QuantContext, Stored, TensorQuantizer, store
from .tensor import Parameter


class SGD:
    """Stochastic gradient descent over ``params`` under the context's policy.

    Args:
        params: the model's parameters.
        lr: learning rate (a schedule may change ``self.lr``).
        momentum: mu (0 disables the buffer).
        nesterov: Nesterov momentum.
        weight_decay: L2 coefficient lambda (applied to weights and biases).
        ctx: the run's QuantContext (None: plain float32 master mode).
    """

    def __init__(self, params: list[Parameter], lr: float = 0.05, momentum: float = 0.9,
                 nesterov: bool = False, weight_decay: float = 0.0,
                 ctx: QuantContext | None = None) -> None:
        if lr <= 0 or not math.isfinite(lr):
            raise ValueError(f"lr={lr}; allowed: a finite number > 0")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum={momentum}; allowed: 0 <= momentum < 1")
        if weight_decay < 0:
            raise ValueError(f"weight_decay={weight_decay}; allowed: >= 0")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.params = list(params)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.weight_decay = float(weight_decay)
        self.ctx = ctx
        self.mode = "master" if ctx is None else ctx.policy.update
        self.state: dict[int, Stored] = {}
        self.master: dict[int, Stored] = {}
        self._qs: dict[str, TensorQuantizer | None] = {}
        for i, p in enumerate(self.params):
            if self.mode == "master" and not self._same_as_weights(p):
                self.master[i] = store(self._quantizer(p, "master_weights"),
                                       p.init_value.astype(p.data.dtype))
            if self.momentum:
                self.state[i] = store(self._quantizer(p, "optimizer_state"),
                                      np.zeros_like(p.data))

    def _same_as_weights(self, p: Parameter) -> bool:
        """Master mode with float32 master and float32 parameter: the parameter itself is
        the master copy (no second float32 copy)."""
        if self.ctx is None:
            return True
        pol = self.ctx.policy
        return not pol.role("master_weights").quantized and not pol.role(p.role).quantized

    def _quantizer(self, p: Parameter, role: str) -> TensorQuantizer | None:
        key = f"{p.name}.{role}"
        if key not in self._qs:
            self._qs[key] = None if self.ctx is None else self.ctx.quantizer(key, role)
        return self._qs[key]

    def step(self, grad_scale: float = 1.0) -> None:
        """Apply one update from the parameters' ``grad`` (divided by ``grad_scale``)."""
        lr = np.float32(self.lr)
        mu = np.float32(self.momentum)
        inv = np.float32(1.0 / grad_scale)
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad * inv if grad_scale != 1.0 else p.grad
            base = self.master[i].values() if i in self.master else p.data
            if self.weight_decay:
                g = g + np.float32(self.weight_decay) * base
            if self.momentum:
                v = mu * self.state[i].values() + g
                self.state[i] = store(self._quantizer(p, "optimizer_state"), v)
                v = self.state[i].values()
                d = g + mu * v if self.nesterov else v
            else:
                d = g
            qu = self._quantizer(p, "updates")
            u = lr * d
            if qu is not None:
                if qu.spec.offset.mode == "param":  # round onto the updated tensor's grid
                    qu.follow(self._quantizer(p, "master_weights") if i in self.master
                              else p.quantizer)
                u = qu(u)
            new = (base - u).astype(p.data.dtype)
            if i in self.master:
                self.master[i] = store(self._quantizer(p, "master_weights"), new)
                p.assign(self.master[i].values())
            else:
                p.assign(new)

    def zero_grad(self) -> None:
        """Forget the gradients."""
        for p in self.params:
            p.grad = None

    @property
    def state_nbytes(self) -> int:
        """Bytes of momentum buffers."""
        return sum(s.nbytes for s in self.state.values())

    @property
    def master_nbytes(self) -> int:
        """Bytes of master copies (0 in direct mode)."""
        return sum(s.nbytes for s in self.master.values())


class StepLR:
    """``lr = base * gamma ** (epoch // step_size)``."""

    def __init__(self, step_size: int = 10, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size={step_size}; allowed: >= 1")
        self.step_size, self.gamma = step_size, gamma

    def factor(self, epoch: int) -> float:
        """LR multiplier at (0-based) ``epoch``."""
        return float(self.gamma ** (epoch // self.step_size))

    def observe(self, metric: float) -> None:
        """Unused (interface of ReduceOnPlateau)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"kind": "step", "step_size": self.step_size, "gamma": self.gamma}


class CosineLR:
    """``lr = min_factor*base + (1-min_factor)*base*(1 + cos(pi * epoch / t_max)) / 2``."""

    def __init__(self, t_max: int = 10, min_factor: float = 0.0) -> None:
        if t_max < 1:
            raise ValueError(f"CosineLR: t_max={t_max}; allowed: >= 1")
        self.t_max, self.min_factor = t_max, min_factor

    def factor(self, epoch: int) -> float:
        """LR multiplier at (0-based) ``epoch``."""
        c = (1 + math.cos(math.pi * min(epoch, self.t_max) / self.t_max)) / 2
        return self.min_factor + (1 - self.min_factor) * c

    def observe(self, metric: float) -> None:
        """Unused (interface of ReduceOnPlateau)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"kind": "cosine", "t_max": self.t_max, "min_factor": self.min_factor}


class ReduceOnPlateau:
    """Multiply the LR by ``factor`` when the observed metric (test loss, else train loss) has
    not improved by more than ``threshold`` (relative) for ``patience`` epochs."""

    def __init__(self, factor: float = 0.1, patience: int = 2, threshold: float = 1e-3) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"ReduceOnPlateau: factor={factor}; allowed: 0 < factor < 1")
        self.mult, self.patience, self.threshold = factor, patience, threshold
        self.best = math.inf
        self.bad = 0
        self.current = 1.0

    def factor(self, epoch: int) -> float:
        """LR multiplier now."""
        return self.current

    def observe(self, metric: float) -> None:
        """Record an epoch's metric (lower is better)."""
        if metric < self.best * (1 - self.threshold):
            self.best, self.bad = metric, 0
        else:
            self.bad += 1
            if self.bad > self.patience:
                self.current *= self.mult
                self.bad = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"kind": "plateau", "factor": self.mult, "patience": self.patience}


Schedule = Any  # StepLR | CosineLR | ReduceOnPlateau


def get_schedule(spec: Any, epochs: int) -> Schedule | None:
    """None, a schedule object, or a name: "step" (StepLR(max(1, epochs // 3), 0.1)),
    "cosine" (CosineLR(epochs)), "plateau" (ReduceOnPlateau())."""
    if spec is None or spec == "none":
        return None
    if isinstance(spec, (StepLR, CosineLR, ReduceOnPlateau)):
        return spec
    if spec == "step":
        return StepLR(max(1, epochs // 3), 0.1)
    if spec == "cosine":
        return CosineLR(max(1, epochs))
    if spec == "plateau":
        return ReduceOnPlateau()
    raise ValueError(f"schedule={spec!r}; allowed: None, 'step', 'cosine', 'plateau' or a "
                     "StepLR/CosineLR/ReduceOnPlateau")


class LossScaler:
    """Loss scaling: the loss (hence every error and gradient) is multiplied by ``scale``
    before the backward pass and the gradients are divided by it before the update.

    Static (``dynamic=False``): a fixed scale. Dynamic: when a gradient has a NaN/Inf the step
    is skipped and the scale halved; after ``growth_interval`` good steps it is doubled. Powers
    of two keep the scaling exact. Overflow becomes visible as Inf/NaN when the errors and
    weight_grads roles use ``saturation="none"`` (with "finite" they saturate silently).
    """

    def __init__(self, scale: float = 2.0 ** 10, dynamic: bool = False,
                 growth_interval: int = 200, min_scale: float = 2.0 ** -24,
                 max_scale: float = 2.0 ** 24) -> None:
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"loss scale={scale}; allowed: a finite number > 0")
        self.scale = float(scale)
        self.dynamic = dynamic
        self.growth_interval = growth_interval
        self.min_scale, self.max_scale = min_scale, max_scale
        self.good = 0
        self.skipped = 0

    def update(self, grads_ok: bool) -> bool:
        """Record whether the step's gradients were usable; returns whether to apply it."""
        if not self.dynamic:
            return grads_ok
        if not grads_ok:
            self.scale = max(self.scale / 2, self.min_scale)
            self.good = 0
            self.skipped += 1
            return False
        self.good += 1
        if self.good >= self.growth_interval:
            self.scale = min(self.scale * 2, self.max_scale)
            self.good = 0
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"scale": self.scale, "dynamic": self.dynamic,
                "growth_interval": self.growth_interval}


def get_loss_scaler(spec: Any) -> LossScaler | None:
    """None, a LossScaler, a number (static scale) or "dynamic" (start at 2**10)."""
    if spec is None:
        return None
    if isinstance(spec, LossScaler):
        return spec
    if spec == "dynamic":
        return LossScaler(2.0 ** 10, dynamic=True)
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return LossScaler(float(spec))
    raise ValueError(f"loss_scale={spec!r}; allowed: None, a number, 'dynamic' or a LossScaler")
