"""Tests of tinygrad_mlp.optim.grad_utils: clip_grad_norm_ and the L1 penalty."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _optim_helpers import VALUES, param, t64
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinygrad_mlp import Tensor, optim

# ====================================================================== clip_grad_norm_

NORM_TYPES = st.sampled_from([1.0, 2.0, 3.0, math.inf])


@st.composite
def grad_lists(draw: st.DrawFn) -> list[np.ndarray]:
    count = draw(st.integers(1, 3))
    return [
        draw(arrays(np.float64, draw(st.integers(1, 4)), elements=VALUES)) for _ in range(count)
    ]


def with_grads(grads: list[np.ndarray]) -> list[Tensor]:
    params = []
    for g in grads:
        p = param(np.zeros_like(g))
        p.grad = t64(g.copy())
        params.append(p)
    return params


@given(grad_lists(), NORM_TYPES, st.floats(0.0, 20.0))
def test_clip_grad_norm_returns_global_norm_and_scales(grads, norm_type, max_norm):
    params = with_grads(grads)
    params.append(param([5.0]))  # no grad: ignored
    total = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = np.linalg.norm(np.concatenate(grads), ord=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-300)
    coef = max_norm / (expected + 1e-6)
    for p, g in zip(params, grads, strict=False):
        if coef < 1:
            np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12, atol=1e-300)
        else:
            np.testing.assert_array_equal(p.grad.numpy(), g)  # no-op below the threshold
    if coef < 1:
        clipped = np.concatenate([p.grad.numpy() for p in params[:-1]])
        # + 1e-300 as above: a subnormal max_norm (5e-324 clipping [1.5] gave 1e-323) is below
        # the rounding step of the products, as in PyTorch's clip_grad_norm_
        assert np.linalg.norm(clipped, ord=norm_type) <= max_norm * (1 + 1e-12) + 1e-300


def test_clip_grad_norm_by_hand():
    params = with_grads([np.array([3.0]), np.array([0.0, 4.0])])
    assert optim.clip_grad_norm_(params, 1.0) == 5.0
    np.testing.assert_allclose(params[0].grad.numpy(), [3.0 / (5.0 + 1e-6)], rtol=1e-15)
    params = with_grads([np.array([3.0, -7.0])])
    assert optim.clip_grad_norm_(params, 100.0, norm_type="inf") == 7.0
    np.testing.assert_array_equal(params[0].grad.numpy(), [3.0, -7.0])
    assert optim.clip_grad_norm_([param([1.0])], 1.0) == 0.0  # nothing has a gradient


def test_clip_grad_norm_non_finite():
    params = with_grads([np.array([1.0, np.inf])])
    with pytest.raises(FloatingPointError, match="non-finite|NaN or Inf"):
        optim.clip_grad_norm_(params, 1.0)
    assert optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=False) == math.inf
    np.testing.assert_array_equal(params[0].grad.numpy(), [1.0, np.inf])  # left unchanged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(max_norm=-1.0), "max_norm must be >= 0"),
        (dict(max_norm=float("nan")), "max_norm must be finite"),
        (dict(max_norm=1.0, norm_type=0.0), "norm_type must be a positive number or inf"),
        (dict(max_norm=1.0, norm_type="l2"), "norm_type"),
    ],
)
def test_clip_grad_norm_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.clip_grad_norm_(with_grads([np.ones(2)]), **kwargs)


# ====================================================================== l1_penalty


@given(grad_lists(), st.floats(0.0, 5.0))
def test_l1_penalty_value_and_gradient(values, weight):
    params = [param(v) for v in values]
    penalty = optim.l1_penalty(params, weight)
    expected = weight * sum(np.abs(v).sum() for v in values)
    assert penalty.item() == pytest.approx(expected, rel=1e-12, abs=1e-300)
    penalty.backward()
    for p, v in zip(params, values, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), weight * np.sign(v))


def test_l1_penalty_bad_arguments():
    with pytest.raises(ValueError, match="weight must be >= 0, got -1.0"):
        optim.l1_penalty([param([1.0])], -1.0)
    with pytest.raises(ValueError, match="empty"):
        optim.l1_penalty([], 0.1)
    with pytest.raises(TypeError, match="not a Tensor"):
        optim.l1_penalty([np.ones(2)], 0.1)
