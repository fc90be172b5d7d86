"""tinygrad_mlp.nn.mlp: MLP building, init, fused forward, errors and dropout."""

import math
import re

import numpy as np
import pytest
from _nn_helpers import rand
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F
from tinygrad_mlp import nn
from tinygrad_mlp.fused import MLPStack

# ---------------------------------------------------------------------- MLP
SIG = dict(activation="sigmoid", output_activation="sigmoid")
SOFT = dict(output_activation="softmax")
CLASSIC = [  # sizes, MLP keywords, parameter count, layer types
    ([784, 50, 10], SIG, 39_760, "Linear Sigmoid Linear Sigmoid"),
    ([784, 512, 128, 64, 10], SOFT, 476_490, "Linear ReLU Linear ReLU Linear ReLU Linear Softmax"),
    ([64, 64, 16, 10], {}, 5_370, "Linear ReLU Linear ReLU Linear"),
    ([2, 64, 2], dict(activation="tanh"), 322, "Linear Tanh Linear"),
    ([7, 15, 1], dict(output_activation="sigmoid"), 136, "Linear ReLU Linear Sigmoid"),
]


@pytest.mark.parametrize("sizes, kwargs, count, types", CLASSIC)
def test_mlp_builds_the_classic_networks(sizes, kwargs, count, types):
    model = nn.MLP(sizes, seed=0, **kwargs)
    assert model.num_parameters() == count
    assert [type(m).__name__ for m in model.layers] == types.split()
    assert model.sizes == tuple(sizes)
    assert (model.in_features, model.out_features) == (sizes[0], sizes[-1])
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    assert [(m.in_features, m.out_features) for m in model.linears] == pairs
    out = model(rand(8, sizes[0])).numpy()
    assert out.shape == (8, sizes[-1]) and out.dtype == np.float32
    if kwargs.get("output_activation") == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if kwargs.get("output_activation") == "sigmoid":
        assert np.all((out > 0) & (out < 1))


@given(sizes=st.lists(st.integers(1, 12), min_size=2, max_size=6))
@settings(max_examples=20)
def test_mlp_parameter_count_and_forward_for_any_depth(sizes):
    model = nn.MLP(sizes, seed=0)
    expected = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:], strict=False))
    assert model.num_parameters() == expected
    assert len(model.parameters()) == 2 * (len(sizes) - 1)
    assert model(rand(3, sizes[0])).shape == (3, sizes[-1])


def test_mlp_forward_is_one_fused_op_and_backward_fills_every_gradient():
    model = nn.MLP([5, 4, 3, 2], seed=0)
    out = model(rand(6, 5))
    assert type(out._ctx) is MLPStack and out._ctx.inputs[0]._ctx is None  # the stack: one op
    model = nn.MLP([5, 4, 3, 2], seed=0, dropout=0.5)  # active dropout: masks inside the stack
    assert type(model(rand(6, 5))._ctx) is MLPStack
    with tg.detect_anomaly():  # layer by layer (each Linear + ReLU still one op)
        seen, node = [], model(rand(6, 5))
    while node._ctx is not None:
        seen.append(type(node._ctx).__name__)
        node = node._ctx.inputs[0]
    assert seen == ["Linear", "Mul", "LinearReLU", "Mul", "LinearReLU"]  # fused Linear+ReLU
    assert type(node) is tg.Tensor
    model = nn.MLP([6, 5, 3], activation="tanh", seed=0)
    F.cross_entropy(model(rand(4, 6)), np.array([0, 1, 2, 1])).backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and np.any(p.grad.numpy())


def test_mlp_default_init_he_for_relu_glorot_for_sigmoid_and_zero_biases():
    relu = nn.MLP([300, 200, 100], seed=0)
    w = relu.linears[0].weight.numpy()
    bound = math.sqrt(6 / 300)  # He uniform: sqrt(2) * sqrt(3 / fan_in)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    sig = nn.MLP([300, 200, 100], activation="sigmoid", seed=0)
    w = sig.linears[1].weight.numpy()
    bound = math.sqrt(6 / (200 + 100))  # Glorot uniform
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    for model in (relu, sig):
        assert all(not np.any(m.bias.numpy()) for m in model.linears)
    w = nn.MLP([500, 400, 10], init="normal", seed=0).linears[0].weight.numpy()  # N(0, 0.01^2)
    assert abs(w.std() - 0.01) < 0.0002 and abs(w.mean()) < 0.0002


def test_mlp_seed_reproducible_across_dtypes_and_devices_with_distinct_layers():
    a = nn.MLP([8, 8, 8, 8], seed=3)
    b = nn.MLP([8, 8, 8, 8], seed=3, dtype="float64", device="array_api_strict")
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(pa.numpy(), pb.numpy(), rtol=1e-6)
    w = [m.weight.numpy() for m in a.linears]
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])
    c = nn.MLP([8, 8, 8, 8], seed=4)
    assert not np.array_equal(c.linears[0].weight.numpy(), w[0])


def test_mlp_width_mismatch_names_expected_and_received():
    model = nn.MLP([784, 50, 10])
    message = "MLP expects 784 input features, got 100 (input shape (32, 100))"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        model(rand(32, 100))
    with pytest.raises(ValueError, match=r"shape \(N, 784\), got input shape \(784,\)"):
        model(rand(784))


@pytest.mark.parametrize(
    "sizes, match",
    [
        ([784], "at least 2"),
        ([], "at least 2"),
        ([784, 0, 10], r"sizes\[1\].*got 0"),
        ([784, -5], r"sizes\[1\].*got -5"),
        ([7.5, 2], r"sizes\[0\]"),
        ("784", "sequence"),
        (784, "sequence"),
    ],
)
def test_mlp_rejects_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        nn.MLP(sizes)


def test_mlp_rejects_unknown_names_listing_the_choices():
    with pytest.raises(ValueError, match=r"activation 'gelu'.*\['relu', 'sigmoid', 'tanh'\]"):
        nn.MLP([2, 2], activation="gelu")
    with pytest.raises(ValueError, match=r"output_activation 'soft'.*'softmax'"):
        nn.MLP([2, 2], output_activation="soft")
    with pytest.raises(ValueError, match="unknown init scheme"):
        nn.MLP([2, 2], init="orthogonal")
    with pytest.raises(ValueError, match="dropout probability"):
        nn.MLP([2, 2, 2], dropout=1.0)


def test_mlp_dropout_sits_after_hidden_activations_and_follows_train_eval():
    model = nn.MLP([20, 30, 30, 5], dropout=0.5, seed=0)
    types = [type(m).__name__ for m in model.layers]
    assert types == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    x = rand(16, 20)
    assert not np.array_equal(model(x).numpy(), model(x).numpy())
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    twin_a = nn.MLP([20, 30, 30, 5], dropout=0.5, seed=0)
    twin_b = nn.MLP([20, 30, 30, 5], dropout=0.5, seed=0)
    np.testing.assert_array_equal(twin_a(x).numpy(), twin_b(x).numpy())  # seeded masks
