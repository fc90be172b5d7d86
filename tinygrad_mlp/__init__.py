"""tinygrad_mlp: a small, fast, thoroughly tested reverse-mode autodiff engine and MLP framework.

The same code runs on NumPy (``device="cpu"``) and CuPy (``device="cuda"``).
"""

# tensor first: it loads ops and activations, which subclass function.Function.
from .tensor import Tensor, is_grad_enabled, no_grad, ones, randn, tensor, zeros  # isort: skip
from . import backend, functional
from .backend import DeviceError
from .function import AnomalyError, Function, detect_anomaly

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "DeviceError",
    "Function",
    "Tensor",
    "backend",
    "detect_anomaly",
    "functional",
    "is_grad_enabled",
    "no_grad",
    "ones",
    "randn",
    "tensor",
    "zeros",
]
