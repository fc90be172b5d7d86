"""Layers: ``Linear``, ``Sequential``, activation modules and ``Dropout``."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend
from .. import functional as F
from ..tensor import Tensor
from . import init as _init
from .module import Module, Parameter


def check_size(value: Any, what: str) -> int:
    """``value`` as a positive int, or a ValueError naming ``what`` and the value."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    try:
        size = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be a positive integer, got {value!r}") from None
    if size < 1:
        raise ValueError(f"{what} must be a positive integer, got {size}")
    return size


def _float_dtype(dtype: Any, device: str) -> str:
    name = backend.dtype_name(backend.resolve_dtype(dtype, device))
    if not backend.is_floating(name):
        raise TypeError(f"layer parameters must be float32 or float64, got dtype {name}")
    return name


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight: (out_features, in_features)`` (PyTorch layout).

    ``init=None`` is PyTorch's default: weight and bias from ``U(-1/sqrt(in), 1/sqrt(in))``
    (Kaiming uniform with ``a = sqrt(5)``). A scheme name from ``nn.init.SCHEMES``
    (``"xavier_uniform"``, ``"kaiming_normal"``, ``"normal"``, ...) fills the weight with that
    scheme and the bias with zeros; ``nonlinearity`` picks the Kaiming gain. ``seed`` is an int
    or a ``numpy.random.Generator`` (to draw several layers from one stream).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str | None = None,
        seed: int | np.random.Generator | None = None,
        dtype: Any = None,
        device: str | None = None,
        *,
        nonlinearity: str = "relu",
    ) -> None:
        super().__init__()
        self.in_features = check_size(in_features, "in_features")
        self.out_features = check_size(out_features, "out_features")
        device = backend.normalize_device(device)
        dtype = _float_dtype(dtype, device)
        scheme = "pytorch" if init is None else _init.resolve_scheme(init)
        rng = _init.as_generator(seed)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(np.zeros(shape), dtype=dtype, device=device)
        _init.init_weight_(self.weight, scheme, nonlinearity, rng)
        self.bias: Parameter | None = None
        if bias:
            self.bias = Parameter(np.zeros(self.out_features), dtype=dtype, device=device)
            if scheme == "pytorch":
                bound = 1.0 / math.sqrt(self.in_features)
                _init.uniform_(self.bias, -bound, bound, rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Sequential(Module):
    """Modules applied one after the other; children are named ``"0"``, ``"1"``, ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self._layers: list[Module] = []
        for module in modules:
            self.append(module)

    def _members(self) -> Iterator[tuple[str, Any]]:
        for i, module in enumerate(self._layers):
            yield str(i), module

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns ``self``."""
        if not isinstance(module, Module):
            raise TypeError(
                f"Sequential takes Modules, got {type(module).__name__} at position "
                f"{len(self._layers)}"
            )
        self._layers.append(module)
        return self

    def forward(self, x: Any) -> Any:
        for module in self._layers:
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[index]

    def __setitem__(self, index: int, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        self._layers[index] = module

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)


# ---------------------------------------------------------------------- activations
class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    """Softmax along ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """Log-softmax along ``axis`` (pair it with a negative log-likelihood)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, axis=self.axis)


class LeakyReLU(Module):
    """``x`` if ``x > 0`` else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x: Any) -> Any:
        return x


class Dropout(Module):
    """Inverted dropout: in training mode zero each value with probability ``p`` and scale the
    rest by ``1 / (1 - p)`` (so the expected value is unchanged); in eval mode, or with ``p=0``,
    return the input itself. Masks come from a generator on the input's device, seeded by
    ``seed`` (one stream per device).
    """

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must be a number in [0, 1), got {p!r}")
        self.p = float(p)
        self.seed = seed
        self._rngs: dict[str, Any] = {}

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if not backend.is_floating(x.dtype):  # integers or booleans: a float64 output, as
            x = x.astype("float64")  # NumPy's promotion gives it (array-API libraries: none)
        return x * Tensor._make(self.mask(x.shape, x.dtype, x.device), False, None)

    def mask(self, shape: tuple[int, ...], dtype: Any, device: str) -> Any:
        """The next mask (an array of ``shape``): 0 with probability ``p``, else ``1 / (1 - p)``.

        Every call advances this layer's generator on ``device``; ``forward`` multiplies its
        input by one mask, and ``nn.MLP``'s fused stack draws the same masks in the same order.
        ``dtype``: a name, NumPy's or the device's dtype; not a float one gives float64.
        """
        rng = self._rngs.get(device)
        if rng is None:
            rng = self._rngs[device] = backend.generator(self.seed, device)
        keep = backend.random_keep(rng, shape, self.p, device)
        if not backend.is_floating(dtype):
            dtype = "float64"
        dtype = backend.resolve_dtype(dtype, device)
        mask = backend.namespace(keep).astype(keep, dtype)
        mask *= 1.0 / (1.0 - self.p)  # in place: one new array, not two
        return mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
