"""Tests of tinygrad_mlp.optim.SGD: the update rule against an independent float64 reference."""

from __future__ import annotations

import numpy as np
from _optim_helpers import DECAY, LR, assert_close, param, run, t64, trajectories
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mlp import optim

# ====================================================================== reference algorithms
# Written from the algorithms in PyTorch's documentation, in plain float64 NumPy.


def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    p = p.copy()
    b = None
    for t, g in enumerate(grads, start=1):
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


# ====================================================================== update rules


@st.composite
def sgd_hyper(draw: st.DrawFn) -> dict:
    nesterov = draw(st.booleans())
    if nesterov:
        momentum, dampening = draw(st.floats(0.01, 0.99)), 0.0
    else:
        momentum = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.99)))
        dampening = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9)))
    return dict(
        lr=draw(LR),
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=draw(DECAY),
    )


@given(trajectories(), sgd_hyper())
def test_sgd_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.SGD, p0, grads, **hyper)
    assert_close(actual, ref_sgd(p0, grads, **hyper))


def test_sgd_first_momentum_step_uses_the_gradient_as_buffer():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.5, momentum=0.9, dampening=0.5)
    p.grad = t64(np.array([0.2, -0.4]))
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], [0.2, -0.4])  # not (1-0.5)g
    np.testing.assert_array_equal(p.numpy(), [1.0 - 0.5 * 0.2, 2.0 + 0.5 * 0.4])
    p.grad = t64(np.array([1.0, 1.0]))
    opt.step()
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [0.9 * 0.2 + 0.5, -0.36 + 0.5])
