"""Metrics for ``fit`` / ``evaluate``: named ones accumulated on the device, or user callables.

A metric is a name (``"accuracy"``, ``"mse"``, ``"mae"``) or a callable
``(outputs: numpy.ndarray, targets: numpy.ndarray) -> float`` called once per epoch on the
outputs of the whole epoch (its key in the History is the function's ``__name__``; pass a dict
``{"name": fn}`` to choose the key, e.g. for a lambda).

Accuracy rule (also used by ``predict``)
---------------------------------------
* outputs ``(N, C)`` with ``C > 1``: the predicted class is the argmax of each row; targets are
  integer labels ``(N,)`` or one-hot / probability rows ``(N, C)`` (their argmax is the label).
* outputs ``(N, 1)`` or ``(N,)`` (binary): class 1 when the output is above 0.5 if the model's
  last layer is a sigmoid (``model.output_activation == "sigmoid"``), otherwise above 0 (the
  outputs are taken to be logits, and sigmoid(z) > 0.5 exactly when z > 0). Float targets count
  as class 1 from 0.5 up, integer / bool targets when non-zero.

Named metrics count on the device and the count is read back once per epoch, so they add no
host synchronisation to a training step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .. import backend

MetricFn = Callable[[np.ndarray, np.ndarray], float]
RESERVED = ("loss", "lr", "epoch_time")


def output_activation(model: Any) -> str | None:
    """The model's last activation as a lower-case name (``"sigmoid"``, ``"softmax"``) or None.

    Read from ``model.output_activation``, which may be a string or a module/class (its type name).
    """
    act = getattr(model, "output_activation", None)
    if act is None:
        return None
    if isinstance(act, str):
        return act.lower()
    cls = act if isinstance(act, type) else type(act)
    return cls.__name__.lower()


def binary_threshold(model: Any) -> float:
    """0.5 for a sigmoid output layer, 0.0 for logits (see the module docstring)."""
    return 0.5 if output_activation(model) == "sigmoid" else 0.0


def predicted_labels(out: Any, threshold: float) -> Any:
    """Class labels of raw outputs on their device (argmax, or the binary threshold rule)."""
    xp = backend.namespace(out)
    if out.ndim == 2 and out.shape[1] > 1:
        return xp.argmax(out, axis=1)
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        return xp.astype(xp.reshape(out, (-1,)) > threshold, xp.int64)
    raise ValueError(
        f"cannot turn outputs of shape {tuple(out.shape)} into class labels; expected (N, C) "
        "scores, or (N, 1) / (N,) for a binary problem"
    )


def _target_labels(t: Any, out: Any) -> Any:
    """Integer labels (N,) of targets given as labels, one-hot / probability rows or 0/1 floats."""
    xp = backend.namespace(t)
    n = out.shape[0]
    binary = out.ndim == 1 or out.shape[1] == 1
    if t.ndim == 2 and tuple(t.shape) == tuple(out.shape) and not binary:
        return xp.argmax(t, axis=1)
    if t.shape[0] == n and (t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1)):
        t = xp.reshape(t, (-1,))
        if _is_floating(t.dtype):
            return xp.astype(t >= 0.5, xp.int64) if binary else xp.astype(t, xp.int64)
        if not binary:
            return t
        nonzero = t if backend.dtype_name(t.dtype) == "bool" else t != 0
        return xp.astype(nonzero, xp.int64)
    raise ValueError(
        f"accuracy: targets of shape {tuple(t.shape)} do not fit outputs of shape "
        f"{tuple(out.shape)}; expected integer labels ({n},) or one-hot rows ({n}, C)"
    )


def _count(xp: Any, mask: Any) -> Any:
    """Number of True entries, as a device scalar (no host synchronisation)."""
    count_nonzero = getattr(xp, "count_nonzero", None)
    if count_nonzero is not None:
        return count_nonzero(mask)
    return xp.sum(xp.astype(mask, xp.int64))


_floating: dict[int, tuple[Any, bool]] = {}


def _is_floating(dtype: Any) -> bool:
    """``backend.is_floating`` memoised per dtype object (it is asked for every batch)."""
    entry = _floating.get(id(dtype))
    if entry is None or entry[0] is not dtype:
        entry = _floating[id(dtype)] = (dtype, backend.is_floating(dtype))
    return entry[1]


class Metric:
    """Accumulates one metric over the batches of an epoch; ``result()`` reads it back once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        """Forget the batches seen so far."""
        self.total: Any = 0
        self.count = 0

    def update(self, out: Any, target: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self) -> float:
        """The metric over every batch since the last ``reset`` (one device -> host read)."""
        if self.count == 0:
            return float("nan")
        return float(self.total) / self.count


