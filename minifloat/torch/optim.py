"""Quantised optimizers for torch: ``QuantizedOptimizer`` (QPyTorch OptimLP's role, plus
minifloat.nn's master/direct update modes and SQPU) and ``SQPU`` (direct stochastically
rounded parameter updates without a master copy).

With a ``torch.optim.SGD`` inside, one step is minifloat.nn's SGD step (nn/optim.py):

    d = g + lambda * w_m
    v = Q_state(mu * v + d);   d = g + mu * v (Nesterov) or v
    master: w_m = Q_master(w_m - Q_updates(lr * d))   (the parameter is w_m; the layers
            project it with Q_weights in their forward)
    direct: w   = Q_weights(w - Q_updates(lr * d))    (SQPU: no master copy)

in float32 arithmetic, each Q a minifloat.nn TensorQuantizer (offsets, keyed streams). Any
other optimizer is stepped by itself between ``Q_grad`` (before) and ``Q_state`` of every
floating tensor of its state and ``Q_master`` of the parameters (after), as QPyTorch does; the
updates role and direct mode need SGD.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..nn.policy import OffsetSpec, QuantPolicy, RoleSpec
from ..nn.quant import QuantContext, TensorQuantizer
from .bridge import to_array
from .model import context, parameter_slots


def _project(q: TensorQuantizer | None, t: torch.Tensor) -> None:
    """Project ``t`` in place through ``q`` (no-op for None or a float32 role)."""
    if q is None or not q.quantized:
        return
    a = np.ascontiguousarray(to_array(t), dtype=np.float32)
    out = q(a)
    t.copy_(torch.from_numpy(np.ascontiguousarray(out)).to(t.dtype))


class QuantizedOptimizer:
    """Wrap a torch optimizer so its steps follow a quantisation policy.

    Args:
        optimizer: a torch.optim optimizer over the model's parameters.
        model: a model prepared by ``quantize_model``: the roles not given below come from
            its policy (weights/biases, optimizer_state, master_weights, updates, update mode)
            and its context's step is advanced after every step.
        weight: projection of the parameters after each step in direct mode (and the role
            of master-mode parameters when ``master`` is not given): a format, dict or
            RoleSpec.
        grad: projection of the gradients before the step (None: none here; quantize_model
            already projects them in the layers' backward with the weight_grads role).
        momentum: projection of the momentum buffer (optimizer_state role).
        master: projection of the master copy (master_weights role): the parameter tensor
            itself holds it.
        update: projection of ``lr * d`` (updates role; SGD only).
        direct: direct update mode (SQPU), default from the policy.
        seed: seed of the stochastic roundings when no ``model`` is given.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, model: torch.nn.Module | None = None,
                 weight: Any = None, grad: Any = None, momentum: Any = None, master: Any = None,
                 update: Any = None, direct: bool | None = None, seed: int = 0) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.model = model
        base: QuantPolicy = context(model).policy if model is not None else QuantPolicy()
        roles: dict[str, Any] = {}
        for role, given in (("weights", weight), ("biases", weight), ("weight_grads", grad),
                            ("optimizer_state", momentum), ("master_weights", master),
                            ("updates", update)):
            if given is not None:
                roles[role] = RoleSpec.from_any(given)
            elif role == "weight_grads":  # the layers' backward already projects them
                roles[role] = RoleSpec()
            else:
                roles[role] = base.role(role)
        mode = base.update if direct is None else ("direct" if direct else "master")
        pol = QuantPolicy(name=f"{base.name}+optimizer", update=mode, **roles)
        if model is not None:
            self.ctx = context(model)
            if any(v is not None for v in (weight, grad, momentum, master, update)) or \
                    direct is not None:
                self.ctx = QuantContext(pol, seed=self.ctx.seed, streams="keyed",
                                        rank=self.ctx.rank)
                self._shared = context(model)
            else:
                self._shared = self.ctx
        else:
            self.ctx = QuantContext(pol, seed=seed, streams="keyed")
            self._shared = self.ctx
        self.policy = pol
        self.direct = mode == "direct"
        self.sgd = type(optimizer) is torch.optim.SGD
        if not self.sgd and (self.direct or pol.role("updates").quantized):
            raise ValueError("direct updates and a quantised updates role need "
                             "torch.optim.SGD; got " + type(optimizer).__name__)
        slots = parameter_slots(model) if model is not None else {}
        names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
        self._slot: dict[int, tuple[str, str]] = {}
        for i, group in enumerate(optimizer.param_groups):
            if self.sgd and (group.get("dampening", 0) or group.get("maximize", False)):
                raise ValueError("QuantizedOptimizer: SGD with dampening or maximize is not "
                                 "supported; allowed: dampening=0, maximize=False")
            for j, p in enumerate(group["params"]):
                pid = id(p)
                if pid in slots:
                    self._slot[pid] = slots[pid]
                else:
                    n = names.get(pid, f"group{i}.param{j}")
                    self._slot[pid] = (n, "biases" if n.endswith("bias") else "weights")
        with torch.no_grad():  # the initial master copy / direct parameters
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if self.direct:
                        _project(self._weights(p), p.data)
                    else:
                        _project(self._q(p, "master_weights"), p.data)

    # ---- quantizers ----
    def _q(self, p: torch.Tensor, role: str) -> TensorQuantizer | None:
        name, _ = self._slot[id(p)]
        spec = self.policy.role(role)
        if not spec.quantized:
            return None
        return self.ctx.quantizer(f"{name}.{role}", role)

    def _weights(self, p: torch.Tensor) -> TensorQuantizer | None:
        """The parameter's own quantizer (shared with the layer's forward slot in direct
        mode)."""
        name, role = self._slot[id(p)]
        if not self.policy.role(role).quantized:
            return None
        return self._shared.quantizer(name, role) if self.ctx is self._shared \
            else self.ctx.quantizer(name, role)

    # ---- optimizer protocol ----
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The wrapped optimizer's parameter groups (learning-rate schedulers use them)."""
        return self.optimizer.param_groups

    @property
    def state(self) -> Any:
        """The wrapped optimizer's state."""
        return self.optimizer.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients."""
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state_dict."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the wrapped optimizer's state."""
        self.optimizer.load_state_dict(state)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One quantised step; then the context's step counter advances."""
        loss = closure() if closure is not None else None
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    _project(self._q(p, "weight_grads"), p.grad)
        if self.sgd:
            self._sgd_step()
        else:
            self.optimizer.step()
            for group in self.optimizer.param_groups:
                for p in group["params"]:
                    for v in self.optimizer.state.get(p, {}).values():
                        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.ndim:
                            _project(self._q(p, "optimizer_state"), v)
                    _project(self._q(p, "master_weights"), p.data)
        self.ctx.step += 1
        if self._shared is not self.ctx:
            self._shared.step += 1
        return loss

    def _sgd_step(self) -> None:
        for group in self.optimizer.param_groups:
            lr = torch.tensor(group["lr"], dtype=torch.float32)
            mu = torch.tensor(group["momentum"], dtype=torch.float32)
            wd = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.float()
                w = p.data
                if wd:
                    g = g + torch.tensor(wd, dtype=torch.float32) * w
                if group["momentum"]:
                    st = self.optimizer.state[p]
                    buf = st.get("momentum_buffer")
                    if buf is None:  # minifloat.nn starts from v = 0 (mu * 0 + g)
                        buf = torch.zeros_like(g)
                    v = mu * buf + g
                    _project(self._q(p, "optimizer_state"), v)
                    st["momentum_buffer"] = v
                    d = g + mu * v if group["nesterov"] else v
                else:
                    d = g
                u = lr * d
                qu = self._q(p, "updates")
                if qu is not None:
                    if qu.spec.offset.mode == "param":
                        qu.follow(self._weights(p) if self.direct
                                  else self._q(p, "master_weights"))
                    _project(qu, u)
                new = (w - u).to(p.dtype)
                _project(self._weights(p) if self.direct else self._q(p, "master_weights"),
                         new)
                p.data.copy_(new)


