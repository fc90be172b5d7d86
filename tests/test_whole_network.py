"""Whole networks: the engine's gradients equal the classic hand-written backprop to 1e-10."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def params(rng, sizes):
    return [(rng.normal(0, 0.5, (i, o)), rng.normal(0, 0.1, o)) for i, o in zip(sizes, sizes[1:])]


def as_leaves(layers):
    return [
        (
            tg.Tensor(w, dtype="float64", requires_grad=True),
            tg.Tensor(b, dtype="float64", requires_grad=True),
        )
        for w, b in layers
    ]


@given(
    st.integers(1, 8), st.integers(1, 6), st.integers(1, 7), st.integers(2, 5), st.integers(0, 99)
)
def test_sigmoid_mlp_with_mse_on_one_hot_targets(n, d, h, c, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), np.eye(c)[rng.integers(0, c, n)]
    (w1, b1), (w2, b2) = layers = params(rng, [d, h, c])

    # classic backprop, written out by hand
    a_h = sigmoid(x @ w1 + b1)
    a_out = sigmoid(a_h @ w2 + b2)
    delta_out = 2 * (a_out - y) / (n * c) * a_out * (1 - a_out)
    d_w2, d_b2 = a_h.T @ delta_out, delta_out.sum(axis=0)
    delta_h = (delta_out @ w2.T) * a_h * (1 - a_h)
    d_w1, d_b1 = x.T @ delta_h, delta_h.sum(axis=0)

    (tw1, tb1), (tw2, tb2) = leaves = as_leaves(layers)
    xt = tg.Tensor(x, dtype="float64")
    out = ((xt @ tw1 + tb1).sigmoid() @ tw2 + tb2).sigmoid()
    loss = F.mse_loss(out, y)
    np.testing.assert_allclose(loss.item(), np.mean((a_out - y) ** 2), rtol=1e-12)
    loss.backward()
    for t, want in zip([p for pair in leaves for p in pair], [d_w1, d_b1, d_w2, d_b2]):
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-10, atol=1e-14)


@given(
    st.integers(1, 8), st.integers(1, 6), st.integers(1, 7), st.integers(2, 5), st.integers(0, 99)
)
def test_relu_softmax_cross_entropy_mlp(n, d, h, c, seed):
    rng = np.random.default_rng(seed)
    x, labels = rng.normal(size=(n, d)), rng.integers(0, c, n)
    (w1, b1), (w2, b2), (w3, b3) = layers = params(rng, [d, h, h, c])
    Y = np.eye(c)[labels]

    z1 = x @ w1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ w2 + b2
    a2 = np.maximum(z2, 0)
    z3 = a2 @ w3 + b3
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz3 = (p - Y) / n  # dZ_out = (p - Y) / m
    dw3, db3 = a2.T @ dz3, dz3.sum(axis=0)
    dz2 = (dz3 @ w3.T) * (z2 > 0)
    dw2, db2 = a1.T @ dz2, dz2.sum(axis=0)
    dz1 = (dz2 @ w2.T) * (z1 > 0)
    dw1, db1 = x.T @ dz1, dz1.sum(axis=0)

    leaves = as_leaves(layers)
    out = tg.Tensor(x, dtype="float64")
    for i, (w, b) in enumerate(leaves):
        out = out @ w + b
        out = out.relu() if i < 2 else out
    loss = F.cross_entropy(out, labels)
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(p[np.arange(n), labels])), rtol=1e-12)
    loss.backward()
    got = [t.grad.numpy() for pair in leaves for t in pair]
    for g, want in zip(got, [dw1, db1, dw2, db2, dw3, db3]):
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-14)


def test_fused_linear_network_matches_matmul_network():
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(16, 5)), rng.integers(0, 3, 16)
    w, b = rng.normal(size=(3, 5)), rng.normal(size=3)
    grads = []
    for fused in (True, False):
        tw = tg.Tensor(w, dtype="float64", requires_grad=True)
        tb = tg.Tensor(b, dtype="float64", requires_grad=True)
        xt = tg.Tensor(x, dtype="float64")
        z = F.linear(xt, tw, tb) if fused else xt @ tw.T + tb
        F.cross_entropy(z, labels).backward()
        grads.append((tw.grad.numpy(), tb.grad.numpy()))
    for a, b_ in zip(*grads):
        np.testing.assert_allclose(a, b_, rtol=1e-12)
