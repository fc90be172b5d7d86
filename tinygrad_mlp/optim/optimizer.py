"""``Optimizer``: parameter groups, lazy per-parameter state, ``step``, ``zero_grad``, state dicts.

A subclass defines ``_validate`` (check and normalise one group's hyper-parameters),
``_init_state`` (the state of a parameter the first time it has a gradient) and ``_update``
(the in-place update of one parameter). Updates work on raw arrays through their array
namespace (``backend.namespace``), so the same code runs on NumPy, CuPy and array-api-strict.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor, enable_grad


class ParameterTypeError(TypeError, ValueError):
    """A parameter list holds something that is not a Tensor.

    It is both a ``TypeError`` (what PyTorch raises) and a ``ValueError`` (the project's rule for
    bad constructor arguments), so either ``except`` clause catches it.
    """


# ---------------------------------------------------------------------- hyper-parameter checks
def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def check_lr(value: Any) -> float:
    """``value`` as a float; ValueError unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"lr must be a finite positive number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"lr must be a finite positive number, got {value!r}")
    return float(value)


def check_nonnegative(name: str, value: Any) -> float:
    """``value`` as a float; ValueError unless it is finite and >= 0."""
    value = _real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_unit_interval(name: str, value: Any, closed: bool = False) -> float:
    """``value`` as a float in [0, 1) (or [0, 1] with ``closed=True``)."""
    value = _real(name, value)
    if value < 0 or value > 1 or (value == 1 and not closed):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def check_flag(name: str, value: Any) -> bool:
    """``value`` when it is a bool (NumPy bools included); ValueError otherwise."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def with_weight_decay(grad: Any, param: Any, weight_decay: float) -> Any:
    """``grad + weight_decay * param`` (the gradient of an L2 penalty added) as one new array.

    The product is made first and the gradient added into it in place: the same bits as the
    plain expression with one temporary instead of two. The stored gradient is never modified.
    """
    decayed = weight_decay * param
    if decayed.dtype != grad.dtype:  # e.g. a float64 .grad set by hand on a float32 parameter
        return grad + decayed
    decayed += grad
    return decayed


# ---------------------------------------------------------------------- parameter lists
def _param_list(params: Any, group: int) -> list[Tensor]:
    """The tensors of one group as a list, each checked (Tensor, requires grad, leaf, unique)."""
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, set | frozenset | dict):
        raise ParameterTypeError(
            f"the params of param group {group} must be an ordered sequence of Tensors, "
            f"got a {type(params).__name__} (its order is not reproducible)"
        )
    else:
        try:
            params = list(params)
        except TypeError:
            raise ParameterTypeError(
                f"the params of param group {group} must be a Tensor or an iterable of Tensors, "
                f"got {type(params).__name__}"
            ) from None
    if not params:
        raise ValueError(f"param group {group} has an empty parameter list")
    seen: dict[int, int] = {}
    for i, p in enumerate(params):
        where = f"parameter {i} of param group {group}"
        if not isinstance(p, Tensor):
            raise ParameterTypeError(f"{where} is a {type(p).__name__}, not a Tensor")
        if not p.requires_grad:
            raise ValueError(
                f"{where} (shape {p.shape}) does not require grad; create it with "
                "requires_grad=True (or call .requires_grad_())"
            )
        if not p.is_leaf:
            raise ValueError(
                f"{where} (shape {p.shape}) is not a leaf tensor (it was computed from others); "
                "optimize the leaves of the graph"
            )
        if id(p) in seen:
            raise ValueError(
                f"{where} (shape {p.shape}) is the same tensor as parameter {seen[id(p)]}; "
                "each tensor may appear only once"
            )
        seen[id(p)] = i
    return params


def _as_groups(params: Any) -> list[dict[str, Any]]:
    """The ``params`` argument of an optimizer as a list of group dicts."""
    if isinstance(params, Tensor):
        raise ParameterTypeError(
            "params must be an iterable of Tensors or of dicts, got a single Tensor; "
            "wrap it in a list"
        )
    if isinstance(params, dict):
        raise ParameterTypeError("params is a dict; pass a list of dicts for param groups")
    if not isinstance(params, Iterable):
        hint = "; pass model.parameters()" if hasattr(params, "parameters") else ""
        raise ParameterTypeError(
            f"params must be an iterable of Tensors or of dicts, got {type(params).__name__}{hint}"
        )
    items = list(params)
    if not items:
        raise ValueError("the optimizer got an empty parameter list")
    dicts = [isinstance(item, dict) for item in items]
    if all(dicts):
        return items
    if any(dicts):
        raise ParameterTypeError("params mixes Tensors and param-group dicts; use one or the other")
    return [{"params": items}]


# ---------------------------------------------------------------------- state-dict helpers
def _host_copy(value: Any) -> Any:
    """A host NumPy copy of an array; numbers as they are; tuples as lists."""
    if backend.is_array(value):
        return np.array(backend.to_numpy(value), copy=True)
    if isinstance(value, tuple):
        return list(value)
    return value


def _restore_hyper(value: Any, current: Any) -> Any:
    """A saved hyper-parameter back in the type the optimizer uses (lists -> tuples)."""
    if isinstance(current, tuple) and isinstance(value, list | tuple):
        return tuple(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class Optimizer:
    """Base class of the optimizers: param groups, lazy state, ``step`` and state dicts.

    ``params`` is an iterable of Tensors (one group) or of dicts, each with a ``"params"`` key and
    optional hyper-parameters overriding ``defaults``. ``state`` maps each parameter Tensor to its
    per-parameter state, created the first time ``step`` sees a gradient for it.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults: dict[str, Any] = self._checked(dict(defaults), "")
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        for group in _as_groups(params):
            self.add_param_group(group)
        backend.keep_freed_host_memory()  # no page faults from a step's temporaries

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v!r}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines) + "\n)"

    # ------------------------------------------------------------------ groups
    def _validate(self, group: dict[str, Any]) -> None:
        """Check and normalise one group's hyper-parameters in place (subclasses override)."""

    def _checked(self, group: dict[str, Any], where: str) -> dict[str, Any]:
        try:
            self._validate(group)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}{where}: {exc}") from None
        return group

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (a dict with ``"params"``); missing hyper-parameters take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        index = len(self.param_groups)
        if "params" not in param_group:
            raise ValueError(f"param group {index} has no 'params' key")
        params = _param_list(param_group["params"], index)
        hyper = {k: v for k, v in param_group.items() if k != "params"}
        for key, value in self.defaults.items():
            hyper.setdefault(key, value)
        hyper = self._checked(hyper, f" (param group {index})")
        owner = {id(p): g for g, group in enumerate(self.param_groups) for p in group["params"]}
        for i, p in enumerate(params):
            if id(p) in owner:
                raise ValueError(
                    f"parameter {i} of param group {index} (shape {p.shape}) is already in "
                    f"param group {owner[id(p)]}; a tensor may belong to one group only"
                )
        self.param_groups.append({"params": params, **hyper})

    # ------------------------------------------------------------------ gradients and steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``grad = None``, or (``set_to_none=False``) a new zeros array.

        The old gradient arrays are never modified (whoever holds them keeps their values).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad.data
                    zeros = backend.namespace(g).zeros_like(g)
                    p.grad = Tensor(zeros, dtype=backend.dtype_name(g.dtype))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` or None.

        ``closure`` (optional) re-evaluates the model, calls ``backward`` and returns the loss; it
        runs with gradient recording on, even when ``step`` is called under ``no_grad()``.
        Parameters whose ``grad`` is None are skipped (their state is not created or advanced).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state_of, update = self.state, self._update
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.data
                if grad.shape != p.data.shape:
                    raise ValueError(
                        f"{type(self).__name__}.step: a parameter of shape {p.shape} has a "
                        f"gradient of shape {tuple(grad.shape)}"
                    )
                state = state_of.get(p)
                if state is None:
                    state = state_of[p] = self._init_state(p, group)
                update(p, grad, state, group)
        return loss

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state of ``p`` before its first update (subclasses override)."""
        return {}

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _update (or step)")

    # ------------------------------------------------------------------ state dicts
    def _indexed_params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: numpy array | number}}, "param_groups": [...]}``.

        Parameters are referred to by their position across the groups (0, 1, ...), as in
        PyTorch; arrays are host NumPy copies, so later steps do not change the result.
        """
        index = {id(p): i for i, p in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            saved = {k: _host_copy(v) for k, v in group.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {
            index[id(p)]: {name: _host_copy(v) for name, v in self.state[p].items()}
            for p in self._indexed_params()
            if p in self.state
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` (keys may be int or str).

        Arrays are copied onto each parameter's device and dtype. The groups must match this
        optimizer's in number and size, and each array the parameter's shape; otherwise a
        ValueError says what differs and nothing is changed.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"the optimizer state_dict has no {key!r} key")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"the state_dict has {len(saved_groups)} param groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        lookup: dict[int, Tensor] = {}
        new_groups = []
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if "params" not in saved:
                raise ValueError(f"param group {g} of the state_dict has no 'params' key")
            ids = list(saved["params"])
            if len(ids) != len(group["params"]):
                raise ValueError(
                    f"param group {g} has {len(ids)} parameters in the state_dict and "
                    f"{len(group['params'])} in this optimizer"
                )
            lookup.update((int(i), p) for i, p in zip(ids, group["params"], strict=True))
            hyper = {k: _restore_hyper(v, group.get(k)) for k, v in saved.items() if k != "params"}
            for key, value in group.items():
                hyper.setdefault(key, value)
            hyper.pop("params")
            new_groups.append(self._checked(hyper, f" (param group {g} of the state_dict)"))
        new_state = {}
        for key, values in dict(state_dict["state"]).items():
            index = _state_index(key)
            if index not in lookup:
                raise ValueError(
                    f"the state_dict has state for parameter {index}, which none of its "
                    f"param groups lists ({len(lookup)} parameters)"
                )
            p = lookup[index]
            new_state[p] = {name: _to_param(p, index, name, v) for name, v in values.items()}
        for group, hyper in zip(self.param_groups, new_groups, strict=True):
            params = group["params"]
            group.clear()
            group.update({"params": params, **hyper})
        self.state = new_state


def _state_index(key: Any) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ValueError(f"state_dict state keys must be parameter indices, got {key!r}") from None


def _to_param(p: Tensor, index: int, name: str, value: Any) -> Any:
    """A saved state entry on ``p``'s device and dtype (arrays) or as a Python number."""
    if name == "step":
        return int(np.asarray(value).item())
    if backend.is_array(value) or isinstance(value, np.ndarray):
        host = np.array(backend.to_numpy(value) if backend.is_array(value) else value, copy=True)
        if host.shape != p.shape:
            raise ValueError(
                f"state {name!r} of parameter {index} has shape {host.shape} in the state_dict, "
                f"the parameter has shape {p.shape}"
            )
        return backend.asarray(host, dtype=backend.dtype_name(p.dtype), device=p.device)
    if isinstance(value, np.generic):
        return value.item()
    return value
