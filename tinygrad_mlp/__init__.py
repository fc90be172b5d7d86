"""tinygrad_mlp: a small, fast, thoroughly tested reverse-mode autodiff engine and MLP framework.

The same code runs on NumPy (``device="cpu"``) and CuPy (``device="cuda"``).
"""

# tensor first: it loads ops and activations, which subclass function.Function.
from .tensor import (  # isort: skip
    Tensor,
    enable_grad,
    is_grad_enabled,
    no_grad,
    ones,
    randn,
    set_grad_enabled,
    tensor,
    zeros,
)
from . import backend, data, functional, nn, optim, train
from .backend import DeviceError
from .denormal import is_flush_denormal, set_flush_denormal
from .function import AnomalyError, Function, detect_anomaly
from .gradcheck import GradcheckReport, gradcheck
from .io import CheckpointError, load, save

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "CheckpointError",
    "DeviceError",
    "Function",
    "GradcheckReport",
    "Tensor",
    "backend",
    "data",
    "detect_anomaly",
    "enable_grad",
    "functional",
    "gradcheck",
    "is_flush_denormal",
    "is_grad_enabled",
    "load",
    "nn",
    "no_grad",
    "ones",
    "optim",
    "randn",
    "save",
    "set_flush_denormal",
    "set_grad_enabled",
    "tensor",
    "train",
    "zeros",
]
