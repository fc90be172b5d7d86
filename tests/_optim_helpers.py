"""Helpers shared by the optimizer tests (tests/test_optim_*.py): strategies, float64 params."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinygrad_mlp import Tensor, optim

RTOL = 1e-12
# Reference and optimizer round differently (e.g. sqrt(v / bc) vs sqrt(v) / sqrt(bc)); where an
# update almost cancels the parameter the relative error of the difference is unbounded, so the
# comparison also allows an absolute error of 1e-12 (values here are of order 1 to 100).
ATOL = 1e-12

# no magnitudes below 1e-100: their squares underflow, and v - g_ave^2 in centered RMSprop then
# rounds below zero (NaN, in PyTorch too), which would make the example compare NaN with NaN
VALUES = st.floats(-10, 10, allow_nan=False, allow_subnormal=False).filter(
    lambda x: x == 0 or abs(x) > 1e-100
)
LR = st.floats(1e-4, 1.0)
DECAY = st.one_of(st.just(0.0), st.floats(0.0, 0.1))
EPS = st.floats(1e-10, 1e-2)


@st.composite
def trajectories(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """An initial parameter vector and 1 or 10 gradients for it (float64)."""
    n = draw(st.integers(1, 4))
    steps = draw(st.sampled_from([1, 10]))
    p0 = draw(arrays(np.float64, n, elements=VALUES))
    grads = draw(arrays(np.float64, (steps, n), elements=VALUES))
    return p0, grads


def param(values, **kw) -> Tensor:
    """A float64 parameter (the framework's default dtype is float32)."""
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True, dtype="float64", **kw)


def t64(values, **kw) -> Tensor:
    return Tensor(values, dtype="float64", **kw)


def run(opt_cls, p0: np.ndarray, grads: np.ndarray, **hyper) -> tuple[np.ndarray, optim.Optimizer]:
    """Apply ``opt_cls`` to a float64 copy of ``p0`` with the given gradient sequence."""
    p = param(p0)
    opt = opt_cls([p], **hyper)
    for g in grads:
        p.grad = t64(g.copy())
        opt.step()
    return p.numpy(), opt


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
