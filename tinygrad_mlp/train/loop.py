"""``fit``: the training loop, its progress bar, epoch line and Ctrl-C handling.

One training step is: move the batch to the model's device (only if it is elsewhere), zero the
gradients, forward, loss, ``loss.item()`` (the step's only host synchronisation: it feeds the NaN
check and the running loss), backward, ``optimizer.step()``. Named metrics count on the device
and are read back once per epoch; no extra forward pass is made for them. With
``fit(..., compile=True)`` the step is ``train.compile_step``'s: forward and backward without a
graph, then the loss check, then the update (a NaN/Inf loss still stops before the update:
no parameter or optimizer state changes).

Interrupting (Ctrl-C) is Keras-like: ``fit`` stops after the current step, drops the partial
gradients, calls the callbacks' ``on_train_end``, sets ``history.interrupted = True`` and returns
the History of the completed epochs. While ``fit`` runs in the main thread a first Ctrl-C only
asks it to stop after the step in progress (so parameters are never half-updated); a second one
interrupts at once. A KeyboardInterrupt raised anywhere else in the loop (e.g. by a callback) is
handled the same way.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tensor import Tensor
from .callbacks import Callback
from .history import History
from .inference import (
    check_loss,
    check_not_empty,
    evaluate_batches,
    model_device,
    set_mode,
    unpack_batch,
)
from .metrics import Metric, build_metrics, resolve_metrics


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; ``epoch``, ``step`` (1-based), ``value`` and the
    ``history`` of the completed epochs are attributes. The step was not applied."""

    def __init__(self, epoch: int, step: int, value: float, history: History | None = None):
        self.epoch, self.step, self.value, self.history = epoch, step, value, history
        super().__init__(
            f"the training loss is {value} at epoch {epoch}, step {step}; training stopped before "
            "applying this step (lower the learning rate, check the data for NaN/Inf, or clip "
            "gradients with optim.clip_grad_norm_)"
        )


@dataclass
class FitState:
    """What callbacks see (``on_train_begin`` gets it): set ``stop = True`` to end training."""

    model: Any
    optimizer: Any
    loss_fn: Callable[..., Tensor]
    train_loader: Any
    val_loader: Any
    scheduler: Any
    epochs: int
    history: History
    metrics: list[str]
    verbose: bool
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    stop: bool = False
    logs: dict[str, Any] = field(default_factory=dict)
    compiled: Any = None  # the train.compile_step of fit(compile=True), else None


