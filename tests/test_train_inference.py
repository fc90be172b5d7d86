"""Tests of ``tinygrad_mlp.train``'s evaluate / predict / predict_proba."""

from __future__ import annotations

import numpy as np
import pytest
from _train_helpers import blobs, loader, quiet_fit, setup

from tinygrad_mlp import Tensor, is_grad_enabled, nn, optim, train
from tinygrad_mlp import functional as F

# ---------------------------------------------------------------------- evaluate / predict


def test_evaluate_matches_a_manual_computation_and_restores_the_mode():
    X, y = blobs(50)
    model, _ = setup()
    grad_flags = []

    def loss_fn(out, t):
        grad_flags.append(is_grad_enabled())
        return F.cross_entropy(out, t)

    for training in (True, False):
        model.train(training)
        res = train.evaluate(model, loss_fn, loader(X, y, batch_size=16, shuffle=False))
        assert model.training is training
    out = model(Tensor(X))
    assert res["loss"] == pytest.approx(F.cross_entropy(out, Tensor(y)).item(), rel=1e-5)
    assert res["accuracy"] == pytest.approx((out.numpy().argmax(1) == y).mean())
    assert set(grad_flags) == {False}
    assert all(p.grad is None for p in model.parameters())


def test_evaluate_uses_eval_mode_inside():
    X, y = blobs(40)
    model = nn.MLP([2, 32, 2], dropout=0.9, seed=0)
    a = train.evaluate(model, F.cross_entropy, loader(X, y, shuffle=False))
    b = train.evaluate(model, F.cross_entropy, loader(X, y, shuffle=False))
    assert a == b and model.training  # dropout off inside, train mode restored


def test_predict_and_predict_proba_multiclass():
    X, _ = blobs(30)
    model = nn.MLP([2, 8, 3], seed=0)
    model.train()
    labels = train.predict(model, X, batch_size=7)
    probs = train.predict_proba(model, X, batch_size=7)
    logits = model(Tensor(X)).numpy()
    assert labels.shape == (30,) and labels.dtype == np.int64
    assert np.array_equal(labels, logits.argmax(1))
    assert probs.shape == (30, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-6)
    assert np.array_equal(probs.argmax(1), labels) and model.training
    assert np.array_equal(train.predict(model, Tensor(X)), labels)
    softmax_model = nn.MLP([2, 8, 3], seed=0, output_activation="softmax")
    assert np.allclose(train.predict_proba(softmax_model, X), probs, atol=1e-6)


def test_predict_binary_logits_and_sigmoid_outputs():
    X, _ = blobs(30)
    logit_model = nn.MLP([2, 8, 1], seed=0)
    z = logit_model(Tensor(X)).numpy()[:, 0]
    assert np.array_equal(train.predict(logit_model, X), (z > 0).astype(np.int64))
    p = train.predict_proba(logit_model, X)
    assert p.shape == (30, 2)
    assert np.allclose(p[:, 1], 1 / (1 + np.exp(-z)), atol=1e-6)
    assert np.allclose(p.sum(1), 1.0)
    sig_model = nn.MLP([2, 8, 1], seed=0, output_activation="sigmoid")
    s = sig_model(Tensor(X)).numpy()[:, 0]
    assert np.array_equal(train.predict(sig_model, X), (s > 0.5).astype(np.int64))
    assert np.allclose(train.predict_proba(sig_model, X)[:, 1], s, atol=1e-7)


def test_predict_bad_inputs():
    model = nn.MLP([2, 2])
    with pytest.raises(ValueError, match="batch_size"):
        train.predict(model, np.zeros((3, 2)), batch_size=0)
    with pytest.raises(ValueError, match=r"at least one sample, got shape \(0, 2\)"):
        train.predict(model, np.zeros((0, 2)))


def test_binary_training_with_bce_logits():
    X, y = blobs(100)
    model = nn.MLP([2, 8, 1], seed=0)
    opt = optim.Adam(model.parameters(), lr=0.05)
    yf = y.astype(np.float32)[:, None]
    history = quiet_fit(
        model, opt, loader(X, yf), epochs=5, loss_fn=F.binary_cross_entropy_with_logits
    )
    assert history["accuracy"][-1] >= 0.97
    assert (train.predict(model, X) == y).mean() >= 0.97
