"""``gradcheck``: compare autograd gradients with float64 central differences.

For every element ``w`` of every parameter the numerical gradient is
``(L(w + eps) - L(w - eps)) / (2 eps)`` and the two agree when
``|autograd - numeric| <= atol + rtol * |numeric|`` (as ``numpy.allclose``). The parameters are
temporarily replaced by float64 copies, so a float32 model can be checked; their original arrays
and gradients are put back afterwards, also when ``loss_fn`` raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import backend
from .nn import MLP, Linear, Module, Sequential
from .tensor import Tensor, no_grad


@dataclass(frozen=True)
class ParamCheck:
    """The comparison for one parameter; ``worst_*`` describe its largest violation."""

    name: str
    shape: tuple[int, ...]
    total: int
    passed: int
    worst_index: tuple[int, ...]
    worst_autograd: float
    worst_numeric: float

    @property
    def ok(self) -> bool:
        return self.passed == self.total

    def __str__(self) -> str:
        line = f"{self.name}: {self.passed} of {self.total} gradients numerically equal"
        if not self.ok:
            line += (
                f"; worst at index {self.worst_index}: autograd {self.worst_autograd:.6g}, "
                f"numeric {self.worst_numeric:.6g}"
            )
        return line


@dataclass(frozen=True)
class GradcheckReport:
    """Per-parameter results; truthy when every gradient agrees. ``str()`` gives one line each."""

    results: tuple[ParamCheck, ...]
    eps: float
    atol: float
    rtol: float

    def __bool__(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def ok(self) -> bool:
        return bool(self)

    @property
    def failures(self) -> list[ParamCheck]:
        return [r for r in self.results if not r.ok]

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.results)


def _named_params(params: Any) -> list[tuple[str, Tensor]]:
    """(name, tensor) pairs: "layer k weight/bias" for an MLP/Sequential of Linear layers."""
    if isinstance(params, Module):
        named = params.named_parameters()
        if isinstance(params, MLP | Sequential):
            layer_names = {}
            linears = [m for m in params.modules() if isinstance(m, Linear)]
            for k, layer in enumerate(linears, start=1):
                layer_names[id(layer.weight)] = f"layer {k} weight"
                if layer.bias is not None:
                    layer_names[id(layer.bias)] = f"layer {k} bias"
            if all(id(p) in layer_names for _, p in named):
                named = [(layer_names[id(p)], p) for _, p in named]
        pairs = list(named)
    elif isinstance(params, Mapping):
        pairs = [(str(k), v) for k, v in params.items()]
    elif isinstance(params, Tensor):
        pairs = [("param 0", params)]
    else:
        pairs = [(f"param {i}", p) for i, p in enumerate(params)]
    seen: set[int] = set()
    out = []
    for name, p in pairs:
        if not isinstance(p, Tensor):
            raise TypeError(f"gradcheck: {name} is a {type(p).__name__}, not a Tensor")
        if not backend.is_floating(p.dtype) or not p.requires_grad:
            raise ValueError(f"gradcheck: {name} must be a float tensor with requires_grad=True")
        if id(p) not in seen:
            seen.add(id(p))
            out.append((name, p))
    if not out:
        raise ValueError("gradcheck: no parameters to check")
    return out


def _scalar_loss(loss_fn: Callable[[], Tensor]) -> Tensor:
    loss = loss_fn()
    if not isinstance(loss, Tensor):
        raise TypeError(f"loss_fn must return a Tensor, got {type(loss).__name__}")
    if loss.size != 1:
        raise ValueError(f"loss_fn must return a one-element Tensor, got shape {loss.shape}")
    if backend.dtype_name(loss.dtype) != "float64":
        raise ValueError(
            f"loss_fn returned a {backend.dtype_name(loss.dtype)} loss although the parameters "
            "were cast to float64; the loss must be computed from the given parameters only, "
            "without casting to float32"
        )
    return loss


def _graph_leaves(root: Tensor) -> list[Tensor]:
    """Leaf tensors requiring grad that ``root``'s graph reaches (their .grad backward touches)."""
    leaves, seen, stack = [], set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        ctx = node._ctx
        if ctx is None:
            if node.requires_grad:
                leaves.append(node)
        else:
            stack.extend(ctx.inputs or ())
    return leaves


