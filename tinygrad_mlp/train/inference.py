"""``evaluate``, ``predict``, ``predict_proba`` and the batch helpers ``fit`` shares with them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..ops import stable_sigmoid
from ..tensor import Tensor, no_grad
from .metrics import (
    Metric,
    binary_threshold,
    build_metrics,
    output_activation,
    predicted_labels,
    resolve_metrics,
)


# ---------------------------------------------------------------------- evaluation / inference
def evaluate(
    model: Any, loss_fn: Callable[..., Tensor], loader: Any, metrics: Any = ("accuracy",)
) -> dict[str, float]:
    """Mean loss (weighted by batch size) and metrics over ``loader``: ``{"loss", <metric>...}``.

    Runs under ``no_grad()`` in eval mode and restores the model's previous mode.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    check_not_empty(loader, "loader")
    objs = build_metrics(resolve_metrics(metrics), model)
    return evaluate_batches(model, loss_fn, loader, objs, model_device(model), "loader")


def evaluate_batches(
    model: Any,
    loss_fn: Callable[..., Tensor],
    loader: Any,
    metrics: list[Metric],
    device: str | None,
    name: str,
) -> dict[str, float]:
    """``evaluate`` with ready metric accumulators and device (``fit`` validates with it)."""
    for m in metrics:
        m.reset()
    total: Any = 0.0
    seen = 0
    previous = getattr(model, "training", None)
    set_mode(model, False)
    try:
        with no_grad():
            for i, batch in enumerate(loader, 1):
                xb, yb = unpack_batch(batch, device, name, None, i)
                out = model(xb)
                loss = loss_fn(out, yb)
                check_loss(loss)
                n = xb.shape[0]
                total = total + loss.data * n  # stays on the device: one read at the end
                seen += n
                for m in metrics:
                    m.update(out.data, yb.data)
    finally:
        set_mode(model, previous)
    if seen == 0:
        raise ValueError(f"{name} yielded no batches")
    return {"loss": float(total) / seen, **{m.name: m.result() for m in metrics}}


def predict(model: Any, X: Any, batch_size: int = 1024, device: str | None = None) -> np.ndarray:
    """Class labels (int64, shape (N,)) of ``X``: the argmax of (N, C) outputs, or for one output
    column 1 where it exceeds 0.5 (sigmoid output layer) / 0 (logits), see ``train.metrics``.

    Inputs go to ``device`` (default: the model's device) in chunks of ``batch_size``, cast to
    the parameters' float dtype. Runs under ``no_grad()`` in eval mode; the mode is restored.
    """
    threshold = binary_threshold(model)
    chunks = _infer(model, X, batch_size, device, lambda out: predicted_labels(out, threshold))
    return np.concatenate(chunks).astype(np.int64, copy=False)


def predict_proba(
    model: Any, X: Any, batch_size: int = 1024, device: str | None = None
) -> np.ndarray:
    """Class probabilities of ``X`` as a NumPy array (N, C); (N, 2) for a one-column binary model
    (columns P(class 0), P(class 1), like scikit-learn).

    The model's outputs are used as they are when its last layer is a softmax or sigmoid
    (``model.output_activation``); otherwise they are logits and get a softmax (a sigmoid for a
    single column).
    """
    act = output_activation(model)
    return np.concatenate(_infer(model, X, batch_size, device, lambda o: _probabilities(o, act)))


def _probabilities(out: Any, act: str | None) -> Any:
    xp = backend.namespace(out)
    if out.ndim == 2 and out.shape[1] > 1:
        if act in ("softmax", "sigmoid"):
            return out
        if act in ("log_softmax", "logsoftmax"):
            return xp.exp(out)
        e = xp.exp(out - xp.max(out, axis=1, keepdims=True))
        return e / xp.sum(e, axis=1, keepdims=True)
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        z = xp.reshape(out, (-1,))
        p = z if act == "sigmoid" else stable_sigmoid(xp, z)
        return xp.stack([1.0 - p, p], axis=1)
    raise ValueError(f"cannot turn outputs of shape {tuple(out.shape)} into probabilities")


