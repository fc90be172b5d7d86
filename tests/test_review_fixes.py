"""Regression tests for bugs found in review (each failed before its fix)."""

import threading

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F
from tinygrad_mlp import nn, optim


def test_tensor_copies_the_callers_array_so_optimizers_never_touch_user_data():
    w0 = np.ones(3, np.float32)
    p = tg.Tensor(w0, requires_grad=True)
    (p * p).sum().backward()
    optim.SGD([p], lr=0.1).step()
    assert w0.tolist() == [1.0, 1.0, 1.0]
    view = np.ones((2, 3))[0]
    assert not np.shares_memory(tg.Tensor(view).data, view)
    t = tg.Tensor(np.ones(2, np.float32))
    assert not np.shares_memory(tg.Tensor(t).data, t.data)
    assert not np.shares_memory(t.astype("float32").data, t.data)


def test_grad_mode_is_per_thread():
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def other():
        with tg.no_grad():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=other)
    worker.start()
    inside.wait(5)
    seen["requires_grad"] = (tg.Tensor([1.0], requires_grad=True) * 2.0).requires_grad
    release.set()
    worker.join()
    assert seen["requires_grad"] is True


def test_set_grad_enabled_works_as_a_call_and_as_a_block():
    tg.set_grad_enabled(False)
    try:
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    ctx = tg.no_grad()  # constructing it alone changes nothing (only `with` does)
    assert tg.is_grad_enabled()
    with ctx:
        assert not tg.is_grad_enabled()


def test_linear_checks_the_bias_shape_and_promotes_its_dtype():
    x = tg.Tensor(np.ones((2, 3), np.float32))
    w = tg.Tensor(np.ones((4, 3), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=r"bias of shape \(1, 4\).*expected \(4,\)"):
        F.linear(x, w, tg.Tensor(np.ones((1, 4), np.float32)))
    out = F.linear(x, w, tg.Tensor(np.ones(4), dtype="float64"))
    assert str(out.dtype) == str((x @ w.T + tg.Tensor(np.ones(4), dtype="float64")).dtype)


def test_one_hot_of_small_integer_labels_with_many_classes():
    out = F.one_hot(np.array([0, 5, 299], np.int16), 300)
    assert out.numpy().sum(axis=1).tolist() == [1.0, 1.0, 1.0]
    out = F.one_hot(np.array([0, 5], np.uint8), 300)
    assert out.numpy().sum(axis=1).tolist() == [1.0, 1.0]


def test_pow_zero_has_zero_gradient_everywhere():
    x = tg.Tensor([0.0, 2.0], requires_grad=True)
    with np.errstate(all="raise"):
        (x**0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_bce_refuses_probabilities_outside_0_1(bad):
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        F.binary_cross_entropy(tg.Tensor([[bad]]), np.array([[1.0]]))


def test_axis_checks_for_0d_tensors_and_numpy_integer_axes():
    with pytest.raises(ValueError, match="out of range"):
        tg.Tensor(3.0).sum(axis=0)
    t = tg.Tensor(np.arange(6.0).reshape(2, 3))
    assert t.sum(axis=np.int64(1)).tolist() == [3.0, 12.0]


def test_load_state_dict_and_init_write_in_place():
    model = nn.MLP([3, 4, 2], seed=0)
    held = model.linears[0].weight.data
    other = nn.MLP([3, 4, 2], seed=1)
    model.load_state_dict(other.state_dict())
    assert model.linears[0].weight.data is held
    np.testing.assert_array_equal(held, other.linears[0].weight.numpy())
    nn.init.zeros_(model.linears[0].weight)
    assert model.linears[0].weight.data is held and not held.any()
