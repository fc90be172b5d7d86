"""Stochastic gradient descent with optional (Nesterov) momentum, as in ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _real,
    check_flag,
    check_lr,
    check_nonnegative,
    with_weight_decay,
)


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (PyTorch's formulation).

    With learning rate ``lr`` = gamma, ``momentum`` = mu, ``dampening`` = tau and
    ``weight_decay`` = lambda, at step t with gradient g_t::

        g_t <- g_t + lambda * theta_{t-1}                  (if lambda != 0; L2 penalty)
        if mu != 0:
            b_t <- g_t                                     (t = 1: the buffer starts as g)
            b_t <- mu * b_{t-1} + (1 - tau) * g_t          (t > 1)
            g_t <- g_t + mu * b_t    if nesterov    else    g_t <- b_t
        theta_t <- theta_{t-1} - gamma * g_t

    State per parameter: ``momentum_buffer`` (only when momentum is used). Nesterov momentum
    needs ``momentum > 0`` and ``dampening == 0``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        group["lr"] = check_lr(group["lr"])
        group["momentum"] = check_nonnegative("momentum", group["momentum"])
        group["dampening"] = _real("dampening", group["dampening"])
        group["nesterov"] = check_flag("nesterov", group["nesterov"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']!r} and dampening={group['dampening']!r}"
            )

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        mu, wd = group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = with_weight_decay(grad, p.data, wd)  # a new array
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # first step with momentum: the buffer is a copy of g
                fresh = wd != 0  # grad is already our own temporary
                buf = grad if fresh else backend.namespace(grad).asarray(grad, copy=True)
                state["momentum_buffer"] = buf
            else:
                buf *= mu
                damp = 1.0 - group["dampening"]
                backend.add_scaled_(buf, grad, damp)
            grad = grad + mu * buf if group["nesterov"] else buf
        backend.add_scaled_(p.data, grad, -group["lr"])  # p -= lr * g, in one pass