def _autograd(loss_fn: Callable[[], Tensor], params: list[Tensor]) -> list[np.ndarray]:
    """d loss / d param for each param (zeros where the loss does not depend on it)."""
    loss = _scalar_loss(loss_fn)
    if not loss.requires_grad:
        return [np.zeros(p.shape) for p in params]
    others = [t for t in _graph_leaves(loss) if not any(t is p for p in params)]
    kept = [t.grad for t in others]
    try:
        loss.backward()
        return [np.zeros(p.shape) if p.grad is None else p.grad.numpy().copy() for p in params]
    finally:
        for t, g in zip(others, kept, strict=True):
            t.grad = g


def _numeric(loss_fn: Callable[[], Tensor], p: Tensor, host: np.ndarray, eps: float) -> np.ndarray:
    """Central differences for every element of ``p`` (whose values live in ``host``)."""
    device, flat, out = p.device, host.reshape(-1), np.empty(host.size)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        p.data = backend.asarray(host, dtype="float64", device=device)
        plus = _scalar_loss(loss_fn).item()
        flat[i] = original - eps
        p.data = backend.asarray(host, dtype="float64", device=device)
        minus = _scalar_loss(loss_fn).item()
        flat[i] = original
        out[i] = (plus - minus) / (2.0 * eps)
    p.data = backend.asarray(host, dtype="float64", device=device)
    return out.reshape(host.shape)


def _compare(name: str, auto: np.ndarray, num: np.ndarray, atol: float, rtol: float) -> ParamCheck:
    excess = np.abs(auto - num) - (atol + rtol * np.abs(num))
    excess = np.where(np.isnan(excess), np.inf, excess)  # NaN never counts as equal
    worst = np.unravel_index(int(np.argmax(excess)), auto.shape) if auto.size else ()
    return ParamCheck(
        name=name,
        shape=tuple(auto.shape),
        total=int(auto.size),
        passed=int(np.sum(excess <= 0)),
        worst_index=tuple(int(i) for i in worst),
        worst_autograd=float(auto[worst]) if auto.size else 0.0,
        worst_numeric=float(num[worst]) if auto.size else 0.0,
    )


def gradcheck(
    loss_fn: Callable[[], Tensor],
    params: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> GradcheckReport:
    """Check autograd against float64 central differences for every element of ``params``.

    ``loss_fn()`` takes no arguments and returns a scalar Tensor computed from ``params`` (a
    Module, a list of Tensors or a dict name -> Tensor). It must be deterministic: put dropout
    in eval mode first. Each parameter's data is swapped for a float64 copy while checking and
    restored afterwards, together with every ``.grad`` the check touched.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    named = _named_params(params)
    tensors = [p for _, p in named]
    saved = [(p.data, p.grad) for p in tensors]
    try:
        hosts = []
        for p in tensors:
            host = np.array(p.numpy(), dtype=np.float64, copy=True)
            hosts.append(host)
            p.data = backend.asarray(host, dtype="float64", device=p.device)
            p.grad = None
        with no_grad():
            first, second = _scalar_loss(loss_fn).item(), _scalar_loss(loss_fn).item()
        same = math.isclose(first, second, rel_tol=1e-10, abs_tol=1e-12)
        if not same and not math.isnan(first):  # a NaN loss is reported by the comparison
            raise ValueError(
                f"loss_fn is not deterministic ({first!r} then {second!r} for the same "
                "parameters); call model.eval() to turn dropout off before gradcheck"
            )
        analytic = _autograd(loss_fn, tensors)
        for p in tensors:
            p.grad = None
        results = []
        with no_grad():
            for (name, p), host, auto in zip(named, hosts, analytic, strict=True):
                results.append(_compare(name, auto, _numeric(loss_fn, p, host, eps), atol, rtol))
    finally:
        for p, (data, grad) in zip(tensors, saved, strict=True):
            p.data, p.grad = data, grad
    return GradcheckReport(tuple(results), eps, atol, rtol)