class Accuracy(Metric):
    """Fraction of correct class predictions (rule in the module docstring)."""

    def __init__(self, name: str = "accuracy", threshold: float = 0.0) -> None:
        self.threshold = threshold
        super().__init__(name)

    def update(self, out: Any, target: Any) -> None:
        xp = backend.namespace(out)
        pred = predicted_labels(out, self.threshold)
        labels = _target_labels(target, out)
        if labels.dtype != pred.dtype:
            labels = xp.astype(labels, pred.dtype)
        self.total = self.total + _count(xp, pred == labels)
        self.count += int(pred.shape[0])


class _ErrorMetric(Metric):
    """Mean of a function of (output - target) over all elements: ``mse`` and ``mae``."""

    def __init__(self, name: str, square: bool) -> None:
        self.square = square
        super().__init__(name)

    def update(self, out: Any, target: Any) -> None:
        xp = backend.namespace(out)
        if tuple(target.shape) != tuple(out.shape):
            if target.size != out.size or target.shape[0] != out.shape[0]:
                raise ValueError(
                    f"{self.name}: targets of shape {tuple(target.shape)} do not match outputs "
                    f"of shape {tuple(out.shape)}"
                )
            target = xp.reshape(target, out.shape)
        if not _is_floating(target.dtype):
            target = xp.astype(target, out.dtype)
        diff = out - target
        self.total = self.total + xp.sum(diff * diff if self.square else xp.abs(diff))
        self.count += int(out.size)


class CallableMetric(Metric):
    """A user function of (outputs, targets) NumPy arrays, called once on the whole epoch."""

    def __init__(self, name: str, fn: MetricFn) -> None:
        self.fn = fn
        super().__init__(name)

    def reset(self) -> None:
        self.outputs: list[Any] = []
        self.targets: list[Any] = []

    def update(self, out: Any, target: Any) -> None:
        self.outputs.append(out)
        self.targets.append(target)

    def result(self) -> float:
        if not self.outputs:
            return float("nan")
        out, target = _host_concat(self.outputs), _host_concat(self.targets)
        value = self.fn(out, target)
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"metric {self.name!r} returned {type(value).__name__} {value!r}; a metric must "
                "return one number"
            ) from exc


def _host_concat(arrays: list[Any]) -> np.ndarray:
    """Concatenate device arrays on their device, then copy to the host once."""
    if len(arrays) == 1:
        return backend.to_numpy(arrays[0])
    xp = backend.namespace(arrays[0])
    concat = getattr(xp, "concat", None) or xp.concatenate
    return backend.to_numpy(concat(arrays, axis=0))


_NAMED: dict[str, Callable[[str, float], Metric]] = {
    "accuracy": lambda name, threshold: Accuracy(name, threshold),
    "mse": lambda name, threshold: _ErrorMetric(name, square=True),
    "mae": lambda name, threshold: _ErrorMetric(name, square=False),
}
METRIC_NAMES = tuple(_NAMED)


def resolve_metrics(metrics: Any) -> list[tuple[str, str | MetricFn]]:
    """Check ``metrics`` (names, callables, or a dict name -> name/callable) -> (key, spec) pairs.

    Raises ValueError for an unknown name (listing the valid ones), a duplicate or reserved key,
    and TypeError for anything that is neither a name nor a callable.
    """
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    items: Iterable[tuple[Any, Any]]
    if isinstance(metrics, Mapping):
        items = metrics.items()
    else:
        items = ((None, m) for m in metrics)
    resolved: list[tuple[str, str | MetricFn]] = []
    for key, spec in items:
        if isinstance(spec, str):
            if spec not in _NAMED:
                raise ValueError(
                    f"unknown metric {spec!r}; valid names are {list(METRIC_NAMES)} "
                    "(or pass a callable (outputs, targets) -> float)"
                )
            name = spec if key is None else key
        elif callable(spec):
            name = getattr(spec, "__name__", None) if key is None else key
            if not name or name == "<lambda>":
                raise ValueError(
                    f"metric {spec!r} has no usable name; pass a dict such as {{'my_metric': fn}}"
                )
        else:
            raise TypeError(
                f"a metric must be a name or a callable (outputs, targets) -> float, got "
                f"{type(spec).__name__} {spec!r}"
            )
        if not isinstance(name, str):
            raise TypeError(f"metric keys must be strings, got {name!r}")
        if name in RESERVED or name.startswith("val_"):
            raise ValueError(f"metric key {name!r} is reserved (loss, lr, epoch_time, val_*)")
        if name in (k for k, _ in resolved):
            raise ValueError(f"metric {name!r} is given twice")
        resolved.append((name, spec))
    return resolved


def build_metrics(specs: list[tuple[str, str | MetricFn]], model: Any) -> list[Metric]:
    """Fresh accumulators for ``specs`` (from ``resolve_metrics``) for this ``model``."""
    threshold = binary_threshold(model)
    out: list[Metric] = []
    for name, spec in specs:
        if isinstance(spec, str):
            out.append(_NAMED[spec](name, threshold))
        else:
            out.append(CallableMetric(name, spec))
    return out