class SQPU(QuantizedOptimizer):
    """Direct quantised parameter updates (Buron et al.): ``w = Q_w(w - Q_u(lr * d))`` with
    stochastic rounding of the update and no master copy, on plain SGD (momentum optional).

    Args:
        params: the parameters (or a model prepared by quantize_model: then its slots).
        lr, momentum: SGD settings.
        weight: the parameters' format (default: 8-bit fixed point Q0.7, sqpu's).
        update: the updates' projection (default: Q0.7 on the parameter's own grid,
            stochastic_c with 16 random bits).
        seed: seed of the stochastic roundings.
    """

    def __init__(self, params: Any, lr: float = 0.05, momentum: float = 0.0, *,
                 weight: Any = None, update: Any = None, seed: int = 0) -> None:
        from ..nn.policy import fixed_point

        q8 = fixed_point(0, 7)
        model = params if isinstance(params, torch.nn.Module) else None
        plist = list(model.parameters()) if model is not None else list(params)
        super().__init__(torch.optim.SGD(plist, lr=lr, momentum=momentum), model=model,
                         weight=weight if weight is not None else q8,
                         update=update if update is not None else RoleSpec(
                             q8, rounding="stochastic_c", random_bits=16,
                             offset=OffsetSpec("param")),
                         direct=True, seed=seed)