def fit(
    model: Any,
    loss_fn: Callable[..., Tensor],
    optimizer: Any,
    train_loader: Any,
    val_loader: Any = None,
    epochs: int = 10,
    metrics: Any = ("accuracy",),
    scheduler: Any = None,
    callbacks: Any = (),
    progress: bool = True,
    verbose: bool = True,
    compile: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``; return the ``History``.

    ``train_loader`` / ``val_loader`` yield ``(inputs, targets)`` pairs (e.g. ``data.DataLoader``).
    ``metrics``: names (``tinygrad_mlp.train.metrics.METRIC_NAMES``) or callables, see
    ``train.metrics``. ``scheduler.step()`` runs once per epoch (``ReduceLROnPlateau`` gets
    ``val_loss``, or the training loss without a ``val_loader``). ``progress`` shows a tqdm bar
    per epoch when stderr is a terminal and tqdm is installed; ``verbose`` prints one line per
    epoch. A NaN/Inf loss raises ``NonFiniteLossError``; Ctrl-C returns early (module docstring).
    The model's train/eval mode is restored when ``fit`` returns.

    ``compile=True`` runs each step through ``train.compile_step`` (no autodiff graph; for the
    batches it takes, the same parameters, losses and metrics bit for bit, faster on small
    layers). It needs ``loss_fn`` ``F.cross_entropy`` or ``F.mse_loss`` and a model and optimizer
    that ``compile_step`` takes: otherwise a TypeError or ValueError before training says why.
    It takes batches of the model's dtype only: a batch it refuses (e.g. float64 inputs for a
    float32 model, which the eager step would compute in float64) raises a ValueError at its
    step, naming the epoch and step. Parameters keep no ``.grad``.
    """
    _check_fit_args(model, loss_fn, optimizer, epochs, scheduler)
    compiled = _compiled_step(model, loss_fn, optimizer) if compile else None
    check_not_empty(train_loader, "train_loader")
    if val_loader is not None:
        check_not_empty(val_loader, "val_loader")
    specs = resolve_metrics(metrics)
    callbacks = _check_callbacks(callbacks)
    names = [name for name, _ in specs]
    keys = ["loss", *names]
    if val_loader is not None:
        keys += ["val_loss", *(f"val_{n}" for n in names)]
    history = History([*keys, "lr", "epoch_time"])
    state = FitState(
        model=model, optimizer=optimizer, loss_fn=loss_fn, train_loader=train_loader,
        val_loader=val_loader, scheduler=scheduler, epochs=int(epochs), history=history,
        metrics=names, verbose=verbose, compiled=compiled,
    )  # fmt: skip
    device = model_device(model)
    train_metrics, val_metrics = build_metrics(specs, model), build_metrics(specs, model)
    was_training = getattr(model, "training", None)
    for cb in callbacks:
        cb.on_train_begin(state)
    try:
        with _InterruptGuard() as guard:
            for epoch in range(1, state.epochs + 1):
                state.epoch = epoch
                set_mode(model, True)
                start = time.perf_counter()
                for cb in callbacks:
                    cb.on_epoch_begin(epoch)
                logs = _train_epoch(state, device, train_metrics, callbacks, progress, guard)
                if val_loader is not None:
                    val = evaluate_batches(
                        model, loss_fn, val_loader, val_metrics, device, "val_loader"
                    )
                    logs.update({f"val_{k}": v for k, v in val.items()})
                logs["lr"] = current_lr(optimizer)
                logs["epoch_time"] = time.perf_counter() - start
                _end_epoch(state, logs, callbacks)
                if state.stop or guard.requested:
                    break
            if guard.requested:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        history.interrupted = True
        optimizer.zero_grad()
        if verbose:
            print(
                f"interrupted at epoch {state.epoch}, step {state.step}: returning the history "
                f"of {len(history)} completed epoch(s)"
            )
    finally:
        set_mode(model, was_training)
    for cb in callbacks:
        cb.on_train_end(state)
    return history


def _train_epoch(
    state: FitState,
    device: str | None,
    metrics: list[Metric],
    callbacks: list[Callback],
    progress: bool,
    guard: _InterruptGuard,
) -> dict[str, Any]:
    """One pass over the training batches; returns ``{"loss": ..., <metric>: ...}``."""
    for m in metrics:
        m.reset()
    total, seen, step = 0.0, 0, 0
    bar = _progress_bar(progress, state.train_loader, state.epoch, state.epochs)
    try:
        for batch in state.train_loader:
            xb, yb = unpack_batch(batch, device, "train_loader", state.epoch, step + 1)
            step += 1
            state.step = step
            state.global_step += 1
            value, out = _step(state, xb, yb)
            n = xb.shape[0]
            total += value * n
            seen += n
            for m in metrics:
                m.update(out.data, yb.data)
            if bar is not None:
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
            if callbacks:
                batch_logs = {"loss": value}
                for cb in callbacks:
                    cb.on_batch_end(step, batch_logs)
            if guard.requested:
                raise KeyboardInterrupt
    finally:
        if bar is not None:
            bar.close()
    if step == 0:
        raise ValueError(
            f"train_loader yielded no batches in epoch {state.epoch} (a generator is used up "
            "after one pass: pass a list or a DataLoader)"
        )
    return {"loss": total / seen, **{m.name: m.result() for m in metrics}}


def _step(state: FitState, xb: Tensor, yb: Tensor) -> tuple[float, Tensor]:
    """One training step on a batch: ``(loss value, model output)``. A NaN/Inf loss raises
    ``NonFiniteLossError`` before the update."""
    if state.compiled is not None:
        try:
            pending = state.compiled.forward_backward(xb, yb)
        except ValueError as exc:  # the eager step takes a StepRefused batch; no others
            from .compiled import StepRefused

            hint = " (or train with compile=False)" if isinstance(exc, StepRefused) else ""
            raise ValueError(
                f"fit(compile=True), epoch {state.epoch}, step {state.step}: {exc}{hint}"
            ) from exc
        loss, out = pending.loss, pending.output
    else:
        state.optimizer.zero_grad()
        out = state.model(xb)
        loss = state.loss_fn(out, yb)
    value = _loss_value(loss, state.global_step == 1)
    if not math.isfinite(value):
        raise NonFiniteLossError(state.epoch, state.step, value, state.history)
    if state.compiled is not None:
        pending.apply()
    else:
        loss.backward()
        state.optimizer.step()
    return value, out


def _compiled_step(model: Any, loss_fn: Any, optimizer: Any) -> Any:
    """``train.compile_step`` for ``fit(compile=True)``; ValueError for a loss it cannot run."""
    from .compiled import LOSSES, compile_step

    for name, (_, fn) in LOSSES.items():
        if loss_fn is fn:
            return compile_step(model, optimizer, loss=name)
    raise ValueError(
        "fit(compile=True) needs loss_fn F.cross_entropy or F.mse_loss (the losses the compiled "
        f"step runs), got {getattr(loss_fn, '__name__', loss_fn)!r}; use compile=False"
    )


def _end_epoch(state: FitState, logs: dict[str, Any], callbacks: list[Callback]) -> None:
    """Record the epoch, print its line, step the scheduler, run ``on_epoch_end``."""
    state.history.record(state.epoch, logs)
    state.logs = logs
    if state.verbose:
        print(format_epoch_line(state.epoch, state.epochs, logs))
    scheduler = state.scheduler
    if scheduler is not None:
        if _is_plateau(scheduler):
            scheduler.step(logs["val_loss"] if "val_loss" in logs else logs["loss"])
        else:
            scheduler.step()
    for cb in callbacks:
        if cb.on_epoch_end(state.epoch, dict(logs)):
            state.stop = True


def format_epoch_line(epoch: int, epochs: int, logs: dict[str, Any]) -> str:
    """``epoch 3/10  loss 0.1234  accuracy 0.9612  val_loss ...  (1.23 s)``."""
    parts = [f"epoch {epoch}/{epochs}"]
    for key, value in logs.items():
        if key not in ("lr", "epoch_time"):
            parts.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
    return "  ".join(parts) + f"  ({logs.get('epoch_time', 0.0):.2f} s)"


# ---------------------------------------------------------------------- helpers
def current_lr(optimizer: Any) -> float | None:
    """The learning rate of the optimizer's first parameter group (None if it has none)."""
    groups = getattr(optimizer, "param_groups", None)
    if groups and isinstance(groups[0], dict) and "lr" in groups[0]:
        return float(groups[0]["lr"])
    return None


