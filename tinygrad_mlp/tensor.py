"""``Tensor``: an array plus what reverse-mode autodiff needs (grad, requires_grad, creator).

``Tensor.backward`` runs the engine in ``autograd.py``: an iterative graph walk that hands each op
the gradient of its output, reduces broadcast gradients to each input's shape in ``reduce_grad``
(the only place that does so) and accumulates them. Only leaf tensors keep a ``.grad``. The graph
and the arrays ops saved are released as backward goes, unless ``retain_graph=True``.

Promotion rule: two float tensors of float32 and float64 give float64 (NumPy's and the array API's
rule); Python numbers, lists and arrays next to a float tensor take its dtype. Gradients always
have their input's dtype. ``Tensor(array)`` copies the array; internal code wraps fresh arrays
without a copy (``Tensor._make``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import backend
from .grad_mode import (  # noqa: F401  (re-exported: tinygrad_mlp.tensor.no_grad etc.)
    _state,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)


class Tensor:
    """An n-dimensional array that records the ops applied to it for ``backward``.

    >>> x = Tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy()
    array([[2., 4.]], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if device is None:
            device = backend.device_of(data) if backend.is_array(data) else "cpu"
        array = backend.asarray(data, dtype=dtype, device=backend.normalize_device(device))
        shared = array is data or getattr(array, "base", None) is not None
        if requires_grad:  # a parameter: on a 64-byte boundary on the CPU
            array = backend.parameter_memory(array, copy=shared)
        elif shared:  # never share the caller's memory (as torch.tensor)
            array = backend.namespace(array).asarray(array, copy=True)
        self.data = array
        self.grad: Tensor | None = None
        self._ctx = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: Any, requires_grad: bool, ctx: Any) -> Tensor:
        """Fast internal constructor: ``data`` is already an array of a known backend."""
        if type(data) is not np.ndarray:  # NumPy reductions return scalars, not 0-d arrays
            data = backend.as_array(data)
        t = object.__new__(cls)
        t.data, t.grad, t.requires_grad, t._ctx = data, None, requires_grad, ctx
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return math.prod(self.data.shape)

    @property
    def xp(self) -> Any:
        """The array namespace of this tensor's data."""
        return backend.namespace(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __setstate__(self, state: Any) -> None:
        """Unpickling and ``copy.deepcopy``: a leaf that requires grad gets its array back on a
        64-byte boundary, as when it was created."""
        for name, value in (state[1] if isinstance(state, tuple) else state).items():
            setattr(self, name, value)
        if self.requires_grad and self._ctx is None:
            self.data = backend.parameter_memory(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; only floating-point leaf tensors can require grad."""
        if flag and not backend.is_floating(self.data.dtype):
            raise TypeError(
                f"only float32/float64 tensors can require grad, this one is "
                f"{backend.dtype_name(self.data.dtype)} (integer tensors hold labels)"
            )
        if not flag and self._ctx is not None:
            raise RuntimeError("cannot turn off requires_grad of a non-leaf tensor; use .detach()")
        self.requires_grad = bool(flag)
        return self

    def numpy(self) -> np.ndarray:
        """The values as a host NumPy array (copied from the GPU when needed)."""
        return backend.to_numpy(self.data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, this one has shape {self.shape}"
            )
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, device: str) -> Tensor:
        """This tensor on ``device`` ("cpu", "cuda"); ``self`` when it is already there.

        The copy is a new leaf that keeps ``requires_grad`` (like ``.detach()`` plus a move)."""
        device = backend.normalize_device(device)
        if device == self.device:
            return self
        data = backend.to_device(self.data, device)
        if self.requires_grad:  # a parameter's copy: on a 64-byte boundary on the CPU
            data = backend.parameter_memory(data)
        return Tensor._make(data, self.requires_grad, None)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._make(self.data, False, None)

    def astype(self, dtype: Any) -> Tensor:
        """A copy with another dtype (not differentiable)."""
        return Tensor(self.data, dtype=dtype, device=self.device)

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", threshold=50)
        return (
            f"tensor({body}, dtype={backend.dtype_name(self.dtype)}, device={self.device!r}{extra})"
        )

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use .item()"
            )
        return bool(self.item())

    # ------------------------------------------------------------------ autodiff
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is the upstream gradient; it may be left out only for one-element tensors.
        The graph is released afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad())"
            )
        seed = _initial_grad(self, grad)
        if self._ctx is None:
            _accumulate_leaf(self, seed, set())
            return
        _run_backward(self, seed, retain_graph)

    # ------------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Tensor:
        return _ops.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.Div.apply(other, self)

    def __neg__(self) -> Tensor:
        return _ops.Neg.apply(self)

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor) or not isinstance(exponent, int | float):
            raise TypeError(f"** takes a Python number as exponent, got {type(exponent).__name__}")
        return _ops.Pow.apply(self, exponent=exponent)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.MatMul.apply(other, self)

    # ------------------------------------------------------------------ reductions and shape
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.Sum.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.Mean.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.Max.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def argmax(self, axis: int = -1) -> Tensor:
        """Indices of the maxima along ``axis`` (an int tensor; not differentiable)."""
        return Tensor._make(self.xp.argmax(self.data, axis=axis), False, None)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _ops.Reshape.apply(self, shape=tuple(int(s) for s in shape))

    def transpose(self, *axes: int) -> Tensor:
        """Permute the axes (reverse them when none are given), like ``numpy.transpose``."""
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return _ops.Transpose.apply(self, axes=axes or None)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    # ------------------------------------------------------------------ elementwise
    def abs(self) -> Tensor:
        return _ops.Abs.apply(self)

    def exp(self) -> Tensor:
        return _ops.Exp.apply(self)

    def log(self) -> Tensor:
        return _ops.Log.apply(self)

    def tanh(self) -> Tensor:
        return _ops.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return _ops.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return _ops.ReLU.apply(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        return _activations.leaky_relu(self, negative_slope)

    def elu(self, alpha: float = 1.0) -> Tensor:
        return _activations.elu(self, alpha)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        return _activations.softplus(self, beta, threshold)

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops.LogSoftmax.apply(self, axis=axis)


# ---------------------------------------------------------------------- engine helpers
def _axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    """Normalise ``axis`` (None, int or sequence, negative allowed) to sorted non-negative ints."""
    if axis is None:
        return None
    try:
        axes = (operator.index(axis),)
    except TypeError:
        axes = tuple(operator.index(a) for a in axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(out))


# ---------------------------------------------------------------------- creation
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None):
    """A new leaf Tensor (same as ``Tensor(...)``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def zeros(*shape: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False):
    """A tensor of zeros, e.g. ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    device = backend.normalize_device(device)
    xp = backend.namespace_for(device)
    data = xp.zeros(_shape(shape), dtype=backend.resolve_dtype(dtype, device))
    data = backend.parameter_memory(data) if requires_grad else data
    return Tensor._make(data, False, None).requires_grad_(requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False):
    """A tensor of ones."""
    device = backend.normalize_device(device)
    xp = backend.namespace_for(device)
    data = xp.ones(_shape(shape), dtype=backend.resolve_dtype(dtype, device))
    data = backend.parameter_memory(data) if requires_grad else data
    return Tensor._make(data, False, None).requires_grad_(requires_grad)


def randn(
    *shape: Any,
    seed: int | None = None,
    dtype: Any = None,
    device: str = "cpu",
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples; the same ``seed`` gives the same values on every device."""
    values = np.random.default_rng(seed).standard_normal(_shape(shape))
    dtype = backend.dtype_name(backend.resolve_dtype(dtype, "cpu"))
    return Tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


# Imported last: ops and activations subclass Function, which needs Tensor.
from .autograd import _accumulate_leaf, _initial_grad, _run_backward, reduce_grad  # noqa: E402, F401, I001
from . import ops as _ops  # noqa: E402, I001
from . import activations as _activations  # noqa: E402
