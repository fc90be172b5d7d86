"""Callbacks for ``fit``: the ``Callback`` base, ``EarlyStopping``, ``ModelCheckpoint`` and
``load_checkpoint``.

``fit`` calls, in this order: ``on_train_begin(fit_state)``; per epoch ``on_epoch_begin(epoch)``,
``on_batch_end(step, logs)`` after every optimizer step (``logs = {"loss": float}``, ``step``
1-based within the epoch) and ``on_epoch_end(epoch, logs)`` after validation, the History entry,
the epoch line and the scheduler step; finally ``on_train_end(fit_state)`` (also after a
KeyboardInterrupt, not after an error). ``on_epoch_end`` returning True, or setting
``fit_state.stop = True`` anywhere, ends training after the current epoch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, io
from ..tensor import Tensor


class Callback:
    """Base class: override the hooks you need (all default to doing nothing)."""

    def on_train_begin(self, fit_state: Any) -> None:
        """Before the first epoch; ``fit_state`` holds model, optimizer, history, epoch, stop..."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before the first batch of ``epoch`` (1-based)."""

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        """After the optimizer step of batch ``step`` (1-based within the epoch)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        """After ``epoch`` with its History values in ``logs``; return True to stop training."""
        return None

    def on_train_end(self, fit_state: Any) -> None:
        """After the last epoch, an early stop or a KeyboardInterrupt."""


# ---------------------------------------------------------------------- monitoring
def resolve_mode(monitor: str, mode: str) -> str:
    """``"min"``/``"max"``; ``"auto"`` is "min" for losses and errors (``loss``, ``mse``, ``mae``)
    and "max" for every other metric (accuracy...)."""
    if mode == "auto":
        base = monitor[4:] if monitor.startswith("val_") else monitor
        lower = base.endswith("loss") or base in ("mse", "mae") or "error" in base
        return "min" if lower else "max"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def improved(value: Any, best: float | None, mode: str, min_delta: float) -> bool:
    """True when ``value`` beats ``best`` by more than ``min_delta`` (NaN/None never does)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _check_monitor(owner: str, monitor: str, fit_state: Any) -> None:
    keys = fit_state.history.keys()
    if monitor not in keys:
        raise ValueError(
            f"{owner} monitors {monitor!r}, which fit does not record; recorded keys are {keys} "
            "(val_* keys need a val_loader)"
        )


def _host_state(model: Any) -> dict[str, np.ndarray]:
    """A private host copy of ``model.state_dict()``."""
    state = model.state_dict()
    return {k: np.array(backend.to_numpy(_raw(v)), copy=True) for k, v in state.items()}


def _raw(v: Any) -> Any:
    return v.data if isinstance(v, Tensor) else v


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best=True`` a host copy of the weights is taken at every new best epoch and
    loaded back into the model when training ends (early stop, last epoch or interrupt).
    Attributes after training: ``best``, ``best_epoch``, ``stopped_epoch`` (0 if it never fired).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.patience = patience
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.wait = 0
        self.best_state: dict[str, np.ndarray] | None = None

    def on_train_begin(self, fit_state: Any) -> None:
        _check_monitor("EarlyStopping", self.monitor, fit_state)
        self.fit_state = fit_state
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        value = logs.get(self.monitor)
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best:
                self.best_state = _host_state(self.fit_state.model)
            return None
        self.wait += 1
        if self.wait < self.patience:
            return None
        self.stopped_epoch = epoch
        if self.fit_state.verbose:
            print(
                f"early stopping at epoch {epoch}: {self.monitor} has not improved for "
                f"{self.wait} epochs (best {self.best} at epoch {self.best_epoch})"
            )
        return True

    def on_train_end(self, fit_state: Any) -> None:
        if self.restore_best and self.best_state is not None:
            fit_state.model.load_state_dict(self.best_state)
            if fit_state.verbose and fit_state.history.epochs[-1:] != [self.best_epoch]:
                print(
                    f"restored the weights of epoch {self.best_epoch} ({self.monitor} {self.best})"
                )


