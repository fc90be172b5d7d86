"""Optimizers (SGD, Adam, AdamW, RMSprop), learning-rate schedulers and gradient utilities.

Same names, defaults and update rules as ``torch.optim``, so hyper-parameters transfer::

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs)
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
        sched.step()
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .grad_utils import clip_grad_norm_, l1_penalty
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, ReduceLROnPlateau, StepLR
from .optimizer import Optimizer, ParameterTypeError
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "Optimizer",
    "ParameterTypeError",
    "RMSprop",
    "ReduceLROnPlateau",
    "StepLR",
    "clip_grad_norm_",
    "l1_penalty",
    "lr_scheduler",
]
