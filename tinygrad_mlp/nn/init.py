"""Weight initialisation schemes (``nn.init``), written into a tensor in place.

Values are drawn on the host from a NumPy generator in float64 and then written into ``t.data``
in the tensor's own dtype and on its own device, so one seed gives the same weights everywhere.
``generator`` is a ``numpy.random.Generator``, an int seed or ``None`` (fresh entropy).

Weights have PyTorch's layout ``(out_features, in_features)``: ``fan_in = shape[1]`` and
``fan_out = shape[0]`` (times the receptive field size for tensors of more than two dimensions).

- Xavier / Glorot (Glorot & Bengio, 2010): ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in +
  fan_out))``, or ``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``.
- Kaiming / He (He et al., 2015), ``mode="fan_in"``: ``U(-b, b)`` with ``b = gain * sqrt(3 /
  fan_in)``, or ``N(0, std^2)`` with ``std = gain / sqrt(fan_in)``; ``gain = sqrt(2)`` for ReLU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor

GeneratorLike = np.random.Generator | int | None

_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}


def as_generator(generator: GeneratorLike) -> np.random.Generator:
    """A NumPy generator from a Generator, an int seed or None."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None or (
        isinstance(generator, int | np.integer) and not isinstance(generator, bool)
    ):
        return np.random.default_rng(generator)
    raise TypeError(
        f"generator must be a numpy.random.Generator, an int seed or None, got {generator!r}"
    )


def calculate_gain(nonlinearity: str, a: float = 0.0) -> float:
    """The recommended gain for ``nonlinearity`` (``a`` is the leaky-ReLU negative slope)."""
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + a * a))
    if nonlinearity not in _GAINS:
        choices = sorted(_GAINS) + ["leaky_relu"]
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of {choices}")
    return _GAINS[nonlinearity]


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a weight with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _check_tensor(t: Any) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"init functions fill a Tensor in place, got {type(t).__name__}")
    if not backend.is_floating(t.dtype):
        raise TypeError(f"can only initialise float tensors, got {backend.dtype_name(t.dtype)}")
    return t


def _write(t: Tensor, values: np.ndarray) -> Tensor:
    """Store host ``values`` into ``t.data`` with ``t``'s dtype and device."""
    name = backend.dtype_name(t.dtype)
    new = backend.asarray(np.asarray(values, dtype=name), dtype=name, device=t.device)
    if tuple(new.shape) == t.shape:
        t.data[...] = new  # in place: references to t.data stay valid
    else:
        t.data = new
    return t


def uniform_(
    t: Tensor, low: float = 0.0, high: float = 1.0, generator: GeneratorLike = None
) -> Tensor:
    """Fill ``t`` with samples of ``U(low, high)``."""
    _check_tensor(t)
    if not low < high:
        raise ValueError(f"uniform_ needs low < high, got low={low}, high={high}")
    return _write(t, as_generator(generator).uniform(low, high, size=t.shape))


def normal_(
    t: Tensor, mean: float = 0.0, std: float = 0.01, generator: GeneratorLike = None
) -> Tensor:
    """Fill ``t`` with samples of ``N(mean, std^2)`` (default ``std=0.01``, the classic choice)."""
    _check_tensor(t)
    if not std >= 0:
        raise ValueError(f"normal_ needs std >= 0, got {std}")
    return _write(t, as_generator(generator).normal(mean, std, size=t.shape))


def zeros_(t: Tensor) -> Tensor:
    """Fill ``t`` with zeros."""
    _check_tensor(t)
    return _write(t, np.zeros(t.shape))


def constant_(t: Tensor, value: float) -> Tensor:
    """Fill ``t`` with ``value``."""
    _check_tensor(t)
    return _write(t, np.full(t.shape, float(value)))


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: GeneratorLike = None) -> Tensor:
    """Glorot uniform: ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(_check_tensor(t).shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _write(t, as_generator(generator).uniform(-bound, bound, size=t.shape))


def xavier_normal_(t: Tensor, gain: float = 1.0, generator: GeneratorLike = None) -> Tensor:
    """Glorot normal: ``N(0, std^2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(_check_tensor(t).shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _write(t, as_generator(generator).normal(0.0, std, size=t.shape))


def _kaiming_fan(t: Tensor, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(_check_tensor(t).shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(
    t: Tensor,
    nonlinearity: str = "relu",
    generator: GeneratorLike = None,
    *,
    a: float = 0.0,
    mode: str = "fan_in",
) -> Tensor:
    """He uniform: ``U(-b, b)``, ``b = gain * sqrt(3 / fan_in)`` (``gain = sqrt(2)`` for ReLU)."""
    fan = _kaiming_fan(t, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return _write(t, as_generator(generator).uniform(-bound, bound, size=t.shape))


def kaiming_normal_(
    t: Tensor,
    nonlinearity: str = "relu",
    generator: GeneratorLike = None,
    *,
    a: float = 0.0,
    mode: str = "fan_in",
) -> Tensor:
    """He normal: ``N(0, std^2)``, ``std = gain / sqrt(fan_in)`` (``gain = sqrt(2)`` for ReLU)."""
    fan = _kaiming_fan(t, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _write(t, as_generator(generator).normal(0.0, std, size=t.shape))


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_


# ---------------------------------------------------------------------- named schemes
def _pytorch_default(w: Tensor, nonlinearity: str, rng: np.random.Generator) -> None:
    # PyTorch's Linear: kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    kaiming_uniform_(w, "leaky_relu", rng, a=math.sqrt(5.0))


def _kaiming_gain_name(nonlinearity: str) -> str:
    return nonlinearity if nonlinearity in _GAINS else "relu"


_SCHEMES: dict[str, Callable[[Tensor, str, np.random.Generator], Any]] = {
    "pytorch": _pytorch_default,
    "xavier_uniform": lambda w, nl, rng: xavier_uniform_(w, 1.0, rng),
    "xavier_normal": lambda w, nl, rng: xavier_normal_(w, 1.0, rng),
    "kaiming_uniform": lambda w, nl, rng: kaiming_uniform_(w, _kaiming_gain_name(nl), rng),
    "kaiming_normal": lambda w, nl, rng: kaiming_normal_(w, _kaiming_gain_name(nl), rng),
    "normal": lambda w, nl, rng: normal_(w, 0.0, 0.01, rng),
    "zeros": lambda w, nl, rng: zeros_(w),
}
_ALIASES = {
    "default": "pytorch",
    "xavier": "xavier_uniform",
    "glorot": "xavier_uniform",
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "kaiming": "kaiming_uniform",
    "he": "kaiming_uniform",
    "he_uniform": "kaiming_uniform",
    "he_normal": "kaiming_normal",
}
SCHEMES = tuple(_SCHEMES) + tuple(_ALIASES)


def resolve_scheme(name: str) -> str:
    """The canonical scheme name for ``name`` (aliases like ``"he"`` or ``"glorot"`` allowed)."""
    if not isinstance(name, str) or (name not in _SCHEMES and name not in _ALIASES):
        raise ValueError(f"unknown init scheme {name!r}; expected one of {list(SCHEMES)}")
    return _ALIASES.get(name, name)


def init_weight_(
    weight: Tensor, scheme: str, nonlinearity: str = "relu", generator: GeneratorLike = None
) -> Tensor:
    """Fill a weight ``(out, in)`` with the named ``scheme`` (see ``SCHEMES``).

    ``nonlinearity`` picks the Kaiming gain (ReLU's when it is not one of the known names).
    """
    _SCHEMES[resolve_scheme(scheme)](weight, nonlinearity, as_generator(generator))
    return weight
