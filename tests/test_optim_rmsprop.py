"""Tests of tinygrad_mlp.optim.RMSprop: the update rule against an independent float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
from _optim_helpers import DECAY, EPS, LR, assert_close, param, run, t64, trajectories
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mlp import optim

# ====================================================================== reference algorithms
# Written from the algorithms in PyTorch's documentation, in plain float64 NumPy.


def ref_rmsprop(p, grads, lr, alpha, eps, weight_decay=0.0, momentum=0.0, centered=False):
    p = p.copy()
    v = np.zeros_like(p)
    b = np.zeros_like(p)
    g_ave = np.zeros_like(p)
    for g in grads:
        if weight_decay != 0:
            g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v_tilde - g_ave**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
    return p


# ====================================================================== update rules


@st.composite
def rmsprop_hyper(draw: st.DrawFn) -> dict:
    centered = draw(st.booleans())
    # centered: v - g_ave^2 >= alpha^t v exactly, but rounds to <= 0 (NaN sqrt, in PyTorch too)
    # once alpha^t is below the rounding error; alpha >= 0.5 keeps it far from that over 10 steps
    alpha = draw(st.floats(0.5, 0.999) if centered else st.floats(0.0, 0.999))
    return dict(
        lr=draw(LR),
        alpha=alpha,
        eps=draw(EPS),
        weight_decay=draw(DECAY),
        momentum=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9))),
        centered=centered,
    )


@given(trajectories(), rmsprop_hyper())
def test_rmsprop_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.RMSprop, p0, grads, **hyper)
    assert_close(actual, ref_rmsprop(p0, grads, **hyper))


def test_rmsprop_adds_eps_outside_the_square_root():
    p = param([0.0])
    opt = optim.RMSprop([p], lr=1.0, alpha=0.0, eps=0.5)
    p.grad = t64(np.array([4.0]))  # v = 16: step 4 / (4 + 0.5), not 4 / sqrt(16.5)
    opt.step()
    assert p.item() == pytest.approx(-4.0 / 4.5, rel=1e-15)
