"""Numerical stability: extreme logits and activations give finite values and no FP warnings."""

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F

EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]])


@pytest.fixture(autouse=True)
def strict_floating_point():
    """Any overflow, division by zero or invalid operation fails the test (underflow is fine)."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_of_extreme_logits_is_finite_and_sums_to_one(dtype):
    z = tg.Tensor(EXTREME, dtype=dtype, requires_grad=True)
    s = z.softmax(axis=1)
    assert np.all(np.isfinite(s.numpy()))
    np.testing.assert_allclose(s.numpy().sum(axis=1), 1.0, rtol=1e-6)
    s.backward(np.ones(EXTREME.shape))
    assert np.all(np.isfinite(z.grad.numpy()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_softmax_of_extreme_logits(dtype):
    z = tg.Tensor(EXTREME, dtype=dtype, requires_grad=True)
    out = z.log_softmax(axis=1)
    assert np.all(np.isfinite(out.numpy()))
    np.testing.assert_allclose(np.exp(out.numpy()).sum(axis=1), 1.0, rtol=1e-6)
    out.sum().backward()
    assert np.all(np.isfinite(z.grad.numpy()))


@pytest.mark.parametrize("target", [np.array([1, 0, 2]), np.eye(3)[[1, 0, 2]]])
def test_cross_entropy_of_extreme_logits_is_finite(target):
    z = tg.Tensor(EXTREME, requires_grad=True)
    loss = F.cross_entropy(z, target)
    assert np.isfinite(loss.item())
    # row 0 picks -1e4 while the max is 1e4: loss = 2e4; row 1: log 3; row 2: 2e4 + ...
    assert loss.item() == pytest.approx((2e4 + np.log(3) + (2e4 + np.log(2))) / 3, rel=1e-5)
    loss.backward()
    g = z.grad.numpy()
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-6)  # rows of (softmax - onehot)/N


def test_sigmoid_of_plus_minus_1000_raises_no_overflow():
    x = tg.Tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype="float64", requires_grad=True)
    s = x.sigmoid()
    np.testing.assert_allclose(s.numpy(), [0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0])
    s.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_bce_with_logits_of_extreme_logits():
    z = tg.Tensor([[1000.0], [-1000.0]], dtype="float64", requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, np.array([[0.0], [0.0]]))
    assert loss.item() == pytest.approx(500.0)
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), [[0.5], [0.0]])


def test_bce_of_saturated_probabilities_is_clamped_not_infinite():
    p = tg.Tensor([[0.0], [1.0]], dtype="float64", requires_grad=True)
    loss = F.binary_cross_entropy(p, np.array([[1.0], [0.0]]))  # log(0) -> -100, no warning
    assert loss.item() == pytest.approx(100.0)
    loss.backward()
    assert np.all(np.isfinite(p.grad.numpy()))


def test_relu_gradient_at_zero_is_zero():
    """Documented convention (as in PyTorch): d relu / dx at exactly 0 is 0."""
    x = tg.Tensor([-1.0, 0.0, 1.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_abs_gradient_at_zero_is_zero():
    x = tg.Tensor([-2.0, 0.0, 2.0], requires_grad=True)
    x.abs().sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]


def test_max_splits_the_gradient_between_ties():
    x = tg.Tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5]]


def test_softplus_and_elu_do_not_overflow():
    x = tg.Tensor([-1000.0, 0.0, 1000.0], dtype="float64", requires_grad=True)
    np.testing.assert_allclose(F.softplus(x).numpy(), [0.0, np.log(2.0), 1000.0])
    np.testing.assert_allclose(F.elu(x).numpy(), [-1.0, 0.0, 1000.0])
    (F.softplus(x) + F.elu(x)).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
