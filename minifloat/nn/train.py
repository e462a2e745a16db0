"""The training loop: ``fit`` and ``evaluate``."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .layers import Dropout, Module, softmax_cross_entropy
from .memory import memory_report
from .models import build_model
from .optim import SGD, get_loss_scaler, get_schedule
from .policy import QuantPolicy, get_policy
from .quant import QuantContext


@dataclasses.dataclass
class FitResult:
    """What a run produced (``to_dict()`` is JSON-serialisable).

    Attributes:
        model_name: the model's name (or class).
        policy: the policy as a dict (``QuantPolicy.from_dict`` reads it back).
        config: the training hyper-parameters.
        history: one dict per epoch: epoch, train_loss, train_acc, test_loss, test_acc
            (None without test data), seconds, lr, loss_scale, skipped_steps.
        memory: the memory report (:func:`minifloat.nn.memory.memory_report`).
        offsets: per quantiser slot: role, mode, offset per training step, the equivalent
            exponent bias and power-of-two scale exponent (dynamic/delayed slots only unless
            ``record_static_offsets``).
        model: the trained model (not serialised).
    """

    model_name: str
    policy: dict[str, Any]
    config: dict[str, Any]
    history: list[dict[str, Any]]
    memory: dict[str, Any]
    offsets: dict[str, dict[str, Any]]
    model: Module | None = None

    @property
    def final_test_acc(self) -> float | None:
        """Test accuracy after the last epoch."""
        return self.history[-1]["test_acc"] if self.history else None

    @property
    def final_train_loss(self) -> float | None:
        """Training loss of the last epoch."""
        return self.history[-1]["train_loss"] if self.history else None

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training time per epoch (evaluation excluded)."""
        return float(np.mean([h["seconds"] for h in self.history])) if self.history else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (everything but the model)."""
        return {"model": self.model_name, "policy": self.policy, "config": self.config,
                "history": self.history, "memory": self.memory, "offsets": self.offsets,
                "final_test_acc": self.final_test_acc,
                "seconds_per_epoch": self.seconds_per_epoch}

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1)


def _check_data(data: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{name} must be a tuple (x, y) of arrays")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim != 4:
        raise ValueError(f"{name}: x must be (N, C, H, W), got shape {x.shape}")
    if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(f"{name}: y must be integer labels of shape ({x.shape[0]},), got "
                         f"{y.dtype} {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64)


def evaluate(model: Module, x: np.ndarray, y: np.ndarray,
             batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (evaluation mode, its current quantisation
    context) on ``(x, y)``."""
    was = model.training
    model.eval()
    ctx = model.ctx
    if ctx is not None:
        ctx.training = False
    loss_sum, correct = 0.0, 0
    try:
        for i in range(0, len(x), batch_size):
            xb = np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
            if ctx is not None:
                xb = ctx.quantizer("input.activations", "activations")(xb)
            logits = model.forward(xb)
            loss, _, ok = softmax_cross_entropy(logits, y[i:i + batch_size])
            loss_sum += loss * len(xb)
            correct += int(ok.sum())
    finally:
        model.train(was)
        if ctx is not None:
            ctx.training = True
    return loss_sum / len(x), correct / len(x)


def check_counts(epochs: Any, batch_size: Any) -> None:
    """ValueError unless ``epochs`` and ``batch_size`` are ints >= 1."""
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r}; allowed: an int >= 1")


