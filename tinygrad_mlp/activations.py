"""LeakyReLU, ELU and Softplus, written exactly as a user writes a custom op.

These use only the public API (``tinygrad_mlp.Function`` and the array namespace ``self.xp``),
so they double as the worked example of "Write and test your own op" in the README, and are
tested with the public kit ``tinygrad_mlp.testing`` like the built-in ops.
"""

from __future__ import annotations

from .function import Function
from .tensor import Tensor


class LeakyReLU(Function):
    """x for x > 0, slope * x otherwise. Convention: the gradient at exactly 0 is ``slope``."""

    def forward(self, x, negative_slope: float = 0.01):
        self.save_for_backward(x)
        self.slope = negative_slope
        return self.xp.where(x > 0, x, negative_slope * x)

    def backward(self, grad):
        (x,) = self.saved
        return self.xp.where(x > 0, grad, self.slope * grad)


class ELU(Function):
    """x for x > 0, alpha (e^x - 1) otherwise; the derivative below 0 is alpha e^x = out + alpha."""

    def forward(self, x, alpha: float = 1.0):
        xp = self.xp
        out = xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0.0)))
        self.save_for_backward(x, out)
        self.alpha = alpha
        return out

    def backward(self, grad):
        x, out = self.saved
        return self.xp.where(x > 0, grad, grad * (out + self.alpha))


class Softplus(Function):
    """log(1 + e^(beta x)) / beta, linear above ``threshold`` (as PyTorch); derivative sigmoid(bx).

    Computed as max(bx, 0) + log1p(e^-|bx|), which never overflows.
    """

    def forward(self, x, beta: float = 1.0, threshold: float = 20.0):
        xp = self.xp
        bx = beta * x
        soft = (xp.maximum(bx, 0.0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
        self.save_for_backward(bx)
        self.threshold = threshold
        return xp.where(bx > threshold, x, soft)

    def backward(self, grad):
        (bx,) = self.saved
        xp = self.xp
        e = xp.exp(-xp.abs(bx))  # sigmoid(bx), written without overflow
        sig = xp.where(bx >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return xp.where(bx > self.threshold, grad, grad * sig)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Leaky ReLU: x if x > 0 else negative_slope * x."""
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """ELU: x if x > 0 else alpha * (exp(x) - 1)."""
    return ELU.apply(x, alpha=alpha)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Softplus: log(1 + exp(beta x)) / beta (x itself where beta x > threshold)."""
    return Softplus.apply(x, beta=beta, threshold=threshold)
