"""RMSprop (Hinton), with the centered variant (Graves), as in ``torch.optim.RMSprop``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    check_flag,
    check_lr,
    check_nonnegative,
    check_unit_interval,
    with_weight_decay,
)


class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    With ``lr`` = gamma, ``alpha`` (smoothing), ``eps`` = epsilon, ``weight_decay`` = lambda,
    ``momentum`` = mu; v_0 = b_0 = g^ave_0 = 0; at step t::

        g_t <- g_t + lambda * theta_{t-1}                  (if lambda != 0; L2 penalty)
        v_t <- alpha * v_{t-1} + (1 - alpha) * g_t^2
        w_t <- v_t
        if centered:
            g^ave_t <- alpha * g^ave_{t-1} + (1 - alpha) * g_t
            w_t <- w_t - (g^ave_t)^2
        if mu > 0:
            b_t <- mu * b_{t-1} + g_t / (sqrt(w_t) + eps)
            theta_t <- theta_{t-1} - gamma * b_t
        else:
            theta_t <- theta_{t-1} - gamma * g_t / (sqrt(w_t) + eps)

    ``eps`` is added outside the square root (TensorFlow adds it inside). State per parameter:
    ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, when mu > 0), ``grad_avg``
    (g^ave, when centered).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        group["lr"] = check_lr(group["lr"])
        group["alpha"] = check_unit_interval("alpha", group["alpha"], closed=True)
        group["eps"] = check_nonnegative("eps", group["eps"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        group["momentum"] = check_nonnegative("momentum", group["momentum"])
        group["centered"] = check_flag("centered", group["centered"])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "square_avg": backend.namespace(p.data).zeros_like(p.data)}

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.namespace(p.data)
        alpha, wd, mu = group["alpha"], group["weight_decay"], group["momentum"]
        state["step"] += 1
        if wd != 0:
            grad = with_weight_decay(grad, p.data, wd)  # a new array
        v = state["square_avg"]
        v *= alpha
        tmp = grad * grad  # the update's one temporary: reused below (out)
        tmp *= 1.0 - alpha
        v += tmp
        out = backend.scratch(tmp, v)
        if group["centered"]:
            g_avg = state.get("grad_avg")
            if g_avg is None:
                g_avg = state["grad_avg"] = xp.zeros_like(p.data)
            g_avg *= alpha
            backend.add_scaled_(g_avg, grad, 1.0 - alpha)
            variance = xp.subtract(v, xp.multiply(g_avg, g_avg, **out), **out)
            denom = xp.sqrt(variance, **out)
        else:
            denom = xp.sqrt(v, **out)
        denom += group["eps"]
        step = xp.divide(grad, denom, **out)
        if mu > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.zeros_like(p.data)
            buf *= mu
            buf += step
            step = buf
        backend.add_scaled_(p.data, step, -group["lr"])
