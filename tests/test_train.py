"""Tests of ``tinygrad_mlp.train``: fit, History, callbacks, checkpoints, evaluate / predict."""

from __future__ import annotations

import gc
import json
import math
import os
import re
import signal
import sys
import time
import tracemalloc

import numpy as np
import pytest

from tinygrad_mlp import Tensor, backend, data, is_grad_enabled, nn, optim, train
from tinygrad_mlp import functional as F
from tinygrad_mlp.io import CheckpointError
from tinygrad_mlp.train import metrics as M

# ---------------------------------------------------------------------- helpers


def blobs(n=200, seed=0, flip=False):
    """Two well separated Gaussian blobs in 2-D with int64 labels (flip=True swaps the labels)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(scale=0.5, size=(n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    y = 1 - y if flip else y
    return X.astype(np.float32), y.astype(np.int64)


def setup(seed=0, lr=0.05, sizes=(2, 8, 2), **mlp_kw):
    model = nn.MLP(list(sizes), seed=seed, **mlp_kw)
    return model, optim.Adam(model.parameters(), lr=lr)


def loader(X, y, batch_size=32, shuffle=True, seed=0):
    return data.DataLoader(X, y, batch_size=batch_size, shuffle=shuffle, seed=seed)


def quiet_fit(model, opt, train_loader, loss_fn=F.cross_entropy, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("verbose", False)
    return train.fit(model, loss_fn, opt, train_loader, **kw)


def same_state(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


class Snapshots(train.Callback):
    """Keeps a copy of the weights at the end of every epoch."""

    def __init__(self):
        self.states = {}

    def on_train_begin(self, fit_state):
        self.model = fit_state.model

    def on_epoch_end(self, epoch, logs):
        self.states[epoch] = self.model.state_dict()


class EpochLoader:
    """A list-of-batches loader that can poison one batch of one epoch with NaN inputs."""

    def __init__(self, X, y, batch_size=20, nan_at=None):
        self.batches = [
            (Tensor(X[i : i + batch_size]), Tensor(y[i : i + batch_size]))
            for i in range(0, len(X), batch_size)
        ]
        self.nan_at, self.epoch = nan_at, 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self.epoch += 1
        for step, (xb, yb) in enumerate(self.batches, 1):
            if (self.epoch, step) == self.nan_at:
                xb = Tensor(np.full(xb.shape, np.nan, dtype=np.float32))
            yield xb, yb


# ---------------------------------------------------------------------- fit basics


def test_fit_reduces_loss_and_reaches_high_accuracy():
    X, y = blobs()
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), epochs=5)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] >= 0.97
    assert (train.predict(model, X) == y).mean() >= 0.97


def test_fit_records_validation_lr_and_time():
    X, y = blobs()
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), val_loader=loader(X, y, shuffle=False), epochs=3)
    keys = ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time"]
    assert history.keys() == keys
    assert all(len(history[k]) == 3 for k in keys)
    assert history["lr"] == [0.05] * 3
    assert all(t > 0 for t in history["epoch_time"])
    # the last val_loss is the loss of the final weights over the validation data
    final = train.evaluate(model, F.cross_entropy, loader(X, y, shuffle=False))
    assert history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(final["accuracy"])


def test_fit_restores_mode_and_moves_batches_to_the_model_device():
    X, y = blobs(64)
    model, opt = setup()
    model.eval()
    batches = [
        (Tensor(X[i : i + 16], device="array_api_strict"), Tensor(y[i : i + 16]))
        for i in range(0, 64, 16)
    ]
    history = quiet_fit(model, opt, batches, epochs=2)
    assert len(history) == 2 and model.training is False
    assert model.device == "cpu"


def test_fit_evaluate_predict_on_another_array_backend():
    """The model on array-api-strict (standard array API only, as on CuPy); a CPU loader."""
    X, y = blobs(64)
    model = nn.MLP([2, 8, 2], seed=0, device="array_api_strict")
    opt = optim.Adam(model.parameters(), lr=0.05)
    metrics = {"accuracy": "accuracy", "n": lambda o, t: len(o)}
    history = quiet_fit(
        model, opt, loader(X, y), val_loader=loader(X, y), epochs=3, metrics=metrics
    )
    assert history["n"] == [64] * 3 and history["val_accuracy"][-1] >= 0.9
    assert train.evaluate(model, F.cross_entropy, loader(X, y))["accuracy"] >= 0.9
    labels = train.predict(model, X)
    assert np.array_equal(train.predict(model, Tensor(X, device="array_api_strict"), 10), labels)
    assert np.allclose(train.predict_proba(model, X).sum(1), 1.0, atol=1e-6)


def test_fit_accepts_numpy_batches_and_a_single_metric_name():
    X, y = blobs(64)
    model, opt = setup()
    batches = [(X[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    history = quiet_fit(model, opt, batches, epochs=1, metrics="accuracy")
    assert history.keys() == ["loss", "accuracy", "lr", "epoch_time"]


def test_fit_with_no_metrics_and_a_state_stop():
    X, y = blobs(64)
    model, opt = setup()

    class StopAt2(train.Callback):
        def on_train_begin(self, fit_state):
            self.state = fit_state

        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                self.state.stop = True

    history = quiet_fit(model, opt, loader(X, y), epochs=10, metrics=(), callbacks=[StopAt2()])
    assert history.keys() == ["loss", "lr", "epoch_time"] and history.epochs == [1, 2]


def test_callback_hooks_order_and_arguments():
    X, y = blobs(40)
    model, opt = setup()
    calls = []

    class Spy(train.Callback):
        def on_train_begin(self, fit_state):
            calls.append(("begin", fit_state.epochs))

        def on_epoch_begin(self, epoch):
            calls.append(("epoch_begin", epoch))

        def on_batch_end(self, step, logs):
            calls.append(("batch", step, isinstance(logs["loss"], float)))

        def on_epoch_end(self, epoch, logs):
            calls.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, fit_state):
            calls.append(("end", len(fit_state.history)))

    quiet_fit(model, opt, loader(X, y, batch_size=20), epochs=2, callbacks=Spy())
    logs = sorted(["loss", "accuracy", "lr", "epoch_time"])

    def epoch(e):
        return [("epoch_begin", e), ("batch", 1, True), ("batch", 2, True), ("epoch_end", e, logs)]

    assert calls == [("begin", 2), *epoch(1), *epoch(2), ("end", 2)]


def test_each_step_zeroes_forwards_steps_in_order():
    X, y = blobs(40)
    model, _ = setup()
    log = []

    class SpySGD(optim.SGD):
        def zero_grad(self, set_to_none=True):
            log.append("zero_grad")
            super().zero_grad(set_to_none)

        def step(self, closure=None):
            grads_present = all(p.grad is not None for p in model.parameters())
            log.append("step" if grads_present else "step without grads")
            return super().step(closure)

    def loss_fn(out, t):
        log.append("loss")
        return F.cross_entropy(out, t)

    quiet_fit(model, SpySGD(model.parameters(), lr=0.1), loader(X, y, 20), loss_fn, epochs=2)
    assert log == ["zero_grad", "loss", "step"] * 4


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


# ---------------------------------------------------------------------- bad inputs


def test_bad_fit_arguments_give_clear_errors():
    X, y = blobs(20)
    model, opt = setup()
    ok = loader(X, y)
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        quiet_fit(model, opt, ok, epochs=0)
    with pytest.raises(TypeError, match="epochs must be an int"):
        quiet_fit(model, opt, ok, epochs=2.0)
    with pytest.raises(ValueError, match="train_loader is empty"):
        quiet_fit(model, opt, [], epochs=1)
    with pytest.raises(ValueError, match="val_loader is empty"):
        quiet_fit(model, opt, ok, val_loader=[], epochs=1)
    with pytest.raises(
        TypeError, match=r"\(inputs, targets\) pairs; batch 1 of epoch 1 is a Tensor"
    ):
        quiet_fit(model, opt, data.DataLoader(X, batch_size=8), epochs=1)
    with pytest.raises(TypeError, match="length 3"):
        quiet_fit(model, opt, [(Tensor(X), Tensor(y), Tensor(y))], epochs=1)
    with pytest.raises(TypeError, match="targets of batch 1 of epoch 1 are a list"):
        quiet_fit(model, opt, [(Tensor(X), list(y))], epochs=1)
    with pytest.raises(TypeError, match="zero_grad"):
        train.fit(model, F.cross_entropy, object(), ok, progress=False, verbose=False)
    with pytest.raises(TypeError, match="Callback"):
        quiet_fit(model, opt, ok, callbacks=[print])
    with pytest.raises(TypeError, match="step"):
        quiet_fit(model, opt, ok, scheduler=object())


def test_exhausted_generator_loader_is_reported():
    X, y = blobs(20)
    model, opt = setup()
    gen = ((Tensor(X[i : i + 10]), Tensor(y[i : i + 10])) for i in (0, 10))
    with pytest.raises(ValueError, match="no batches in epoch 2"):
        quiet_fit(model, opt, gen, epochs=2)


def test_non_scalar_loss_is_reported():
    X, y = blobs(20)
    model, opt = setup()
    per_sample = lambda o, t: F.cross_entropy(o, t, reduction="none")  # noqa: E731
    with pytest.raises(ValueError, match=r"scalar Tensor, got shape \(20,\)"):
        train.fit(model, per_sample, opt, [(Tensor(X), Tensor(y))], progress=False, verbose=False)


# ---------------------------------------------------------------------- History


def test_history_indexing_and_errors():
    X, y = blobs(40)
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), val_loader=loader(X, y), epochs=2)
    assert len(history) == 2 and history.epochs == [1, 2]
    assert "val_accuracy" in history and list(history) == history.keys()
    assert history.to_dict()["val_accuracy"] == history["val_accuracy"]
    assert history.to_dict() is not history.to_dict()
    with pytest.raises(KeyError, match="val_accuracy"):
        history["val_acc"]
    assert "History(epochs=2" in repr(history)


def test_history_json_round_trip(tmp_path):
    X, y = blobs(40)
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), val_loader=loader(X, y), epochs=2)
    path = tmp_path / "history.json"
    history.save(path)
    assert os.listdir(tmp_path) == ["history.json"]  # the temp file was renamed over
    loaded = train.History.load(path)
    assert loaded == history and loaded.keys() == history.keys()
    assert json.loads(path.read_text())["history"]["loss"] == history["loss"]
    (tmp_path / "plain.json").write_text(json.dumps({"loss": [1.0, 0.5]}))
    assert train.History.load(tmp_path / "plain.json").epochs == [1, 2]


def test_history_save_and_load_errors(tmp_path):
    history = train.History(["loss"])
    with pytest.raises(FileNotFoundError, match="no folder"):
        history.save(tmp_path / "missing" / "h.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        train.History.load(tmp_path / "bad.json")
    (tmp_path / "short.json").write_text(json.dumps({"history": {"loss": [1.0]}, "epochs": [1, 2]}))
    with pytest.raises(ValueError, match="'loss' has 1 values for 2 epochs"):
        train.History.load(tmp_path / "short.json")


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = blobs(40)
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), val_loader=loader(X, y), epochs=3)
    path = tmp_path / "curves.png"
    fig = history.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy"]
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["train", "validation"]
    plt = pytest.importorskip("matplotlib.pyplot")
    shown = history.plot()  # no path: a pyplot figure for the current backend
    assert shown in [plt.figure(n) for n in plt.get_fignums()]
    plt.close(shown)
    with pytest.raises(ValueError, match="no completed epoch"):
        train.History(["loss"]).plot(tmp_path / "empty.png")


def test_history_plot_without_matplotlib(monkeypatch, tmp_path):
    history = train.History(["loss"])
    history.record(1, {"loss": 1.0})
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib.*tinygrad_mlp\[examples\]"):
        history.plot(tmp_path / "x.png")


# ---------------------------------------------------------------------- progress / verbose


def test_progress_bar_off_when_stderr_is_not_a_terminal(capsys):
    X, y = blobs(40)
    model, opt = setup()
    train.fit(model, F.cross_entropy, opt, loader(X, y), epochs=2, verbose=False)
    assert capsys.readouterr().err == ""


def test_progress_bar_on_when_stderr_is_a_terminal(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    X, y = blobs(40)
    model, opt = setup()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    train.fit(model, F.cross_entropy, opt, loader(X, y, batch_size=10), epochs=2, verbose=False)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "/4" in err
    train.fit(model, F.cross_entropy, opt, loader(X, y), epochs=1, verbose=False, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_without_tqdm_is_silent(capsys, monkeypatch):
    X, y = blobs(40)
    model, opt = setup()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    history = train.fit(model, F.cross_entropy, opt, loader(X, y), epochs=1, verbose=False)
    assert len(history) == 1 and capsys.readouterr().err == ""


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = blobs(40)
    model, opt = setup()
    train.fit(
        model, F.cross_entropy, opt, loader(X, y), val_loader=loader(X, y), epochs=3, progress=False
    )
    lines = capsys.readouterr().out.splitlines()
    pattern = (
        r"epoch {}/3  loss \d+\.\d{{4}}  accuracy \d\.\d{{4}}  val_loss \d+\.\d{{4}}  "
        r"val_accuracy \d\.\d{{4}}  \(\d+\.\d\d s\)"
    )
    assert len(lines) == 3
    for i, line in enumerate(lines, 1):
        assert re.fullmatch(pattern.format(i), line), line
    logs = {"loss": 0.12344, "accuracy": 0.96123, "lr": 0.1, "epoch_time": 1.234}
    line = train.format_epoch_line(3, 10, logs)
    assert line == "epoch 3/10  loss 0.1234  accuracy 0.9612  (1.23 s)"
    quiet_fit(model, opt, loader(X, y), epochs=1)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------- NaN loss


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    X, y = blobs(100)
    model, opt = setup()
    path = tmp_path / "ckpt.npz"
    snaps = Snapshots()
    ckpt = train.ModelCheckpoint(path, monitor="loss", save_best_only=False)
    poisoned = EpochLoader(X, y, batch_size=20, nan_at=(2, 3))
    last = {}

    class LastStep(train.Callback):
        def on_batch_end(self, step, logs):
            last["state"] = model.state_dict()

    with pytest.raises(train.NonFiniteLossError) as info:
        quiet_fit(model, opt, poisoned, epochs=3, callbacks=[snaps, ckpt, LastStep()])
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert (err.epoch, err.step) == (2, 3) and math.isnan(err.value)
    assert "epoch 2, step 3" in str(err) and "nan" in str(err)
    assert len(err.history) == 1
    assert same_state(model.state_dict(), last["state"])  # the bad step was not applied
    fresh, fresh_opt = setup(seed=1)
    meta = train.load_checkpoint(path, fresh, fresh_opt)
    assert meta["epoch"] == 1 and meta["monitor"] == "loss"
    assert same_state(fresh.state_dict(), snaps.states[1])
    assert model.training is True  # mode restored (it was in train mode before fit)


def test_inf_loss_is_also_caught():
    X, y = blobs(20)
    model, opt = setup()
    inf_loss = lambda o, t: F.cross_entropy(o, t) * float("inf")  # noqa: E731
    with pytest.raises(train.NonFiniteLossError, match="epoch 1, step 1"):
        train.fit(model, inf_loss, opt, [(Tensor(X), Tensor(y))], progress=False, verbose=False)


# ---------------------------------------------------------------------- interrupts


def test_keyboard_interrupt_from_a_callback_returns_the_history(capsys):
    X, y = blobs(80)
    model, opt = setup()
    ended = []

    class Interrupt(train.Callback):
        def on_train_begin(self, fit_state):
            self.state = fit_state

        def on_batch_end(self, step, logs):
            if self.state.epoch == 2 and step == 2:
                raise KeyboardInterrupt

        def on_train_end(self, fit_state):
            ended.append(fit_state.step)

    model.eval()
    history = train.fit(
        model,
        F.cross_entropy,
        opt,
        loader(X, y, batch_size=20),
        epochs=5,
        callbacks=[Interrupt()],
        progress=False,
    )
    assert history.interrupted is True and len(history) == 1 and ended == [2]
    assert "interrupted at epoch 2, step 2" in capsys.readouterr().out
    assert model.training is False
    assert all(p.grad is None for p in model.parameters())
    assert train.predict(model, X).shape == (80,)
    more = quiet_fit(model, opt, loader(X, y), epochs=1)  # optimizer still usable
    assert not more.interrupted and math.isfinite(more["loss"][0])


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="needs Python's default SIGINT handler",
)
def test_ctrl_c_finishes_the_current_step_then_stops():
    X, y = blobs(80)
    model, opt = setup()
    after_kill = []

    class CtrlC(train.Callback):
        def on_train_begin(self, fit_state):
            self.state = fit_state

        def on_batch_end(self, step, logs):
            if step == 2:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)
                after_kill.append(self.state.step)  # reached: the signal only set a flag

    history = quiet_fit(model, opt, loader(X, y, batch_size=20), epochs=3, callbacks=[CtrlC()])
    assert history.interrupted and len(history) == 0 and after_kill == [2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---------------------------------------------------------------------- EarlyStopping


def test_early_stopping_stops_and_restores_the_best_weights(capsys):
    X, y = blobs(100)
    Xv, yv = blobs(100, seed=1, flip=True)  # val labels flipped: val_loss grows as it learns
    model, opt = setup(lr=0.02)
    snaps = Snapshots()
    stopper = train.EarlyStopping(patience=2)
    history = train.fit(
        model,
        F.cross_entropy,
        opt,
        loader(X, y),
        val_loader=loader(Xv, yv),
        epochs=20,
        callbacks=[snaps, stopper],
        progress=False,
    )
    val = history["val_loss"]
    assert val == sorted(val)  # the premise: no epoch after the first improves on it
    assert len(history) == 3 and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    assert same_state(model.state_dict(), snaps.states[1])
    assert not same_state(model.state_dict(), snaps.states[3])
    out = capsys.readouterr().out
    assert "early stopping at epoch 3" in out and "restored the weights of epoch 1" in out


def test_early_stopping_max_mode_and_without_restore():
    X, y = blobs(100)
    model, opt = setup()
    stopper = train.EarlyStopping(monitor="accuracy", patience=0, restore_best=False)
    assert stopper.mode == "max"
    snaps = Snapshots()
    history = quiet_fit(model, opt, loader(X, y), epochs=30, callbacks=[snaps, stopper])
    acc = history["accuracy"]
    assert len(acc) < 30 and acc[-1] <= max(acc[:-1])
    assert same_state(model.state_dict(), snaps.states[len(acc)])  # nothing restored


def test_callback_argument_errors():
    X, y = blobs(20)
    model, opt = setup()
    with pytest.raises(ValueError, match=r"'val_loss'.*val_loader"):
        quiet_fit(model, opt, loader(X, y), callbacks=[train.EarlyStopping()])
    with pytest.raises(ValueError, match="patience"):
        train.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        train.EarlyStopping(mode="up")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        quiet_fit(
            model,
            opt,
            loader(X, y),
            callbacks=[train.ModelCheckpoint("nowhere/c.npz", monitor="loss")],
        )


# ---------------------------------------------------------------------- ModelCheckpoint


def test_model_checkpoint_saves_only_improvements_and_reloads_everything(tmp_path):
    X, y = blobs(100)
    Xv, yv = blobs(100, seed=1, flip=True)
    model, opt = setup(lr=0.02)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    ckpt = train.ModelCheckpoint(tmp_path / "best.npz")
    snaps = Snapshots()
    quiet_fit(
        model,
        opt,
        loader(X, y),
        val_loader=loader(Xv, yv),
        epochs=3,
        scheduler=sched,
        callbacks=[snaps, ckpt],
    )
    assert ckpt.saved == [str(tmp_path / "best.npz")] and ckpt.best_epoch == 1
    fresh, fresh_opt = setup(seed=3, lr=0.5)
    fresh_sched = optim.StepLR(fresh_opt, step_size=1, gamma=0.5)
    meta = train.load_checkpoint(tmp_path / "best.npz", fresh, fresh_opt, fresh_sched)
    assert meta == {"epoch": 1, "monitor": "val_loss", "value": ckpt.best}
    assert same_state(fresh.state_dict(), snaps.states[1])
    assert fresh_opt.param_groups[0]["lr"] == pytest.approx(0.01)  # after epoch 1's scheduler step
    state = fresh_sched.state_dict()
    assert state["last_epoch"] == 1 and state["last_lr"] == pytest.approx([0.01])
    no_opt = train.ModelCheckpoint(tmp_path / "m.npz", monitor="loss", save_optimizer=False)
    quiet_fit(model, opt, loader(X, y), epochs=1, callbacks=[no_opt])
    with pytest.raises(ValueError, match="m.npz.*no optimizer state"):
        train.load_checkpoint(tmp_path / "m.npz", fresh, fresh_opt)
    assert train.load_checkpoint(tmp_path / "m.npz", fresh)["epoch"] == 1


def test_model_checkpoint_every_epoch_with_a_formatted_path(tmp_path):
    X, y = blobs(40)
    model, opt = setup()
    ckpt = train.ModelCheckpoint(
        tmp_path / "e{epoch:02d}.npz", monitor="loss", save_best_only=False
    )
    quiet_fit(model, opt, loader(X, y), epochs=2, callbacks=[ckpt])
    assert sorted(os.listdir(tmp_path)) == ["e01.npz", "e02.npz"]
    with pytest.raises(CheckpointError):
        train.load_checkpoint(tmp_path / "missing.npz", model)


def test_load_checkpoint_rejects_other_files(tmp_path):
    from tinygrad_mlp import io

    io.save({"weights": np.zeros(3)}, tmp_path / "other.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        train.load_checkpoint(tmp_path / "other.npz", nn.MLP([2, 2]))


# ---------------------------------------------------------------------- schedulers


class SpyPlateau(optim.ReduceLROnPlateau):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.seen = []

    def step(self, metric):
        self.seen.append(metric)
        super().step(metric)


def test_reduce_lr_on_plateau_gets_val_loss_and_lowers_the_rate():
    X, y = blobs(100)
    Xv, yv = blobs(100, seed=1, flip=True)
    model, opt = setup(lr=0.02)
    sched = SpyPlateau(opt, factor=0.5, patience=0)
    history = quiet_fit(
        model, opt, loader(X, y), val_loader=loader(Xv, yv), epochs=4, scheduler=sched
    )
    assert sched.seen == history["val_loss"]
    assert history["lr"] == pytest.approx([0.02, 0.02, 0.01, 0.005])


def test_reduce_lr_on_plateau_uses_the_train_loss_without_validation():
    X, y = blobs(60)
    model, opt = setup()
    sched = SpyPlateau(opt)
    history = quiet_fit(model, opt, loader(X, y), epochs=2, scheduler=sched)
    assert sched.seen == history["loss"]


def test_epoch_scheduler_steps_once_per_epoch():
    X, y = blobs(60)
    model, opt = setup(lr=0.1)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    history = quiet_fit(model, opt, loader(X, y, batch_size=10), epochs=3, scheduler=sched)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])


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


# ---------------------------------------------------------------------- memory and end to end


def test_ten_thousand_steps_keep_memory_flat():
    """Every step's graph is released: the traced peak after step 10,000 is the one after 1,000.

    CPython's free lists (tuples, dicts) slowly fill with traced blocks, up to thousands of
    entries, which tracemalloc would count as growth; a full collection empties them, so one runs
    every 500 steps. A graph kept per step would add > 1 KiB per step (9 MiB here).
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    model = nn.MLP([4, 8, 2], seed=0)
    opt = optim.SGD(model.parameters(), lr=0.01)
    batches = [(Tensor(X), Tensor(y))] * 1000
    readings = {}

    class Probe(train.Callback):
        def on_train_begin(self, fit_state):
            self.state = fit_state

        def on_batch_end(self, step, logs):
            if self.state.global_step % 500 == 0:
                gc.collect()
            if self.state.global_step in (1000, 10000):
                readings[self.state.global_step] = tracemalloc.get_traced_memory()

    gc.collect()
    tracemalloc.start()
    try:
        quiet_fit(model, opt, batches, F.mse_loss, epochs=10, metrics=(), callbacks=[Probe()])
    finally:
        tracemalloc.stop()
    (current_1k, peak_1k), (current_10k, peak_10k) = readings[1000], readings[10000]
    assert peak_10k - peak_1k < 64 * 1024, readings
    assert current_10k - current_1k < 64 * 1024, readings


def test_two_moons_end_to_end():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.make_moons(n_samples=1000, noise=0.1, random_state=0)
    X, y = X.astype(np.float32), y.astype(np.int64)
    X_train, X_test, y_train, y_test = X[:800], X[800:], y[:800], y[800:]
    model = nn.MLP([2, 64, 2], activation="relu", seed=0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    history = quiet_fit(
        model,
        opt,
        loader(X_train, y_train, seed=0),
        val_loader=loader(X_test, y_test, shuffle=False),
        epochs=40,
    )
    assert (train.predict(model, X_test) == y_test).mean() >= 0.97
    assert history["val_accuracy"][-1] >= 0.97