def _infer(model: Any, X: Any, batch_size: int, device: str | None, fn: Callable) -> list:
    """Host arrays of ``fn(outputs)`` for consecutive chunks of ``X`` (no_grad, eval mode)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    device = backend.normalize_device(device) if device is not None else model_device(model)
    device = device or "cpu"
    data = X.data if isinstance(X, Tensor) else X
    if not backend.is_array(data):
        data = np.asarray(data)
        if data.dtype == object:
            raise TypeError("X must be a numeric array or Tensor, got an object array")
    if data.ndim == 0 or data.shape[0] == 0:
        raise ValueError(f"X must hold at least one sample, got shape {tuple(data.shape)}")
    dtype = _param_dtype(model)
    previous = getattr(model, "training", None)
    set_mode(model, False)
    results = []
    try:
        with no_grad():
            n = data.shape[0]
            for start in range(0, n, batch_size):
                rows = data[start : min(start + batch_size, n), ...]  # in bounds (array API)
                chunk = Tensor(rows, dtype=dtype, device=device)
                out = model(chunk)
                results.append(backend.to_numpy(fn(out.data)))
    finally:
        set_mode(model, previous)
    return results


# ---------------------------------------------------------------------- helpers
def model_device(model: Any) -> str | None:
    """``model.device``, else the device of its first parameter, else None (no moves)."""
    try:
        device = getattr(model, "device", None)
    except Exception:  # a property that fails for a model without parameters
        device = None
    if isinstance(device, str):
        return backend.normalize_device(device)
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return None


def _param_dtype(model: Any) -> str:
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            if backend.is_floating(p.dtype):
                return backend.dtype_name(p.dtype)
    return backend.DEFAULT_DTYPE


def set_mode(model: Any, training: bool | None) -> None:
    """``model.train()`` / ``model.eval()`` (nothing for None or a model without them)."""
    if training is None:
        return
    method = getattr(model, "train" if training else "eval", None)
    if callable(method):
        method()


def unpack_batch(
    batch: Any, device: str | None, name: str, epoch: int | None, index: int
) -> tuple[Tensor, Tensor]:
    """``(inputs, targets)`` Tensors of one batch on ``device``, or a TypeError saying why not."""
    where = f"batch {index}" + (f" of epoch {epoch}" if epoch is not None else "")
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        size = f" of length {len(batch)}" if isinstance(batch, tuple | list) else ""
        raise TypeError(
            f"{name} must yield (inputs, targets) pairs; {where} is a {type(batch).__name__}{size}"
        )
    xb, yb = batch
    if not isinstance(xb, Tensor):
        xb = _as_tensor(xb, name, where, "inputs")
    if not isinstance(yb, Tensor):
        yb = _as_tensor(yb, name, where, "targets")
    if xb.shape[:1] == (0,):  # a loss or metric over 0 samples would be 0/0
        raise ValueError(f"{name}: {where} is empty (inputs of shape {xb.shape})")
    if device is not None:
        if xb.device != device:
            xb = xb.to(device)
        if yb.device != device:
            yb = yb.to(device)
    return xb, yb


def _as_tensor(x: Any, name: str, where: str, what: str) -> Tensor:
    if backend.is_array(x) or isinstance(x, np.ndarray):
        return Tensor(x)
    raise TypeError(
        f"{name}: the {what} of {where} are a {type(x).__name__}; expected a Tensor or an array"
    )


def check_loss(loss: Any) -> None:
    if not isinstance(loss, Tensor):
        raise TypeError(f"loss_fn must return a Tensor, got {type(loss).__name__}")
    if loss.size != 1:
        raise ValueError(
            f"loss_fn must return a scalar Tensor, got shape {loss.shape} "
            "(use reduction='mean' or 'sum')"
        )


def check_not_empty(loader: Any, name: str) -> None:
    if not hasattr(loader, "__iter__"):
        raise TypeError(
            f"{name} must be iterable (a DataLoader or a list of batches), got "
            f"{type(loader).__name__}"
        )
    if hasattr(loader, "__len__") and len(loader) == 0:
        raise ValueError(f"{name} is empty (0 batches); give it at least one sample")
