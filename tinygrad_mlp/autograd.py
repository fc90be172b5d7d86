"""The backward engine: walk the graph from a root Tensor and hand gradients down to the leaves.

The order is iterative (no recursion, so a 100,000-op chain works): a chain (each node with at
most one non-leaf input, such as loss <- fused MLP stack) is followed directly, any other graph
gets a topological sort. Each op's ``backward`` gets its output's gradient; ``reduce_grad`` (the
only place that does so) reduces broadcast gradients to each input's shape and dtype; leaves
accumulate them in ``.grad``. ``Tensor.backward`` is the entry point.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import backend
from .grad_mode import _state
from .tensor import Tensor


def reduce_grad(grad: Any, like: Tensor) -> Any:
    """The single place that reduces a broadcast gradient to its input's shape and dtype."""
    target = like.data.shape
    grad = backend.as_array(grad)
    if grad.shape != target:
        extra = grad.ndim - len(target)
        if extra < 0:
            raise ValueError(
                f"gradient of shape {tuple(grad.shape)} for an input of shape {target}"
            )
        axes = tuple(range(extra)) + tuple(
            i + extra for i, n in enumerate(target) if n == 1 and grad.shape[i + extra] != 1
        )
        xp = backend.namespace(grad)
        if axes:
            grad = xp.sum(grad, axis=axes, keepdims=True)
        grad = xp.reshape(grad, target)
    if grad.dtype != like.data.dtype:
        grad = backend.namespace(grad).astype(grad, like.data.dtype)
    return grad


def _initial_grad(root: Tensor, grad: Any) -> Any:
    data = root.data
    if grad is None:
        if math.prod(data.shape) != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element tensor, this one has shape "
                f"{root.shape}; pass grad= of that shape (or reduce with .sum()/.mean())"
            )
        return backend.namespace(data).ones(data.shape, dtype=data.dtype)
    xp = root.xp
    grad = grad.data if isinstance(grad, Tensor) else grad
    grad = backend.asarray(grad, dtype=backend.dtype_name(root.dtype), device=root.device)
    if tuple(grad.shape) != root.shape:
        raise ValueError(
            f"backward(grad=...) got a gradient of shape {tuple(grad.shape)} for a tensor of shape "
            f"{root.shape}; they must be equal"
        )
    return xp.asarray(grad, copy=True)


def _toposort(root: Tensor) -> list[Tensor]:
    """Non-leaf tensors reachable from ``root``, each after every tensor that uses it."""
    chain = _chain(root)
    return chain if chain is not None else _toposort_graph(root)


def _chain(root: Tensor) -> list[Tensor] | None:
    """The non-leaf tensors from ``root`` down when each has at most one non-leaf input, once (a
    chain, such as loss <- fused MLP stack: that order needs no visited set); None otherwise."""
    order: list[Tensor] = []
    node: Tensor | None = root
    while node is not None:
        inputs = _inputs_of(node)
        order.append(node)
        node = None
        for inp in inputs:
            if inp._ctx is not None:
                if node is not None:
                    return None  # a second non-leaf input (or the same one twice)
                node = inp
    return order


def _toposort_graph(root: Tensor) -> list[Tensor]:
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for inp in _inputs_of(node):
            if inp._ctx is not None and id(inp) not in visited:
                stack.append((inp, False))
    order.reverse()
    return order


def _inputs_of(node: Tensor) -> tuple[Tensor, ...]:
    inputs = node._ctx.inputs
    if inputs is None:
        raise RuntimeError(
            "trying to backward through the graph a second time (its saved arrays were freed "
            "by the first backward); call backward(retain_graph=True) the first time"
        )
    return inputs


def _run_backward(root: Tensor, seed: Any, retain_graph: bool) -> None:
    grads: dict[int, Any] = {id(root): seed}
    stored: set[int] = set()
    check = _state.anomaly
    for node in _toposort(root):
        ctx = node._ctx
        grad = grads.pop(id(node), None)
        if grad is not None:
            input_grads = ctx.backward(grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for inp, g, need in zip(ctx.inputs, input_grads, ctx.needs_input_grad, strict=False):
                if not need or g is None:
                    continue
                data = inp.data
                if g.shape != data.shape or g.dtype != data.dtype:
                    g = reduce_grad(g, inp)
                elif type(g) is not np.ndarray:  # NumPy 0-d arithmetic gives scalars: as arrays
                    g = backend.as_array(g)
                if check:
                    _check_backward(ctx, g)
                if inp._ctx is None:
                    _accumulate_leaf(inp, g, stored)
                else:
                    key = id(inp)
                    previous = grads.get(key)
                    grads[key] = g if previous is None else backend.as_array(previous + g)
        if not retain_graph:
            ctx.saved = None
            ctx.inputs = None


def _check_backward(ctx: Any, grad: Any) -> None:
    from .function import check_finite

    check_finite(grad, f"{type(ctx).__name__}.backward")


def _accumulate_leaf(leaf: Tensor, grad: Any, stored: set[int]) -> None:
    """Add ``grad`` into ``leaf.grad``; never lets two leaves (or a view) share one array."""
    if leaf.grad is None:
        if id(grad) in stored or getattr(grad, "base", 0) is not None:
            grad = backend.namespace(grad).asarray(grad, copy=True)
        stored.add(id(grad))
        leaf.grad = Tensor._make(grad, False, None)
    else:
        # out of place: no other tensor can be holding the old array
        leaf.grad.data = backend.as_array(leaf.grad.data + grad)
