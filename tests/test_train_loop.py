"""Tests of ``tinygrad_mlp.train.fit``: the loop, bad inputs, progress, NaN loss, interrupts."""

from __future__ import annotations

import gc
import math
import os
import re
import signal
import sys
import time
import tracemalloc

import numpy as np
import pytest
from _train_helpers import Snapshots, blobs, loader, quiet_fit, same_state, setup

from tinygrad_mlp import Tensor, data, nn, optim, train
from tinygrad_mlp import functional as F

# ---------------------------------------------------------------------- helpers


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