class ModelCheckpoint(Callback):
    """Save ``{"model", "optimizer", "scheduler", "epoch", "monitor", "value"}`` with
    ``tinygrad_mlp.io.save`` (atomic: a crash never leaves a half-written file).

    ``save_best_only=True`` writes only when ``monitor`` improves, so the file always holds the
    best epoch so far; otherwise it writes after every epoch. ``path`` may contain format fields
    such as ``"ckpt_{epoch:03d}.npz"`` (``epoch`` and the epoch's logs). A non-finite loss stops
    ``fit`` mid-epoch, before any write, so the file keeps the last good state. With
    ``save_optimizer`` the optimizer's and the scheduler's state dicts are stored too (the
    scheduler already stepped for the next epoch); read everything back with ``load_checkpoint``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = True,
        save_optimizer: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.save_best_only = save_best_only
        self.save_optimizer = save_optimizer
        self.best: float | None = None
        self.best_epoch = 0
        self.saved: list[str] = []

    def on_train_begin(self, fit_state: Any) -> None:
        if self.save_best_only:
            _check_monitor("ModelCheckpoint", self.monitor, fit_state)
        folder = Path(self.path).parent
        if not folder.is_dir():
            raise FileNotFoundError(f"ModelCheckpoint: the folder {str(folder)!r} does not exist")
        self.fit_state = fit_state
        self.best, self.best_epoch, self.saved = None, 0, []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        value = logs.get(self.monitor)
        if self.save_best_only:
            if not improved(value, self.best, self.mode, 0.0):
                return None
            self.best, self.best_epoch = float(value), epoch
        path = self._format(epoch, logs)
        save_checkpoint(
            path,
            self.fit_state.model,
            self.fit_state.optimizer if self.save_optimizer else None,
            self.fit_state.scheduler if self.save_optimizer else None,
            epoch=epoch,
            monitor=self.monitor,
            value=value,
        )
        self.saved.append(path)
        return None

    def _format(self, epoch: int, logs: dict[str, Any]) -> str:
        if "{" not in self.path:
            return self.path
        try:
            return self.path.format(epoch=epoch, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"ModelCheckpoint path {self.path!r} has a field that is not 'epoch' or one of "
                f"{list(logs)}: {exc}"
            ) from exc


# ---------------------------------------------------------------------- checkpoint files
def save_checkpoint(
    path: str | os.PathLike,
    model: Any,
    optimizer: Any = None,
    scheduler: Any = None,
    **meta: Any,
) -> None:
    """Write model (+ optimizer, scheduler) state and ``meta`` numbers with ``io.save``."""
    obj: dict[str, Any] = {"model": _host_state(model)}
    if optimizer is not None and hasattr(optimizer, "state_dict"):
        obj["optimizer"] = optimizer.state_dict()
    if scheduler is not None and hasattr(scheduler, "state_dict"):
        obj["scheduler"] = scheduler.state_dict()
    for key, value in meta.items():
        obj[key] = float(value) if isinstance(value, np.floating) else value
    io.save(obj, path)


def load_checkpoint(
    path: str | os.PathLike, model: Any, optimizer: Any = None, scheduler: Any = None
) -> dict[str, Any]:
    """Load a ``ModelCheckpoint`` file into ``model`` (and ``optimizer`` / ``scheduler``).

    Returns ``{"epoch", "monitor", "value"}`` of the saved epoch. Raises ValueError naming the
    file when it is not such a checkpoint or lacks the optimizer/scheduler state asked for.
    """
    ckpt = io.load(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        found = list(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{os.fspath(path)!r} is not a training checkpoint (found {found})")
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is not None and name not in ckpt:
            raise ValueError(
                f"{os.fspath(path)!r} holds no {name} state (saved with save_optimizer=False "
                f"or without a {name})"
            )
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    return {k: _plain(ckpt.get(k)) for k in ("epoch", "monitor", "value")}


def _plain(x: Any) -> Any:
    """0-d arrays and NumPy scalars as Python values."""
    if isinstance(x, np.ndarray) and x.ndim == 0 or isinstance(x, np.generic):
        return x.item()
    return x
