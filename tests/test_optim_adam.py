"""Tests of tinygrad_mlp.optim.Adam and AdamW: update rules against float64 references, decay."""

from __future__ import annotations

import numpy as np
import pytest
from _optim_helpers import DECAY, EPS, LR, assert_close, param, run, t64, trajectories
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mlp import optim

# ====================================================================== reference algorithms
# Written from the algorithms in PyTorch's documentation, in plain float64 NumPy.


def ref_adam(p, grads, lr, betas, eps, weight_decay=0.0, amsgrad=False, decoupled=False):
    beta1, beta2 = betas
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    v_max = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2**t)
        else:
            v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


# ====================================================================== update rules


@st.composite
def adam_hyper(draw: st.DrawFn) -> dict:
    return dict(
        lr=draw(LR),
        betas=(draw(st.floats(0.0, 0.99)), draw(st.floats(0.0, 0.9999))),
        eps=draw(EPS),
        weight_decay=draw(DECAY),
        amsgrad=draw(st.booleans()),
    )


@given(trajectories(), adam_hyper())
def test_adam_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.Adam, p0, grads, **hyper)
    assert_close(actual, ref_adam(p0, grads, **hyper))


@given(trajectories(), adam_hyper())
def test_adamw_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.AdamW, p0, grads, **hyper)
    assert_close(actual, ref_adam(p0, grads, decoupled=True, **hyper))


@given(trajectories(), st.floats(1e-4, 0.1), st.floats(1e-3, 0.5))
def test_adamw_differs_from_adam_only_by_decoupled_decay(traj, lr, wd):
    """Same gradients, so same moments: AdamW's param = Adam(wd=0)'s minus the decay terms."""
    p0, grads = traj
    plain = param(p0)
    decoupled = param(p0)
    adam = optim.Adam([plain], lr=lr)
    adamw = optim.AdamW([decoupled], lr=lr, weight_decay=wd)
    gap = np.zeros_like(p0)  # decoupled - plain, from the recurrence gap_t = gap - lr wd theta^W
    for g in grads:
        before = decoupled.numpy().copy()
        plain.grad, decoupled.grad = t64(g.copy()), t64(g.copy())
        adam.step()
        adamw.step()
        gap = gap - lr * wd * before
        np.testing.assert_allclose(decoupled.numpy() - plain.numpy(), gap, rtol=1e-9, atol=1e-12)


def test_adamw_and_adam_weight_decay_differ_by_hand():
    """theta=1, g=0.5, lr=0.1, wd=0.1, first step (m_hat/sqrt(v_hat) = g/|g|):
    Adam:  g' = 0.6, theta = 1 - 0.1 * 0.6 / (0.6 + 1e-8)
    AdamW: theta = 1 * (1 - 0.01) - 0.1 * 0.5 / (0.5 + 1e-8)"""
    outcomes = {}
    for cls in (optim.Adam, optim.AdamW):
        p = param([1.0])
        opt = cls([p], lr=0.1, weight_decay=0.1)
        p.grad = t64(np.array([0.5]))
        opt.step()
        outcomes[cls] = p.item()
    assert outcomes[optim.Adam] == pytest.approx(1 - 0.1 * 0.6 / (0.6 + 1e-8), rel=1e-15)
    assert outcomes[optim.AdamW] == pytest.approx(0.99 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-15)
    assert outcomes[optim.AdamW] != pytest.approx(outcomes[optim.Adam], rel=1e-6)


def test_adamw_default_weight_decay_and_zero_decay_equals_adam():
    p = param([1.0])
    assert optim.AdamW([p]).param_groups[0]["weight_decay"] == 0.01
    assert optim.Adam([p]).param_groups[0]["weight_decay"] == 0.0
    grads = np.array([[0.3, -1.0], [2.0, 0.5], [-0.1, 0.0]])
    a, _ = run(optim.Adam, np.array([1.0, -2.0]), grads, lr=0.01)
    w, _ = run(optim.AdamW, np.array([1.0, -2.0]), grads, lr=0.01, weight_decay=0.0)
    assert np.array_equal(a, w)
