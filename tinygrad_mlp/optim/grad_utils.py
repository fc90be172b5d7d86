"""Gradient clipping by global norm and the L1 penalty."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from .. import backend
from ..tensor import Tensor
from .optimizer import ParameterTypeError, check_nonnegative


def _tensors(params: Tensor | Iterable[Tensor], where: str) -> list[Tensor]:
    if isinstance(params, Tensor):
        return [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"{where}: params must be a Tensor or an iterable of Tensors, "
            f"got {type(params).__name__}"
        ) from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            kind = type(p).__name__
            raise ParameterTypeError(f"{where}: parameter {i} is a {kind}, not a Tensor")
    return params


def _norm_order(norm_type: Any) -> float:
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise ValueError(f"norm_type must be a positive number or inf, got {norm_type!r}")
    if not norm_type > 0:  # also refuses NaN
        raise ValueError(f"norm_type must be a positive number or inf, got {norm_type!r}")
    return float(norm_type)


def clip_grad_norm_(
    params: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = True,
) -> float:
    """Scale all gradients together so that their global norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients concatenated into one vector
    (``inf``: the largest absolute entry); parameters without a gradient are ignored. When
    ``max_norm / (total + 1e-6) < 1`` every gradient is multiplied in place by that factor
    (as in PyTorch); otherwise they are left alone. Returns the total norm *before* clipping
    (0.0 when no parameter has a gradient).

    A non-finite total norm (NaN/Inf gradients or overflow) raises ``FloatingPointError``; with
    ``error_if_nonfinite=False`` the gradients are left unchanged and the non-finite norm is
    returned, so the caller can skip the step.
    """
    params = _tensors(params, "clip_grad_norm_")
    max_norm = check_nonnegative("max_norm", max_norm)
    order = _norm_order(norm_type)
    grads = [p.grad.data for p in params if p.grad is not None]
    totals: dict[str, Any] = {}  # device -> 0-d array, so each device syncs with the host once
    for g in grads:
        if math.prod(g.shape) == 0:
            continue
        xp = backend.namespace(g)
        if order == math.inf:
            part = xp.max(xp.abs(g))
        elif order == 2.0:
            part = xp.sum(g * g)
        elif order == 1.0:
            part = xp.sum(xp.abs(g))
        else:
            part = xp.sum(xp.abs(g) ** order)
        device = backend.device_of(g)
        previous = totals.get(device)
        if previous is None:
            totals[device] = part
        elif order == math.inf:
            totals[device] = xp.maximum(previous, part)
        else:
            totals[device] = previous + part
    parts = [float(v) for v in totals.values()]
    if not parts:
        return 0.0
    if order == math.inf:
        total = max(parts)
    else:
        total = math.fsum(parts)
        total = math.sqrt(total) if order == 2.0 else total ** (1.0 / order)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise FloatingPointError(
                f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {total} "
                "(NaN or Inf in a gradient, or overflow); pass error_if_nonfinite=False to skip "
                "clipping and get the norm back"
            )
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            if p.grad is not None:
                p.grad.data *= coef
    return total


def l1_penalty(params: Tensor | Iterable[Tensor], weight: float) -> Tensor:
    """``weight * sum_p sum |p|``: a differentiable L1 penalty to add to the loss.

    Its gradient is ``weight * sign(p)`` (0 where p == 0). For an L2 penalty use the optimizers'
    ``weight_decay`` instead. Returns a scalar Tensor on the parameters' device.
    """
    params = _tensors(params, "l1_penalty")
    weight = check_nonnegative("weight", weight)
    if not params:
        raise ValueError("l1_penalty got an empty parameter list")
    total = None
    for p in params:
        term = p.abs().sum()
        total = term if total is None else total + term
    return total * weight
