"""Fused ops for the MLP hot path: ``Linear`` (x @ W.T + b), ``LinearReLU`` and ``MLPStack``.

``MLPStack`` is a whole stack of dense layers as one differentiable op (``nn.MLP``'s hot path).

An MLP step on small layers is bound by Python overhead, not arithmetic: every op costs a graph
node, an ``apply``, a visit in backward and a gradient hand-over. ``MLPStack`` runs the classic
from-scratch forward and backward loop of ``k`` layers inside one op instead::

    forward:  h_0 = x;  h_i = act(h_{i-1} @ W_i.T + b_i)  (i < k);  out = h_{k-1} @ W_k.T + b_k
    backward: dZ_k = g;  dW_i = dZ_i.T @ h_{i-1};  db_i = sum_rows(dZ_i)
              dZ_{i-1} = (dZ_i @ W_i) * act'(h_{i-1})

``act'`` is taken from the layer's output: ``h > 0`` for ReLU, ``1 - h^2`` for tanh,
``h (1 - h)`` for the sigmoid. With dropout, hidden layer ``i`` passes on ``a_i * M_i`` (``M_i``
a constant mask) and its gradient is multiplied by ``M_i`` before ``act'(a_i)``. The hidden
activations and their gradients are the op's own temporaries, so it updates them in place, as
hand-written NumPy code does; the incoming gradient and the inputs are never modified. The
property suite checks it against the chain of single ops (``tests/test_fused.py``).
"""

from __future__ import annotations

from typing import Any

from . import backend
from .function import Function
from .ops import stable_sigmoid
from .tensor import Tensor


class Linear(Function):
    """Fused ``x @ W.T + b`` with PyTorch's weight layout ``W: (out_features, in_features)``."""

    def forward(self, x, weight, bias=None):
        if x.ndim != 2 or x.shape[1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {tuple(x.shape)} does not match weight of shape "
                f"{tuple(weight.shape)} (expected (N, {weight.shape[1]}))"
            )
        self.save_for_backward(x, weight)
        out = self.xp.matmul(x, weight.T)
        if bias is not None:
            if tuple(bias.shape) != (weight.shape[0],):
                raise ValueError(
                    f"linear: bias of shape {tuple(bias.shape)} does not match weight of shape "
                    f"{tuple(weight.shape)} (expected ({weight.shape[0]},))"
                )
            if bias.dtype == out.dtype:
                out += bias  # in place: out is the fresh product
            else:
                out = out + bias  # promotion as for x @ W.T + b
        return out

    def backward(self, g):
        x, weight = self.saved[:2]
        need = self.needs_input_grad
        gx = self.xp.matmul(g, weight) if need[0] else None  # dX = G W
        gw = self.xp.matmul(g.T, x) if need[1] else None  # dW = G^T X
        gb = self.xp.sum(g, axis=0) if len(need) > 2 and need[2] else None
        return gx, gw, gb


class LinearReLU(Linear):
    """Fused ``relu(x @ W.T + b)``: one op instead of two on the MLP's hot path."""

    def forward(self, x, weight, bias=None):
        out = self.xp.maximum(super().forward(x, weight, bias), 0.0)
        self.saved = (x, weight, out)
        return out

    def backward(self, g):
        out = self.saved[2]
        return super().backward(g * self.xp.astype(out > 0, g.dtype))


def _relu(xp: Any, z: Any) -> Any:
    uf = backend.ufuncs(z)
    return xp.maximum(z, 0.0) if uf is None else uf.maximum(z, 0, out=z)


def _tanh(xp: Any, z: Any) -> Any:
    uf = backend.ufuncs(z)
    return xp.tanh(z) if uf is None else uf.tanh(z, out=z)


def _sigmoid(xp: Any, z: Any) -> Any:
    return stable_sigmoid(xp, z)


def _relu_grad(xp: Any, dh: Any, h: Any) -> Any:
    if backend.ufuncs(dh) is not None:  # NumPy and CuPy multiply float by bool without a cast
        dh *= h > 0
    else:
        dh *= xp.astype(h > 0, dh.dtype)
    return dh


def _tanh_grad(xp: Any, dh: Any, h: Any) -> Any:
    d = h * h  # 1 - h^2, built in place in one temporary
    d -= 1.0
    d *= -1.0
    dh *= d
    return dh


def _sigmoid_grad(xp: Any, dh: Any, h: Any) -> Any:
    d = 1.0 - h  # h (1 - h)
    d *= h
    dh *= d
    return dh


ACTIVATIONS = {"relu": (_relu, _relu_grad), "tanh": (_tanh, _tanh_grad)}
ACTIVATIONS["sigmoid"] = (_sigmoid, _sigmoid_grad)


def check_stack(shapes: list[tuple[int, ...]]) -> None:
    """ValueError naming the layer when ``x, W1, b1, ..., Wk, bk`` shapes do not chain."""
    width = shapes[0][-1] if len(shapes[0]) == 2 else None
    if width is None:
        raise ValueError(f"mlp_stack: input must have shape (N, features), got {shapes[0]}")
    for i in range(1, len(shapes), 2):
        w, b = shapes[i], shapes[i + 1]
        layer = (i + 1) // 2
        if len(w) != 2 or w[1] != width:
            raise ValueError(
                f"mlp_stack: layer {layer} weight of shape {w} does not take {width} features "
                f"(expected (out_features, {width}))"
            )
        if b != (w[0],):
            raise ValueError(
                f"mlp_stack: layer {layer} bias of shape {b} does not match its weight of shape "
                f"{w} (expected ({w[0]},))"
            )
        width = w[0]


