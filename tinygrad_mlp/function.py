"""``Function``: the base class of every differentiable op, built-in or user-defined.

An op is one small class with ``forward`` and ``backward`` side by side::

    class Square(Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x * x

        def backward(self, grad):
            (x,) = self.saved
            return 2.0 * x * grad if self.needs_input_grad[0] else None

    y = Square.apply(t)

``forward`` receives the inputs' raw arrays (NumPy, CuPy or array-api-strict: use ``self.xp``,
never ``numpy``, so the op runs on every device) and returns one array. ``backward`` receives the
gradient of the loss with respect to that output and returns one gradient per input (a tuple, or a
single array for one input), ``None`` for inputs whose ``needs_input_grad`` entry is False.
A gradient may have the *broadcast* shape of the output: the engine reduces it to the input's shape
and dtype in exactly one place (``autograd.reduce_grad``). Backward must not modify ``grad`` or the
saved arrays in place, and forward must not modify its inputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import backend
from .grad_mode import _state
from .tensor import Tensor


class AnomalyError(FloatingPointError):
    """Raised under ``detect_anomaly()`` when an op produces NaN or Inf."""


class Function:
    """Base class for differentiable ops. Subclass it and define ``forward`` and ``backward``."""

    xp: Any  # the array namespace of the inputs
    needs_input_grad: tuple[bool, ...]
    saved: tuple[Any, ...] | None = ()
    inputs: tuple[Tensor, ...] | None = None

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays that ``backward`` needs; they are released after backward."""
        self.saved = arrays

    def forward(self, *arrays: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self, grad: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define backward")

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Tensor:
        """Run the op on Tensors (Python scalars and arrays are wrapped) and record it."""
        tensors = inputs if _same_device_tensors(inputs) else _as_tensors(cls, inputs)
        ctx = cls()
        needs = tuple([t.requires_grad for t in tensors])
        ctx.needs_input_grad = needs
        ctx.xp = backend.namespace(tensors[0].data)
        try:
            out = ctx.forward(*[t.data for t in tensors], **kwargs)
        except ValueError as exc:  # e.g. shapes that do not broadcast: name the op and the shapes
            shapes = " and ".join(str(t.shape) for t in tensors)
            raise ValueError(f"{cls.__name__}: {exc} (input shapes {shapes})") from exc
        if type(out) is not type(tensors[0].data):
            out = _as_output(ctx, out)
        if _state.anomaly:
            check_finite(out, f"{cls.__name__}.forward")
        if _state.grad_enabled and True in needs:
            ctx.inputs = tensors
            return Tensor._make(out, True, ctx)
        ctx.saved = None
        return Tensor._make(out, False, None)


def _same_device_tensors(inputs: tuple[Any, ...]) -> bool:
    """Fast path: every input is a Tensor whose data has the first one's array type."""
    if not inputs or not isinstance(inputs[0], Tensor):
        return False
    kind = type(inputs[0].data)
    for x in inputs[1:]:
        if not isinstance(x, Tensor) or type(x.data) is not kind:
            return False
    return True


def _as_output(ctx: Function, out: Any) -> Any:
    """Normalise a forward result (NumPy scalar, Python number) into an array of the backend."""
    out = backend.as_array(out)
    return out if backend.is_array(out) else ctx.xp.asarray(out)


def _as_tensors(op: type, inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Wrap scalars/arrays like the first Tensor input; refuse inputs on different devices."""
    ref = next((x for x in inputs if isinstance(x, Tensor)), None)
    if ref is None:
        raise TypeError(f"{op.__name__}.apply needs at least one Tensor input")
    device = ref.device
    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            if x.device != device:
                raise backend.DeviceError(
                    f"{op.__name__}: tensors on different devices: {device!r} and {x.device!r}; "
                    "move one with .to(device)"
                )
            out.append(x)
        elif isinstance(x, bool | int | float):
            dtype = ref.dtype if backend.is_floating(ref.dtype) else None
            out.append(Tensor._make(ref.xp.asarray(x, dtype=dtype), False, None))
        else:
            out.append(like(x, ref))
    return tuple(out)


def like(x: Any, ref: Tensor) -> Tensor:
    """Wrap non-Tensor data as a Tensor on ``ref``'s device; float data takes ``ref``'s float dtype
    (so a float64 NumPy target next to float64 predictions keeps its precision)."""
    probe = x if backend.is_array(x) else np.asarray(x)
    kind_float = backend.is_floating(probe.dtype)
    dtype = ref.dtype if kind_float and backend.is_floating(ref.dtype) else None
    return Tensor(x, dtype=dtype, device=ref.device)


def check_finite(array: Any, where: str) -> None:
    """Raise AnomalyError naming ``where`` when ``array`` holds NaN or Inf."""
    if array is None or not backend.is_floating(array.dtype):
        return
    xp = backend.namespace(array)
    if not bool(xp.all(xp.isfinite(array))):
        raise AnomalyError(f"{where} produced a non-finite value (NaN or Inf)")


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every forward and backward result for NaN/Inf and name the op that made it (slow)."""
    previous = _state.anomaly
    _state.anomaly = True
    try:
        yield
    finally:
        _state.anomaly = previous
