"""``Parameter`` and ``Module``: the base of every layer and model.

A module finds its parameters and sub-modules by walking its attributes (and the lists, tuples
and dicts held in them) in the order they were first assigned, so there is no registration step:

    class Net(Module):
        def __init__(self):
            self.fc1 = Linear(4, 8)
            self.blocks = [Linear(8, 8), Linear(8, 8)]
            self.head = {"out": Linear(8, 2)}

        def forward(self, x):
            ...

gives the names ``fc1.weight``, ``fc1.bias``, ``blocks.0.weight``, ..., ``head.out.bias``.
A parameter (or module) reached twice is listed once, under the first name found.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates; it always requires grad."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, device: str | None = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _scan(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Parameters and Modules inside ``value`` (itself, or held in lists/tuples/dicts)."""
    if isinstance(value, Parameter | Module):
        yield name, value
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _scan(f"{name}.{i}", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _scan(f"{name}.{key}", item)


def _format_count(n: int) -> str:
    return f"{n:,} parameter" + ("" if n == 1 else "s")


class Module:
    """Base class of layers and models: subclass it, assign layers/Parameters, define forward.

    Calling ``super().__init__()`` is optional: nothing needs registering.
    """

    training: bool = True  # class default; train()/eval() set it on each instance

    def __init__(self) -> None:
        self.training = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ discovery
    def _members(self) -> Iterator[tuple[str, Any]]:
        """Direct Parameters and sub-Modules with their names, in attribute order."""
        for name, value in vars(self).items():
            yield from _scan(name, value)

    def named_children(self) -> list[tuple[str, Module]]:
        """The direct sub-modules with their names (shared ones once)."""
        seen: set[int] = set()
        out = []
        for name, value in self._members():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                out.append((name, value))
        return out

    def named_modules(self) -> list[tuple[str, Module]]:
        """This module (name ``""``) and every sub-module, depth first, each once."""
        out: list[tuple[str, Module]] = []
        self._walk_modules("", out, set())
        return out

    def _walk_modules(self, prefix: str, out: list, seen: set[int]) -> None:
        seen.add(id(self))
        out.append((prefix, self))
        for name, value in self._members():
            if isinstance(value, Module) and id(value) not in seen:
                value._walk_modules(f"{prefix}.{name}" if prefix else name, out, seen)

    def modules(self) -> list[Module]:
        """This module and every sub-module, depth first, each once."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """Every parameter with its dotted name (``"layers.0.weight"``), each once, in order."""
        out: list[tuple[str, Parameter]] = []
        self._walk_parameters("", out, set(), set())
        return out

    def _walk_parameters(self, prefix: str, out: list, seen_p: set[int], seen_m: set[int]) -> None:
        seen_m.add(id(self))
        for name, value in self._members():
            if isinstance(value, Parameter):
                if id(value) not in seen_p:
                    seen_p.add(id(value))
                    out.append((prefix + name, value))
            elif id(value) not in seen_m:
                value._walk_parameters(prefix + name + ".", out, seen_p, seen_m)

    def parameters(self) -> list[Parameter]:
        """Every parameter, each once, in ``named_parameters`` order."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """The number of scalar values in all parameters (shared ones counted once)."""
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and all sub-modules."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off) on this module and all sub-modules."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros with ``set_to_none=False``)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data = p.xp.zeros_like(p.grad.data)

    # ------------------------------------------------------------------ devices
    @property
    def device(self) -> str:
        """The device of the first parameter (``"cpu"`` for a module without parameters)."""
        for _, p in self.named_parameters():
            return p.device
        return "cpu"

    def to(self, device: str) -> Module:
        """Move every parameter (and its gradient) to ``device`` in place; returns ``self``."""
        device = backend.normalize_device(device)
        backend.namespace_for(device)  # raises DeviceError before anything moves
        params = self.parameters()
        moved = [backend.to_device(p.data, device) for p in params]
        grads = [None if p.grad is None else backend.to_device(p.grad.data, device) for p in params]
        for p, data, grad in zip(params, moved, grads, strict=True):
            if data is not p.data:  # a new array: on a 64-byte boundary on the CPU
                p.data = backend.parameter_memory(data)
            if grad is not None:
                p.grad = Tensor(grad, dtype=backend.dtype_name(grad.dtype), device=device)
        return self

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Host (NumPy) copies of every parameter, keyed by name, in parameter order."""
        return {name: np.array(p.numpy(), copy=True) for name, p in self.named_parameters()}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy values into the existing parameters, keeping each one's device and dtype.

        Everything is checked before anything is copied, so an error leaves the model as it
        was. With ``strict=True`` missing or unexpected keys raise ValueError naming them; a
        shape mismatch always raises, naming the key and both shapes.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict must be a mapping of name -> array, got {type(state_dict)}"
            )
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            nested = [k for k in unexpected if isinstance(state_dict[k], Mapping)]
            hint = f" (a checkpoint? pass its [{nested[0]!r}] entry)" if nested else ""
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}{hint}"
            )
        staged = []
        for key, p in own.items():
            if key in state_dict:
                staged.append((p, _staged_value(key, state_dict[key], p)))
        for p, data in staged:  # nothing below can fail: shapes, dtypes, devices were checked
            p.data[...] = data  # in place: references to p.data stay valid
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr line."""
        return ""

    def __repr__(self) -> str:
        children = self.named_children()
        extra = self.extra_repr()
        if not children:
            n = self.num_parameters()
            return f"{type(self).__name__}({extra or (_format_count(n) if n else '')})"
        count = _format_count(self.num_parameters())
        head = f"{type(self).__name__}({extra + ', ' if extra else ''}{count})"
        return head + _children_repr(children)


def _children_repr(children: list[tuple[str, Module]]) -> str:
    """One indented ``(name): repr`` line per child."""
    lines = []
    for name, child in children:
        body = repr(child).replace("\n", "\n  ")
        lines.append(f"\n  ({name}): {body}")
    return "".join(lines)


def _staged_value(key: str, value: Any, p: Parameter) -> Any:
    """``value`` as a fresh array with ``p``'s shape, dtype and device (or a clear error)."""
    if isinstance(value, Tensor):
        host = value.numpy()
    elif backend.is_array(value):
        host = backend.to_numpy(value)
    else:
        host = np.asarray(value)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"state_dict[{key!r}] has dtype {host.dtype}; expected a numeric array")
    if tuple(host.shape) != p.shape:
        raise ValueError(
            f"state_dict[{key!r}] has shape {tuple(host.shape)} but the parameter has shape "
            f"{p.shape}"
        )
    target = backend.dtype_name(p.dtype)
    return backend.asarray(np.array(host, dtype=target, copy=True), dtype=target, device=p.device)
