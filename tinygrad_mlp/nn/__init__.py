"""``tinygrad_mlp.nn``: modules, layers, the MLP and weight initialisation."""

from . import init
from .layers import (
    ELU,
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .mlp import MLP
from .module import IncompatibleKeys, Module, Parameter

__all__ = [
    "ELU",
    "MLP",
    "Dropout",
    "Identity",
    "IncompatibleKeys",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "init",
]
