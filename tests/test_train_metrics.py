"""Tests of ``tinygrad_mlp.train.metrics``: named and callable metrics, accuracy, backends."""

from __future__ import annotations

import numpy as np
import pytest
from _train_helpers import blobs, loader, quiet_fit, setup

from tinygrad_mlp import Tensor, backend, nn, optim, train
from tinygrad_mlp import functional as F
from tinygrad_mlp.train import metrics as M

# ---------------------------------------------------------------------- metrics


def test_callable_and_named_metrics_see_the_whole_epoch():
    X, y = blobs(50)
    model, opt = setup()
    seen = []

    def frac_class1(outputs, targets):
        seen.append((outputs.shape, targets.shape, type(outputs)))
        return float((targets == 1).mean())

    history = quiet_fit(
        model, opt, loader(X, y, batch_size=16), epochs=1, metrics=["accuracy", frac_class1]
    )
    assert seen == [((50, 2), (50,), np.ndarray)]
    assert history["frac_class1"] == [pytest.approx(y.mean())]
    assert history.keys()[:3] == ["loss", "accuracy", "frac_class1"]
    h2 = quiet_fit(model, opt, loader(X, y), epochs=1, metrics={"share": frac_class1})
    assert h2["share"] == [pytest.approx(y.mean())]


def test_regression_metrics_mse_and_mae():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]])).astype(np.float32)
    model = nn.MLP([3, 1], seed=0)
    opt = optim.Adam(model.parameters(), lr=0.05)
    history = quiet_fit(
        model, opt, loader(X, y), epochs=3, metrics=("mse", "mae"), loss_fn=F.mse_loss
    )
    res = train.evaluate(model, F.mse_loss, loader(X, y), metrics=("mse", "mae"))
    err = model(Tensor(X)).numpy() - y
    assert res["mse"] == pytest.approx(res["loss"], rel=1e-5)
    assert res["mse"] == pytest.approx((err**2).mean(), rel=1e-5)
    assert res["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-5)
    assert history["mse"] == pytest.approx(history["loss"], rel=1e-5)
    mae = M.build_metrics(M.resolve_metrics(["mae"]), model)[0]
    with pytest.raises(ValueError, match=r"mae: targets of shape \(64, 2\)"):
        mae.update(np.zeros((64, 1)), np.zeros((64, 2)))


@pytest.mark.parametrize(
    "metrics, error, words",
    [
        (("accuracy", "f1"), ValueError, ["'f1'", "accuracy", "mse"]),
        ((lambda o, t: 0.0,), ValueError, ["dict"]),
        ((3,), TypeError, ["int"]),
        (("accuracy", "accuracy"), ValueError, ["twice"]),
        ({"loss": "accuracy"}, ValueError, ["reserved"]),
    ],
)
def test_bad_metrics_are_named(metrics, error, words):
    X, y = blobs(20)
    model, opt = setup()
    with pytest.raises(error) as info:
        quiet_fit(model, opt, loader(X, y), epochs=1, metrics=metrics)
    assert all(w in str(info.value) for w in words)


def test_accuracy_rules():
    acc = M.Accuracy(threshold=0.0)
    out = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]], dtype=np.float32)
    acc.update(out, np.array([0, 1, 1]))
    assert acc.result() == pytest.approx(2 / 3)
    acc.reset()
    acc.update(out, np.eye(2, dtype=np.float32)[[0, 1, 0]])  # one-hot targets
    assert acc.result() == 1.0
    logits = np.array([[-0.2], [0.3], [0.1]], dtype=np.float32)
    targets = np.array([[0.0], [1.0], [0.0]], dtype=np.float32)
    acc.reset()
    acc.update(logits, targets)  # logits: threshold 0 -> predictions 0, 1, 1
    assert acc.result() == pytest.approx(2 / 3)
    probs = M.Accuracy(threshold=0.5)
    probs.update(np.array([0.4, 0.6, 0.3], dtype=np.float32), np.array([0, 1, 0]))
    assert probs.result() == 1.0
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        acc.update(out, np.zeros((3, 5), dtype=np.float32))


def test_accuracy_threshold_follows_the_output_activation():
    assert M.binary_threshold(nn.MLP([2, 1], output_activation="sigmoid")) == 0.5
    assert M.binary_threshold(nn.MLP([2, 1])) == 0.0
    assert M.output_activation(type("M", (), {"output_activation": nn.Sigmoid()})()) == "sigmoid"


def test_metrics_count_on_other_array_backends():
    out = backend.asarray(np.array([[2.0, 1.0], [0.0, 3.0]]), device="array_api_strict")
    t = backend.asarray(np.array([0, 0]), device="array_api_strict")
    acc = M.Accuracy()
    acc.update(out, t)
    mse = M.build_metrics(M.resolve_metrics(["mse"]), None)[0]
    mse.update(out, backend.asarray(np.zeros((2, 2)), device="array_api_strict"))
    assert acc.result() == 0.5 and mse.result() == pytest.approx(14 / 4)
