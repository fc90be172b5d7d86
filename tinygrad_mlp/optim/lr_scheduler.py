"""Learning-rate schedulers, as in ``torch.optim.lr_scheduler``.

``StepLR``, ``ExponentialLR`` and ``CosineAnnealingLR`` compute each group's learning rate in
closed form from its initial value (``base_lrs``) and the epoch counter ``last_epoch``: after
construction ``last_epoch == 0`` and every ``step()`` adds one and writes the new rates into
``optimizer.param_groups``. Being closed-form, they overwrite any change made to ``group["lr"]``
by hand between steps (PyTorch's recursive forms would compose with it instead).
``ReduceLROnPlateau`` lowers the rates when a metric stops improving.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative


def _check_optimizer(optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"expected an Optimizer, got {type(optimizer).__name__}")
    return optimizer


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _nonnegative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _positive(name: str, value: Any) -> float:
    value = check_nonnegative(name, value)
    if value == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


class LRScheduler:
    """Base of the closed-form schedulers: ``lr = self._lr_at(base_lr, last_epoch)``."""

    _hyper: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = _check_optimizer(optimizer)
        self.base_lrs: list[float] = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr: list[float] = []
        self._apply()

    def _lr_at(self, base_lr: float, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(
                f"{type(self).__name__} was set up for {len(self.base_lrs)} param groups, the "
                f"optimizer now has {len(groups)}; create the scheduler after add_param_group"
            )
        lrs = [self._lr_at(base, self.last_epoch) for base in self.base_lrs]
        for group, lr in zip(groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs

    def step(self) -> None:
        """Advance one epoch and set every group's learning rate for it."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rates (one per group) set by the last ``step`` (or the constructor)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: counters, base rates, hyper-parameters (no optimizer)."""
        state = {name: getattr(self, name) for name in self._hyper}
        state.update(
            last_epoch=self.last_epoch, base_lrs=list(self.base_lrs), last_lr=list(self._last_lr)
        )
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict``; the optimizer's own rates come from its ``load_state_dict``."""
        _check_keys(self, state_dict, ("last_epoch", "base_lrs", "last_lr", *self._hyper))
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"the {type(self).__name__} state_dict has {len(state_dict['base_lrs'])} base "
                f"learning rates, the optimizer has {len(self.optimizer.param_groups)} param groups"
            )
        for name in self._hyper:
            setattr(self, name, state_dict[name])
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(lr) for lr in state_dict["base_lrs"]]
        self._last_lr = [float(lr) for lr in state_dict["last_lr"]]


def _check_keys(owner: Any, state_dict: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    missing = [key for key in keys if key not in state_dict]
    if missing:
        raise ValueError(f"the {type(owner).__name__} state_dict lacks the keys {missing}")


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    lr(epoch) = base_lr * gamma ** floor(epoch / step_size)
    """

    _hyper = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer)

    def _lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch.

    lr(epoch) = base_lr * gamma ** epoch
    """

    _hyper = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer)

    def _lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` down to ``eta_min`` over ``T_max`` epochs.

    lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    (PyTorch's closed form, without restarts). Past ``T_max`` the cosine goes on, so the rate
    climbs back towards ``base_lr`` over the next ``T_max`` epochs, as in PyTorch.
    """

    _hyper = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _positive_int("T_max", T_max)
        self.eta_min = check_nonnegative("eta_min", eta_min)
        super().__init__(optimizer)

    def _lr_at(self, base_lr: float, epoch: int) -> float:
        cosine = 1.0 + math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * cosine / 2.0


class ReduceLROnPlateau:
    """Multiply the rates by ``factor`` when a metric has not improved for ``patience`` epochs.

    ``step(metric)`` once per epoch. The metric improves when (``mode="min"``) it is below
    ``best * (1 - threshold)`` (``threshold_mode="rel"``) or ``best - threshold`` (``"abs"``);
    for ``mode="max"``, above ``best * (1 + threshold)`` or ``best + threshold``. An improvement
    sets ``best`` and resets the count of bad epochs; otherwise the count grows by one. During
    ``cooldown`` epochs after a reduction bad epochs are not counted. When the count exceeds
    ``patience`` each group's rate becomes ``max(lr * factor, min_lr)`` (skipped when that
    changes it by no more than ``eps``), the count resets and the cooldown starts.
    A NaN metric never counts as an improvement (as in PyTorch).
    """

    _keys = (
        "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs", "eps",
        "best", "num_bad_epochs", "cooldown_counter", "last_epoch",
    )  # fmt: skip

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        self.optimizer = _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = check_nonnegative("factor", factor)
        if not 0 < self.factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.patience = _nonnegative_int("patience", patience)
        self.threshold = check_nonnegative("threshold", threshold)
        self.cooldown = _nonnegative_int("cooldown", cooldown)
        self.eps = check_nonnegative("eps", eps)
        self.min_lrs = self._min_lrs(min_lr)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _min_lrs(self, min_lr: Any) -> list[float]:
        n = len(self.optimizer.param_groups)
        if isinstance(min_lr, list | tuple):
            if len(min_lr) != n:
                raise ValueError(f"min_lr has {len(min_lr)} values for {n} param groups")
            return [check_nonnegative(f"min_lr[{i}]", v) for i, v in enumerate(min_lr)]
        return [check_nonnegative("min_lr", min_lr)] * n

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, value: float) -> bool:
        sign = 1.0 if self.mode == "max" else -1.0
        if self.threshold_mode == "rel":
            bound = self.best * (1.0 + sign * self.threshold)
        else:
            bound = self.best + sign * self.threshold
        return value > bound if self.mode == "max" else value < bound

    def step(self, metric: float | Tensor) -> None:
        """Record one epoch's ``metric`` (a number or one-element Tensor); maybe lower the rates."""
        value = _as_float(metric)
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            raise ValueError(
                f"ReduceLROnPlateau has min_lr for {len(self.min_lrs)} param groups, the "
                f"optimizer now has {len(groups)}"
            )
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def get_last_lr(self) -> list[float]:
        """The learning rates (one per group) after the last ``step``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Counters, best value and settings (no optimizer)."""
        state = {key: getattr(self, key) for key in self._keys}
        state["min_lrs"] = list(self.min_lrs)
        state["last_lr"] = list(self._last_lr)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict`` made by ``state_dict()``."""
        _check_keys(self, state_dict, (*self._keys, "last_lr"))
        if len(state_dict["min_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"the ReduceLROnPlateau state_dict has {len(state_dict['min_lrs'])} min_lr values, "
                f"the optimizer has {len(self.optimizer.param_groups)} param groups"
            )
        for key in self._keys:
            setattr(self, key, state_dict[key])
        self.min_lrs = [float(v) for v in state_dict["min_lrs"]]
        self._last_lr = [float(v) for v in state_dict["last_lr"]]


def _as_float(metric: Any) -> float:
    if isinstance(metric, Tensor):
        return float(metric.item())
    try:
        return float(metric)
    except (TypeError, ValueError):
        raise TypeError(
            f"ReduceLROnPlateau.step needs a number (the monitored metric), got {metric!r}"
        ) from None
