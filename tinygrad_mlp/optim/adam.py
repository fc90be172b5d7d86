"""Adam and AdamW (decoupled weight decay), as in ``torch.optim.Adam`` / ``torch.optim.AdamW``."""

from __future__ import annotations

import math
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


def _check_betas(value: Any) -> tuple[float, float]:
    try:
        beta1, beta2 = value
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {value!r}") from None
    return check_unit_interval("betas[0]", beta1), check_unit_interval("betas[1]", beta2)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba), with PyTorch's bias correction and optional AMSGrad.

    With ``lr`` = gamma, ``betas`` = (beta1, beta2), ``eps`` = epsilon, ``weight_decay`` =
    lambda; m_0 = v_0 = v_0^max = 0; at step t (counted per parameter from 1)::

        g_t <- g_t + lambda * theta_{t-1}                    (if lambda != 0; L2 penalty)
        m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
        if amsgrad:  v_t^max <- max(v_{t-1}^max, v_t);  u_t = v_t^max    else  u_t = v_t
        theta_t <- theta_{t-1} - gamma_t * m_t / (sqrt(u_t) / sqrt(1 - beta2^t) + eps)
        where gamma_t = gamma / (1 - beta1^t)

    which is gamma * m_hat / (sqrt(u_hat) + eps) with m_hat = m / (1 - beta1^t) and
    u_hat = u / (1 - beta2^t), written as torch computes it. The AMSGrad maximum is taken over
    the raw (not bias-corrected) second moments, as PyTorch does.

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v) and
    ``max_exp_avg_sq`` (v^max, only with ``amsgrad=True``).
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        group["lr"] = check_lr(group["lr"])
        group["betas"] = _check_betas(group["betas"])
        group["eps"] = check_nonnegative("eps", group["eps"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        group["amsgrad"] = check_flag("amsgrad", group["amsgrad"])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        xp = backend.namespace(p.data)
        state: dict[str, Any] = {
            "step": 0,
            "exp_avg": xp.zeros_like(p.data),
            "exp_avg_sq": xp.zeros_like(p.data),
        }
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        return state

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.namespace(p.data)
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if self.decoupled_weight_decay:
                p.data *= 1.0 - lr * wd
            else:
                grad = with_weight_decay(grad, p.data, wd)  # a new array
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        backend.add_scaled_(m, grad, 1.0 - beta1)
        v *= beta2
        tmp = grad * grad  # the update's one temporary: reused below (out)
        tmp *= 1.0 - beta2
        v += tmp
        out = backend.scratch(tmp, v)
        if group["amsgrad"]:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:  # amsgrad switched on after the first step
                v_max = state["max_exp_avg_sq"] = xp.zeros_like(p.data)
            uf = backend.ufuncs(v_max)  # in place, as in PyTorch
            if uf is not None:
                uf.maximum(v_max, v, out=v_max)
            else:  # array-api-strict: no out=
                v_max[...] = xp.maximum(v_max, v)
            v = v_max
        denom = xp.sqrt(v, **out)
        denom /= math.sqrt(1.0 - beta2**t)
        denom += eps
        step_size = lr / (1.0 - beta1**t)
        backend.add_scaled_(p.data, xp.divide(m, denom, **out), -step_size)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    The decay shrinks the parameter directly instead of entering the gradient, so it never
    accumulates in the moments. With the notation of :class:`Adam`, at step t::

        theta_{t-1} <- theta_{t-1} * (1 - gamma * lambda)      (first, before the Adam step)
        m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t              (g_t without any decay term)
        v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
        if amsgrad:  v_t^max <- max(v_{t-1}^max, v_t);  u_t = v_t^max    else  u_t = v_t
        theta_t <- theta_{t-1} - gamma_t * m_t / (sqrt(u_t) / sqrt(1 - beta2^t) + eps)
        where gamma_t = gamma / (1 - beta1^t)

    Default ``weight_decay`` is 1e-2 (Adam's is 0). State as in :class:`Adam`.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