class MLPStack(Function):
    """``k`` dense layers in one op. Inputs: ``x, W_1, b_1, ..., W_k, b_k`` (PyTorch's weight
    layout ``(out_features, in_features)``); ``activation`` follows every layer but the last.
    ``masks`` (optional): one array or None per hidden layer, multiplied into its activation
    (dropout: 0 or ``1 / (1 - p)``); masks are constants, not differentiated."""

    def forward(self, x, *params, activation: str = "relu", masks=None):
        xp = self.xp
        act = ACTIVATIONS[activation][0]
        weights = params[0::2]
        masks = masks or [None] * (len(weights) - 1)
        hidden = [x]  # every layer's input: x, h_1, ..., h_{k-1} (after dropout)
        acts = []  # act' is taken from these: before dropout, except for ReLU (same arrays)
        for i, (w, b) in enumerate(zip(weights, params[1::2], strict=True)):
            z = xp.matmul(hidden[-1], w.T)
            z += b  # in place: z is this op's fresh product
            if i == len(weights) - 1:
                break
            a = act(xp, z)
            if masks[i] is not None and activation == "relu":
                a *= masks[i]  # in place: relu'(a M) = relu'(a) wherever M keeps the gradient
            acts.append(a)
            hidden.append(a if masks[i] is None or activation == "relu" else a * masks[i])
        self.activation = activation
        self.save_for_backward(hidden, weights, acts, masks)
        return z

    def backward(self, g):
        hidden, weights, acts, masks = self.saved
        xp, need = self.xp, self.needs_input_grad
        act_grad = ACTIVATIONS[self.activation][1]
        grads: list[Any] = [None] * len(need)
        dz = g
        for i in range(len(weights) - 1, -1, -1):
            h = hidden[i]
            if need[2 * i + 1]:
                grads[2 * i + 1] = xp.matmul(dz.T, h)  # dW = dZ^T H
            if need[2 * i + 2]:
                grads[2 * i + 2] = xp.sum(dz, axis=0)  # db = rows of dZ summed
            if i == 0:
                grads[0] = xp.matmul(dz, weights[0]) if need[0] else None
                break
            dh = xp.matmul(dz, weights[i])  # a fresh product: updated in place
            if masks[i - 1] is not None:
                dh *= masks[i - 1]
            dz = act_grad(xp, dh, acts[i - 1])
        return tuple(grads)


def _placed(array: Any) -> str:
    try:
        return f"on device {backend.device_of(array)!r}"
    except TypeError:
        return f"a {type(array).__name__}, not an array"


def check_masks(masks: list[Any], shapes: list[tuple[int, ...]], x: Any) -> list[Any]:
    """The masks as arrays (Tensors unwrapped); ValueError naming the layer when a mask does not
    fit its hidden layer (shape ``(N, width)``, the input array ``x``'s dtype and device)."""
    widths = [shapes[i][0] for i in range(1, len(shapes) - 2, 2)]  # hidden layer widths
    if not isinstance(masks, list | tuple):
        raise ValueError(
            f"mlp_stack: masks must be a list with one array or None per hidden layer, got a "
            f"{type(masks).__name__}"
        )
    if len(masks) != len(widths):
        raise ValueError(
            f"mlp_stack: masks must have one entry (an array or None) per hidden layer, "
            f"{len(widths)} here, got {len(masks)}"
        )
    masks = [m.data if isinstance(m, Tensor) else m for m in masks]
    for layer, (mask, width) in enumerate(zip(masks, widths, strict=True), start=1):
        if mask is None:
            continue
        if _placed(mask) != _placed(x):
            raise ValueError(
                f"mlp_stack: the mask of hidden layer {layer} is {_placed(mask)}, the input "
                f"{_placed(x)}; put both on one device"
            )
        expected = (shapes[0][0], width)
        if tuple(mask.shape) != expected or mask.dtype != x.dtype:
            raise ValueError(
                f"mlp_stack: the mask of hidden layer {layer} has shape {tuple(mask.shape)} and "
                f"dtype {backend.dtype_name(mask.dtype)}, expected shape {expected} and dtype "
                f"{backend.dtype_name(x.dtype)} (the input's)"
            )
    return masks


def mlp_stack(
    x: Any, params: list[Any], activation: str = "relu", masks: list[Any] | None = None
) -> Any:
    """Apply ``MLPStack`` to Tensors ``x`` and ``[W_1, b_1, ..., W_k, b_k]`` (checked first);
    ``masks``: None, or one dropout mask (a Tensor or array on ``x``'s device) or None per
    hidden layer."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp_stack: activation must be one of {list(ACTIVATIONS)}")
    if not params or len(params) % 2:
        raise ValueError(f"mlp_stack: params must be [W1, b1, ..., Wk, bk], got {len(params)}")
    shapes = [tuple(x.data.shape)] + [tuple(p.data.shape) for p in params]
    check_stack(shapes)
    if masks is None:
        return MLPStack.apply(x, *params, activation=activation)
    masks = check_masks(masks, shapes, x.data)
    return MLPStack.apply(x, *params, activation=activation, masks=masks)
