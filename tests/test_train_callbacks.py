"""Tests of ``tinygrad_mlp.train`` callbacks: hooks, EarlyStopping, ModelCheckpoint, checkpoints."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _train_helpers import Snapshots, blobs, loader, quiet_fit, same_state, setup

from tinygrad_mlp import functional as F
from tinygrad_mlp import nn, optim, train
from tinygrad_mlp.io import CheckpointError

# ---------------------------------------------------------------------- hooks


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
