"""``MLP``: a fully connected network of any depth, built from ``Linear`` layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend
from .. import functional as F
from ..fused import check_stack, mlp_stack
from ..grad_mode import _state
from ..tensor import Tensor
from . import init as _init
from .layers import (
    Dropout,
    Linear,
    LogSoftmax,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    check_size,
)
from .module import Module, _children_repr, _format_count

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
OUTPUT_ACTIVATIONS = {
    None: None,
    "sigmoid": Sigmoid,
    "softmax": Softmax,
    "log_softmax": LogSoftmax,
    "tanh": Tanh,
    "relu": ReLU,
}
# Default weight init per hidden activation: He for ReLU, Glorot for the saturating ones.
DEFAULT_INIT = {"relu": "kaiming_uniform", "sigmoid": "xavier_uniform", "tanh": "xavier_uniform"}


def _check_sizes(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence | np.ndarray):
        raise ValueError(
            f"sizes must be a sequence of layer widths like [784, 50, 10], got {sizes!r}"
        )
    if len(sizes) < 2:
        raise ValueError(
            f"sizes needs at least 2 widths (inputs and outputs), got {list(sizes)}; "
            "e.g. [784, 50, 10]"
        )
    return tuple(check_size(s, f"sizes[{i}]") for i, s in enumerate(sizes))


_STACK_ACTIVATIONS = {ReLU: "relu", Tanh: "tanh", Sigmoid: "sigmoid"}


def _stack_plan(layers: list, x: Any) -> tuple[str, list, list, int] | None:
    """``(activation, [W1, b1, ..., Wk, bk], dropouts, index after the last Linear)`` when
    ``layers`` start with ``Linear, act, [Dropout], Linear, act, ..., Linear`` (plain layers, one
    hidden activation, biases, every parameter of the same array type and dtype as the input
    array ``x``); ``dropouts`` holds each hidden layer's active Dropout (in training mode itself,
    p > 0) or None. None when the layers do not start with such a stack."""

    def fusable(j: int) -> bool:  # a plain Linear with a bias, of x's array type and dtype
        layer = layers[j] if j < n else None
        if type(layer) is not Linear or layer.bias is None:
            return False
        w, b = layer.weight.data, layer.bias.data
        return type(w) is type(x) and type(b) is type(x) and w.dtype == b.dtype == x.dtype

    n = len(layers)
    if not fusable(0):
        return None
    params: list = []
    dropouts: list = []
    activation, i = None, 0
    while True:  # layers[i] is a fusable Linear
        params += (layers[i].weight, layers[i].bias)
        i += 1  # what follows it
        act = _STACK_ACTIVATIONS.get(type(layers[i])) if i < n else None
        if act is None or activation not in (None, act):
            break  # this Linear ends the stack
        j, drop = i + 1, None
        if j < n and type(layers[j]) is Dropout:
            drop = layers[j] if layers[j].training and layers[j].p > 0.0 else None
            j += 1
        if not fusable(j):
            break  # act is an output activation, or something else follows: stop before act
        activation, i = act, j
        dropouts.append(drop)
    if len(params) < 4:  # a single layer is F.linear's job
        return None
    return activation, params, dropouts, i


def _dropout_masks(dropouts: list, params: list, x: Tensor) -> list | None:
    """The next mask of every active Dropout in the stack (None where there is none), drawn in
    layer order, as the per-layer path draws them; None when no dropout is active."""
    if dropouts.count(None) == len(dropouts):
        return None
    check_stack([x.shape] + [p.shape for p in params])  # a bad shape draws no mask
    n, dtype, device = x.shape[0], x.dtype, x.device
    return [
        None if d is None else d.mask((n, params[2 * i].shape[0]), dtype, device)
        for i, d in enumerate(dropouts)
    ]


def _check_choice(value: Any, choices: dict, what: str) -> Any:
    if not isinstance(value, str | None) or value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {list(choices)}")
    return value


class MLP(Module):
    """A multilayer perceptron ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Every hidden layer is ``Linear`` then ``activation`` (``"relu"``, ``"sigmoid"`` or
    ``"tanh"``), then ``Dropout(dropout)`` when ``dropout > 0``; the last ``Linear`` is followed
    by ``output_activation`` (``None`` for raw logits, which is what ``F.cross_entropy`` and
    ``F.binary_cross_entropy_with_logits`` expect; or ``"sigmoid"``, ``"softmax"``,
    ``"log_softmax"``, ``"tanh"``, ``"relu"``).

    Weights: ``init=None`` gives He (Kaiming) uniform for ReLU and Glorot (Xavier) uniform for
    sigmoid/tanh; ``init`` may name any scheme of ``nn.init.SCHEMES`` (``"normal"`` is the
    classic ``N(0, 0.01^2)``, ``"pytorch"`` PyTorch's Linear default). Biases start at zero,
    except with ``"pytorch"``. All layers draw from one generator seeded by ``seed``: the same
    seed gives the same weights (on every device and dtype).

    >>> MLP([784, 50, 10], activation="sigmoid", output_activation="sigmoid").num_parameters()
    39760
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        output_activation: str | None = None,
        dropout: float = 0.0,
        init: str | None = None,
        seed: int | None = None,
        dtype: Any = None,
        device: str | None = None,
    ) -> None:
        super().__init__()
        self.sizes = _check_sizes(sizes)
        self.activation = _check_choice(activation, ACTIVATIONS, "activation")
        self.output_activation = _check_choice(
            output_activation, OUTPUT_ACTIVATIONS, "output_activation"
        )
        self.dropout = float(dropout)
        Dropout(self.dropout)  # validates p before any weight is drawn
        self.init = DEFAULT_INIT[activation] if init is None else _init.resolve_scheme(init)
        self.in_features, self.out_features = self.sizes[0], self.sizes[-1]
        device = backend.normalize_device(device)
        rng = _init.as_generator(seed)
        linears = [
            Linear(n_in, n_out, True, self.init, rng, dtype, device, nonlinearity=activation)
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=False)
        ]
        layers = Sequential()
        for i, linear in enumerate(linears):
            layers.append(linear)
            if i < len(linears) - 1:
                layers.append(ACTIVATIONS[activation]())
                if self.dropout > 0:
                    seed_i = None if seed is None else int(rng.integers(2**63))
                    layers.append(Dropout(self.dropout, seed=seed_i))
        if output_activation is not None:
            layers.append(OUTPUT_ACTIVATIONS[output_activation]())
        self.layers = layers

    @property
    def linears(self) -> list[Linear]:
        """The Linear layers, input side first."""
        return [m for m in self.layers if isinstance(m, Linear)]

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        if len(shape) != 2 or shape[1] != self.in_features:
            raise self._width_error(shape)
        layers = self.layers._layers
        # the whole stack of dense layers (and its dropout masks) as one fused op; per-layer ops
        # under detect_anomaly, so that an anomaly names the layer
        fuse = isinstance(x, Tensor) and not _state.anomaly
        plan = _stack_plan(layers, x.data) if fuse else None
        if plan is not None:
            activation, params, dropouts, start = plan
            x = mlp_stack(x, params, activation, _dropout_masks(dropouts, params, x))
            layers = layers[start:]
        i, n = 0, len(layers)
        while i < n:  # a Linear followed by a ReLU runs as one fused op
            layer = layers[i]
            if i + 1 < n and type(layer) is Linear and type(layers[i + 1]) is ReLU:
                x = F.linear(x, layer.weight, layer.bias, activation="relu")
                i += 2
            else:
                x = layer(x)
                i += 1
        return x

    def _width_error(self, shape: tuple[int, ...]) -> ValueError:
        if len(shape) != 2:
            return ValueError(
                f"MLP expects a batch of shape (N, {self.in_features}), got input shape {shape}"
                + ("; for one sample use x.reshape(1, -1)" if len(shape) == 1 else "")
            )
        return ValueError(
            f"MLP expects {self.in_features} input features, got {shape[1]} (input shape {shape})"
        )

    def extra_repr(self) -> str:
        text = " -> ".join(str(s) for s in self.sizes) + f", {self.activation}"
        if self.output_activation is not None:
            text += f", {self.output_activation} output"
        if self.dropout > 0:
            text += f", dropout={self.dropout}"
        return text

    def __repr__(self) -> str:
        head = f"MLP({self.extra_repr()}, {_format_count(self.num_parameters())})"
        return head + _children_repr(list(self.layers._members()))