def _is_plateau(scheduler: Any) -> bool:
    return any(cls.__name__ == "ReduceLROnPlateau" for cls in type(scheduler).__mro__)


def _loss_value(loss: Any, check: bool) -> float:
    """The loss as a Python float (the step's one host sync); on the first step also check that
    it is a one-element Tensor."""
    if check:
        check_loss(loss)
    data = loss.data
    return float(data) if data.ndim == 0 else float(loss.item())


def _check_fit_args(model: Any, loss_fn: Any, optimizer: Any, epochs: Any, scheduler: Any) -> None:
    if not callable(model):
        raise TypeError(f"model must be callable (a Module), got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (e.g. F.cross_entropy), got {loss_fn!r}")
    for method in ("zero_grad", "step"):
        if not callable(getattr(optimizer, method, None)):
            kind = type(optimizer).__name__
            raise TypeError(f"optimizer must have a {method}() method, got {kind}")
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer):
        raise TypeError(f"epochs must be an int, got {type(epochs).__name__} {epochs!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")


def _check_callbacks(callbacks: Any) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    out = list(callbacks)
    for cb in out:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be train.Callback instances, got {type(cb).__name__}")
    return out


def _progress_bar(progress: bool, loader: Any, epoch: int, epochs: int) -> Any:
    """A tqdm bar when asked for, stderr is a terminal and tqdm is installed; else None."""
    if not progress:
        return None
    try:
        if sys.stderr is None or not sys.stderr.isatty():
            return None
    except (AttributeError, ValueError):  # closed or unusual streams
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    total = len(loader) if hasattr(loader, "__len__") else None
    return tqdm(
        total=total,
        desc=f"epoch {epoch}/{epochs}",
        unit="batch",
        leave=False,
        file=sys.stderr,
        dynamic_ncols=True,
    )


class _InterruptGuard:
    """In the main thread, turn the first SIGINT into a request to stop after the current step;
    a second SIGINT raises KeyboardInterrupt at once. Elsewhere it only holds the flag."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _InterruptGuard:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