class EpochLoop:
    """The bookkeeping ``fit`` shares with ``minifloat.torch.fit``: argument checks, steps per
    epoch, the progress bar, step and epoch reports (callback, schedule, history)."""

    def __init__(self, n: int, epochs: int, batch_size: int, max_steps: int | None,
                 progress: bool, callback: Callable[[dict[str, Any]], None] | None,
                 sched: Any) -> None:
        check_counts(epochs, batch_size)
        self.steps = (n + batch_size - 1) // batch_size
        if max_steps is not None:
            self.steps = min(self.steps, max_steps)
        self.callback = callback
        self.sched = sched
        self.history: list[dict[str, Any]] = []
        self.bar: Any = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs * self.steps, unit="step", dynamic_ncols=True)

    def lr_factor(self, epoch: int) -> float:
        """The schedule's learning-rate factor for ``epoch`` (1 without a schedule)."""
        return self.sched.factor(epoch) if self.sched is not None else 1.0

    def step(self, epoch: int, s: int, loss_sum: float, correct: int, seen: int) -> None:
        """Report step ``s`` of ``epoch`` (0-based) with the running sums."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.4f}",
                                 acc=f"{correct / seen:.3f}")
        if self.callback is not None:
            self.callback({"event": "step", "epoch": epoch + 1, "step": s + 1,
                           "steps": self.steps, "loss": loss_sum / seen,
                           "acc": correct / seen})

    def end_epoch(self, rec: dict[str, Any]) -> None:
        """Record an epoch: the schedule observes its loss, then history, bar and callback."""
        if self.sched is not None:
            self.sched.observe(rec["test_loss"] if rec["test_loss"] is not None
                               else rec["train_loss"])
        self.history.append(rec)
        if self.bar is not None:
            self.bar.write(f"epoch {rec['epoch']}: train loss {rec['train_loss']:.4f} acc "
                           f"{rec['train_acc']:.4f}" + (
                               f", test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.4f}"
                               if rec["test_acc"] is not None else ""))
        if self.callback is not None:
            self.callback({"event": "epoch", **rec})

    def close(self) -> None:
        """Close the progress bar."""
        if self.bar is not None:
            self.bar.close()


def fit(model: Module | str, train: Any, test: Any = None, *, policy: Any = "fp32",
        epochs: int = 1, batch_size: int = 64, lr: float = 0.05, momentum: float = 0.9,
        nesterov: bool = False, weight_decay: float = 0.0, schedule: Any = None,
        loss_scale: Any = None, seed: int = 0, progress: bool = False,
        callback: Callable[[dict[str, Any]], None] | None = None, max_steps: int | None = None,
        eval_batch_size: int = 1000, record_offsets: bool = True,
        model_kwargs: dict[str, Any] | None = None) -> FitResult:
    """Train ``model`` on ``train = (x, y)`` under a quantisation policy; evaluate on ``test``
    after each epoch.

    Deterministic for a given ``seed``: the example order, dropout masks and stochastic
    rounding bits all derive from it (and from nothing else; with the "float32_blas"
    accumulator the BLAS library's summation order is the one outside influence).

    Args:
        model: a Module, or a model name (``MODELS``) built for ``train``'s image shape
            with ``seed`` (and ``model_kwargs``).
        train: ``(x, y)``: float images (N, C, H, W) and integer labels.
        test: optional ``(x, y)`` evaluated after every epoch.
        policy: preset name, QuantPolicy, dict or JSON path (see ``get_policy``).
        epochs, batch_size, lr, momentum, nesterov, weight_decay: SGD settings.
        schedule: None, "step", "cosine", "plateau" or a schedule object (per epoch).
        loss_scale: None, a number (static), "dynamic" or a LossScaler.
        seed: seeds example order, model init (name given), dropout and stochastic rounding.
        progress: show a tqdm progress bar with loss and accuracy.
        callback: called with ``{"event": "step", "epoch", "step", "steps", "loss", "acc"}``
            after each step and ``{"event": "epoch", **record}`` after each epoch.
        max_steps: at most this many steps per epoch (quick runs).
        eval_batch_size: batch size of evaluation.
        record_offsets: record every dynamic quantiser's offset at each step.
        model_kwargs: extra keywords for ``build_model`` when ``model`` is a name.

    Returns:
        A :class:`FitResult`.
    """
    pol: QuantPolicy = get_policy(policy)
    xtr, ytr = _check_data(train, "train")
    xte, yte = _check_data(test, "test") if test is not None else (None, None)
    check_counts(epochs, batch_size)
    if isinstance(model, str):
        num_classes = int(max(ytr.max(), yte.max() if yte is not None else 0)) + 1
        model_name = model
        model = build_model(model, xtr.shape[1:], max(num_classes, 10), seed=seed,
                            **(model_kwargs or {}))
    else:
        model_name = type(model).__name__
    ctx = QuantContext(pol, seed=seed, record=record_offsets)
    model.attach(ctx)
    model.train()
    model.first_layer().input_grad = False  # no gradient w.r.t. the images
    for i, m in enumerate(model.modules()):
        if isinstance(m, Dropout):
            m.reseed(seed * 1000 + i)
    opt = SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
              weight_decay=weight_decay, ctx=ctx)
    sched = get_schedule(schedule, epochs)
    scaler = get_loss_scaler(loss_scale)
    q_in = ctx.quantizer("input.activations", "activations")
    rng = np.random.default_rng(seed)
    n = len(xtr)
    loop = EpochLoop(n, epochs, batch_size, max_steps, progress, callback, sched)
    steps = loop.steps
    mem: dict[str, Any] = {}
    try:
        for epoch in range(epochs):
            opt.lr = lr * loop.lr_factor(epoch)
            order = rng.permutation(n)
            t0 = time.perf_counter()
            loss_sum, correct, seen, skipped = 0.0, 0, 0, 0
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                xb, yb = q_in(xtr[idx]), ytr[idx]
                logits = model.forward(xb)
                scale = scaler.scale if scaler is not None else 1.0
                loss, grad, ok = softmax_cross_entropy(logits, yb, scale)
                model.backward(model_q_errors(ctx, grad))
                if not mem:
                    mem = memory_report(model, opt, pol, batch_size)
                apply = True
                if scaler is not None:
                    good = all(np.isfinite(p.grad).all() for p in opt.params
                               if p.grad is not None)
                    apply = scaler.update(bool(good))
                if apply:
                    opt.step(scale)
                else:
                    skipped += 1
                opt.zero_grad()
                ctx.step += 1
                loss_sum += loss * len(idx)
                correct += int(ok.sum())
                seen += len(idx)
                loop.step(epoch, s, loss_sum, correct, seen)
            seconds = time.perf_counter() - t0
            rec: dict[str, Any] = {
                "epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                "test_loss": None, "test_acc": None, "seconds": seconds, "lr": opt.lr,
                "loss_scale": scaler.scale if scaler is not None else None,
                "skipped_steps": skipped}
            if xte is not None and yte is not None:
                tl, ta = evaluate(model, xte, yte, eval_batch_size)
                rec["test_loss"], rec["test_acc"] = tl, ta
            loop.end_epoch(rec)
    finally:
        loop.close()
    config = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "momentum": momentum,
              "nesterov": nesterov, "weight_decay": weight_decay, "seed": seed,
              "max_steps": max_steps, "train_size": int(n),
              "test_size": int(len(xte)) if xte is not None else 0,
              "schedule": sched.to_dict() if sched is not None else None,
              "loss_scale": scaler.to_dict() if scaler is not None else None,
              "accumulator": pol.accumulator if isinstance(pol.accumulator, str)
              else str(pol.accumulator)}
    offsets = {k: v for k, v in ctx.offsets_view().items()
               if v["mode"] != "static"}
    return FitResult(model_name, pol.to_dict(), config, loop.history, mem, offsets, model)


def model_q_errors(ctx: QuantContext, grad: np.ndarray) -> np.ndarray:
    """The loss gradient w.r.t. the logits projected onto the errors grid."""
    return ctx.quantizer("loss.errors", "errors")(grad)
