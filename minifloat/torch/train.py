"""``fit``: minifloat.nn.fit's training job (same data order, model initialisation, policies,
SGD formulas, schedules and result record) run through PyTorch with quantize_model and
QuantizedOptimizer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..nn.formats import storage_bytes
from ..nn.optim import get_schedule
from ..nn.policy import QuantPolicy, get_policy
from ..nn.train import EpochLoop, FitResult, _check_data, check_counts
from .model import _Wrapped, context, quantize_model
from .models import lenet5
from .optim import QuantizedOptimizer

MODELS = ("lenet5",)


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray,
             batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (evaluation mode) on ``(x, y)``."""
    was = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size]))
                yb = torch.from_numpy(y[i:i + batch_size])
                logits = model(xb)
                loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
                correct += int((logits.argmax(1) == yb).sum())
    finally:
        model.train(was)
    return loss_sum / len(x), correct / len(x)


def memory_estimate(model: torch.nn.Module, policy: QuantPolicy, momentum: bool,
                    saved_elements: int, batch_size: int) -> dict[str, Any]:
    """Bytes of the training state if every tensor were stored in its role's format:
    parameters, master copy (master mode with quantised weights or master), momentum, and
    the inputs the Conv2d/Linear layers keep for the backward pass (``saved_elements`` of one
    batch); the STE baseline as in minifloat.nn.memory (float32 latent weights plus the
    low-precision copy, float32 state and saved inputs). ReLU masks and pooling indices are
    not counted (torch keeps them in its own formats)."""
    p_bytes = low = 0
    n = 0
    wrapped = {id(p): role for m in model.modules() if isinstance(m, _Wrapped)
               for p, role in ((m.weight, "weights"), (m.bias, "biases"))  # type: ignore
               if p is not None}
    for p in model.parameters():
        role = wrapped.get(id(p), "weights")
        spec = policy.role(role)
        nb = storage_bytes(spec.format, p.numel()) if id(p) in wrapped else 4 * p.numel()
        n += p.numel()
        p_bytes += nb
        if spec.quantized:
            low += nb
    master = 0
    if policy.update == "master" and (low or policy.role("master_weights").quantized):
        master = storage_bytes(policy.role("master_weights").format, n)
    state = storage_bytes(policy.role("optimizer_state").format, n) if momentum else 0
    saved = storage_bytes(policy.role("saved_inputs").format, saved_elements)
    total = p_bytes + master + state + saved
    ste_total = 4 * n + low + (4 * n if momentum else 0) + 4 * saved_elements
    return {"num_parameters": n, "batch_size": batch_size, "parameters": p_bytes,
            "master_weights": master, "optimizer_state": state, "saved_activations": saved,
            "total": total, "ste_total": ste_total,
            "ratio_vs_ste": total / ste_total if ste_total else 1.0,
            "note": "from the policy's formats; saved inputs of Conv2d/Linear layers only"}


def fit(model: torch.nn.Module | str, train: Any, test: Any = None, *, policy: Any = "fp32",
        epochs: int = 1, batch_size: int = 64, lr: float = 0.05, momentum: float = 0.9,
        nesterov: bool = False, weight_decay: float = 0.0, schedule: Any = None,
        seed: int = 0, progress: bool = False,
        callback: Callable[[dict[str, Any]], None] | None = None, max_steps: int | None = None,
        eval_batch_size: int = 1000, record_offsets: bool = True,
        threads: int | None = None) -> FitResult:
    """Train a torch model under a quantisation policy with ``minifloat.nn.fit``'s protocol:
    the same example order (``np.random.default_rng(seed).permutation`` per epoch), the same
    initial weights for ``"lenet5"`` (copied from ``minifloat.nn.lenet5(seed=seed)``), SGD
    with momentum through :class:`QuantizedOptimizer`, the same schedules and FitResult.

    Args:
        model: ``"lenet5"`` or a torch.nn.Module (quantised here with ``policy``).
        train, test, policy, epochs, batch_size, lr, momentum, nesterov, weight_decay,
        schedule, seed, progress, callback, max_steps, eval_batch_size, record_offsets: as
            ``minifloat.nn.fit``.
        threads: torch intra-op threads (default: torch's).
    """
    pol: QuantPolicy = get_policy(policy)
    xtr, ytr = _check_data(train, "train")
    xte, yte = _check_data(test, "test") if test is not None else (None, None)
    check_counts(epochs, batch_size)
    if threads is not None:
        torch.set_num_threads(threads)
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"model={model!r}; allowed with engine torch: {', '.join(MODELS)}"
                             " or a torch.nn.Module")
        num_classes = int(max(ytr.max(), yte.max() if yte is not None else 0)) + 1
        model_name = model
        net: torch.nn.Module = lenet5(xtr.shape[1:], max(num_classes, 10), seed=seed)
    else:
        model_name, net = type(model).__name__, model
    quantize_model(net, pol, seed=seed, record=record_offsets)
    ctx = context(net)
    sgd = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                          weight_decay=weight_decay)
    opt = QuantizedOptimizer(sgd, model=net)
    sched = get_schedule(schedule, epochs)
    saved = [0]

    def count(mod: torch.nn.Module, args: Any) -> None:
        if mod.training:
            saved[0] += int(args[0].numel())

    hooks = [m.register_forward_pre_hook(count) for m in net.modules()
             if isinstance(m, _Wrapped)]
    rng = np.random.default_rng(seed)
    n = len(xtr)
    loop = EpochLoop(n, epochs, batch_size, max_steps, progress, callback, sched)
    steps = loop.steps
    mem: dict[str, Any] = {}
    net.train()
    try:
        for epoch in range(epochs):
            cur = lr * loop.lr_factor(epoch)
            for g in sgd.param_groups:
                g["lr"] = cur
            order = rng.permutation(n)
            t0 = time.perf_counter()
            loss_sum, correct, seen = 0.0, 0, 0
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                xb = torch.from_numpy(xtr[idx])
                yb = torch.from_numpy(ytr[idx])
                saved[0] = 0
                logits = net(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if not mem:
                    mem = memory_estimate(net, pol, momentum > 0, saved[0], batch_size)
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.detach().argmax(1) == yb).sum())
                seen += len(idx)
                loop.step(epoch, s, loss_sum, correct, seen)
            seconds = time.perf_counter() - t0
            rec: dict[str, Any] = {
                "epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                "test_loss": None, "test_acc": None, "seconds": seconds, "lr": cur,
                "loss_scale": None, "skipped_steps": 0}
            if xte is not None and yte is not None:
                rec["test_loss"], rec["test_acc"] = evaluate(net, xte, yte, eval_batch_size)
            loop.end_epoch(rec)
    finally:
        loop.close()
        for h in hooks:
            h.remove()
    config = {"engine": "torch", "torch": torch.__version__, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "momentum": momentum, "nesterov": nesterov,
              "weight_decay": weight_decay, "seed": seed, "max_steps": max_steps,
              "train_size": int(n), "test_size": int(len(xte)) if xte is not None else 0,
              "schedule": sched.to_dict() if sched is not None else None,
              "threads": torch.get_num_threads(),
              "accumulator": pol.accumulator if isinstance(pol.accumulator, str)
              else str(pol.accumulator)}
    offsets = {k: v for k, v in ctx.offsets_view().items() if v["mode"] != "static"}
    return FitResult(model_name, pol.to_dict(), config, loop.history, mem, offsets, None)
