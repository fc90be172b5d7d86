"""``tinygrad_mlp.functional`` (import as ``F``): losses, activations and ``one_hot``.

Every loss checks its inputs first, so a shape that would broadcast silently, a label out of
range or an empty batch gives an error that names the shapes or values, never a wrong number.
"""

from __future__ import annotations

from typing import Any

from . import backend, fused, ops
from .activations import elu, leaky_relu, softplus
from .function import like
from .tensor import Tensor

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "elu",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "one_hot",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


def _like(x: Any, ref: Tensor, name: str) -> Tensor:
    """``x`` as a Tensor on ``ref``'s device (arrays and lists are wrapped, not copied twice)."""
    if isinstance(x, Tensor):
        if x.device != ref.device:
            raise backend.DeviceError(
                f"{name} is on {x.device!r} but the input is on {ref.device!r}; move one with .to()"
            )
        return x
    return like(x, ref)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(fn: str, pred: Tensor, target: Tensor, what: str = "pred") -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"{fn}: {what} of shape {pred.shape} and target of shape {target.shape} differ; they "
            "must be equal (no silent broadcasting; reshape one, e.g. target.reshape(-1, 1))"
        )
    if pred.size == 0:
        raise ValueError(f"{fn}: empty batch ({what} of shape {pred.shape}); the loss is undefined")


def _float_target(fn: str, target: Tensor, like: Tensor) -> Tensor:
    if not backend.is_floating(target.dtype):
        target = target.astype(backend.dtype_name(like.dtype))
    return target


# ------------------------------------------------------------------ activations
def relu(x: Tensor) -> Tensor:
    return ops.ReLU.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return ops.Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    return ops.Tanh.apply(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.LogSoftmax.apply(x, axis=axis)


def linear(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None
) -> Tensor:
    """``x @ weight.T + bias`` in one fused op (weight of shape (out_features, in_features)).

    ``activation="relu"`` fuses the ReLU in as well (what ``nn.MLP`` uses on its hot path).
    """
    if activation not in (None, "relu"):
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    op = fused.LinearReLU if activation == "relu" else fused.Linear
    return op.apply(x, weight, bias) if bias is not None else op.apply(x, weight)


# ------------------------------------------------------------------ losses
def mse_loss(pred: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error; ``pred`` and ``target`` must have the same shape."""
    _check_reduction(reduction)
    target = _float_target("mse_loss", _like(target, pred, "target"), pred)
    _check_same_shape("mse_loss", pred, target)
    return ops.MSELoss.apply(pred, target, reduction=reduction)


def binary_cross_entropy(prob: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """BCE of probabilities in [0, 1] (use the ``_with_logits`` form for raw scores)."""
    _check_reduction(reduction)
    target = _float_target("binary_cross_entropy", _like(target, prob, "target"), prob)
    _check_same_shape("binary_cross_entropy", prob, target, "prob")
    low, high = float(prob.xp.min(prob.data)), float(prob.xp.max(prob.data))
    if not (0.0 <= low and high <= 1.0):  # also catches NaN
        bad = low if not 0.0 <= low else high
        raise ValueError(
            f"binary_cross_entropy: probabilities must lie in [0, 1], got {bad}; for raw scores "
            "use binary_cross_entropy_with_logits"
        )
    return ops.BCELoss.apply(prob, target, reduction=reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Any, reduction: str = "mean"):
    """BCE of sigmoid(logits), computed stably from the logits."""
    _check_reduction(reduction)
    target = _float_target("binary_cross_entropy_with_logits", _like(target, logits, "t"), logits)
    _check_same_shape("binary_cross_entropy_with_logits", logits, target, "logits")
    return ops.BCEWithLogitsLoss.apply(logits, target, reduction=reduction)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``(N, C)`` through a fused, stable log-softmax.

    ``target`` is either integer class indices of shape ``(N,)`` in ``[0, C)`` or class
    probabilities (one-hot rows, or soft labels) of shape ``(N, C)``.
    """
    _check_reduction(reduction)
    if logits.ndim != 2:
        raise ValueError(
            f"cross_entropy expects logits of shape (N, C), got shape {logits.shape}; "
            "for a single sample use logits.reshape(1, -1)"
        )
    n, c = logits.shape
    if n == 0:
        raise ValueError(
            "cross_entropy: empty batch (logits of shape (0, C)); the loss is undefined"
        )
    target = _like(target, logits, "target")
    if backend.is_floating(target.dtype):
        if target.shape != logits.shape:
            raise ValueError(
                f"cross_entropy: probability targets must have the logits' shape {logits.shape}, "
                f"got {target.shape} (integer class labels must have shape ({n},))"
            )
    else:
        _check_labels(target, c, batch=n)
    return ops.CrossEntropy.apply(logits, target, reduction=reduction)


def one_hot(labels: Any, num_classes: int, dtype: Any = None) -> Tensor:
    """Rows of zeros with a one at each label: ``(N,)`` integer labels -> ``(N, num_classes)``.

    Labels must be integers in ``[0, num_classes)``; anything else raises ValueError naming the
    offending value (CuPy would otherwise wrap out-of-range indices silently).
    """
    labels = labels if isinstance(labels, Tensor) else Tensor(labels)
    _check_labels(labels, num_classes)
    xp, y = labels.xp, labels.data
    classes = xp.arange(int(num_classes), dtype=xp.int64)  # int64: no wrap for uint8 labels
    y = xp.astype(y, xp.int64)
    hot = xp.reshape(y, (-1, 1)) == xp.reshape(classes, (1, -1))
    return Tensor._make(xp.astype(hot, backend.resolve_dtype(dtype, labels.device)), False, None)


def _check_labels(labels: Tensor, num_classes: int, batch: int | None = None) -> None:
    """Check integer labels of shape ``(batch,)`` in ``[0, num_classes)``; ValueError if not."""
    name, y = backend.dtype_name(labels.dtype), labels.data
    if name in ("float32", "float64", "bool"):
        raise ValueError(
            f"class labels must be an integer tensor, got {name}; "
            "convert with .astype('int64') (or pass (N, C) probabilities as a float target)"
        )
    if y.ndim != 1:
        raise ValueError(f"class labels must have shape (N,), got {labels.shape}")
    if batch is not None and y.shape[0] != batch:
        raise ValueError(f"got {y.shape[0]} labels for a batch of {batch} rows of logits")
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if y.shape[0] and not _labels_in_range(y, int(num_classes)):
        xp = labels.xp
        low, high = int(xp.min(y)), int(xp.max(y))
        bad = low if low < 0 else high
        raise ValueError(f"label {bad} is outside [0, {num_classes}) (num_classes={num_classes})")


def _labels_in_range(y: Any, num_classes: int) -> bool:
    """True when every label is in ``[0, num_classes)``. NumPy and CuPy: one reduction (and one
    GPU sync) instead of two, by reading signed labels as unsigned: a negative label becomes a
    value >= 2**(bits-1), which is >= ``num_classes`` whenever this shortcut is taken."""
    unsigned = backend.unsigned_view(y)
    if unsigned is not None and num_classes <= 2 ** (8 * y.dtype.itemsize - 1):
        return int(unsigned.max()) < num_classes
    xp = backend.namespace(y)  # array-api-strict; int8 labels with 300 classes (-1 reads 255)
    return int(xp.min(y)) >= 0 and int(xp.max(y)) < num_classes
