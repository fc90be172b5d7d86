"""Faults: NaN/Inf found and named, interrupts that lose nothing, bit-identical reruns.

Covered elsewhere (not repeated here):
- a non-finite loss stops ``fit`` naming epoch and step, and a ``ModelCheckpoint`` file keeps the
  last good epoch: test_train_loop.py::test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_
  good_checkpoint and ::test_inf_loss_is_also_caught;
- Ctrl-C / KeyboardInterrupt in ``fit`` outside a write: test_train_loop.py::test_keyboard_
  interrupt_from_a_callback_returns_the_history and ::test_ctrl_c_finishes_the_current_step_then_
  stops;
- KeyboardInterrupt inside ``tinygrad_mlp.save``: test_io.py::test_interrupted_write_keeps_the_
  previous_file_intact (previous file byte-identical, no temporary file left);
- 10,000 training steps with flat memory: test_train_loop.py::test_ten_thousand_steps_keep_
  memory_flat;
- backward through a 100,000-op chain: test_graph.py::test_deep_chain_of_100000_ops_is_iterative.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import data, function, nn, optim, train
from tinygrad_mlp import functional as F


def batch(n=8, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, rng.integers(0, classes, size=n).astype(np.int64)


def setup(seed=0, sizes=(4, 8, 3), **kw):
    model = nn.MLP(list(sizes), seed=seed, **kw)
    return model, optim.Adam(model.parameters(), lr=0.01)


def state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def quiet_fit(model, opt, batches, **kw):
    return train.fit(model, F.cross_entropy, opt, batches, progress=False, verbose=False, **kw)


# ====================================================================== detect_anomaly
# Unit tests of the mode itself: test_anomaly.py.


def test_anomaly_names_the_op_of_a_nan_input_in_an_mlp_training_step():
    model, opt = setup()
    X, y = batch()
    X[3, 1] = np.nan
    before = state(model)
    opt.zero_grad()
    with (
        tg.detect_anomaly(),
        pytest.raises(tg.AnomalyError, match=r"^Linear(ReLU)?\.forward produced"),
    ):
        F.cross_entropy(model(tg.Tensor(X)), y).backward()
    assert same(state(model), before)


def test_anomaly_names_the_op_of_a_forward_overflow_in_an_mlp():
    model, _ = setup()
    X, _ = batch()
    with np.errstate(over="ignore"), tg.detect_anomaly():
        with pytest.raises(tg.AnomalyError, match=r"^Exp\.forward produced"):
            (model(tg.Tensor(X)) * 1e4).exp()


def test_anomaly_names_the_op_of_a_backward_inf_in_an_mlp_training_step():
    model, opt = setup()
    X, _ = batch()
    opt.zero_grad()
    out = model(tg.Tensor(X)).relu()  # some outputs are exactly 0: sqrt has an infinite slope
    assert np.any(out.numpy() == 0.0)
    with np.errstate(divide="ignore"), tg.detect_anomaly():
        loss = (out**0.5).sum()  # finite
        with pytest.raises(tg.AnomalyError, match=r"^Pow\.backward produced"):
            loss.backward()


def test_anomaly_mode_inside_fit_names_the_op_before_any_step():
    model, opt = setup()
    X, y = batch(16)
    X[9, 0] = np.inf
    before = state(model)
    batches = [(tg.Tensor(X[:8]), tg.Tensor(y[:8])), (tg.Tensor(X[8:]), tg.Tensor(y[8:]))]
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError, match=r"^Linear(ReLU)?\.forward"):
        quiet_fit(model, opt, batches, epochs=1)
    assert not same(state(model), before)  # step 1 was applied ...
    model2, opt2 = setup()
    quiet_fit(model2, opt2, batches[:1], epochs=1)
    assert same(state(model), state(model2))  # ... and step 2 was not
    assert not function._state.anomaly  # the mode is off again after the error


def test_anomaly_mode_checks_0d_gradients():
    """NumPy arithmetic on 0-d arrays returns scalars; backward must hand the checks (and the
    leaves) arrays. Found by tests/test_fuzz.py: a scalar gradient crashed backward."""
    x = tg.Tensor(np.array(1.5), dtype="float64", requires_grad=True)
    with tg.detect_anomaly():
        (x * x * 2.0).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.item() == 6.0
    with np.errstate(divide="ignore"), tg.detect_anomaly():
        with pytest.raises(tg.AnomalyError, match=r"Pow\.backward"):
            (tg.Tensor(np.array(0.0), requires_grad=True) ** 0.5).backward()


def test_anomaly_mode_off_costs_one_flag_check_and_no_scan(monkeypatch):
    """With the mode off, no array is ever scanned for NaN/Inf; on, every op result is."""
    calls = []
    real = function.check_finite

    def counting(array, where):
        calls.append(where)
        return real(array, where)

    monkeypatch.setattr(function, "check_finite", counting)
    X, y = batch()

    def step():
        model, opt = setup()
        opt.zero_grad()
        F.cross_entropy(model(tg.Tensor(X)), y).backward()
        opt.step()
        return state(model)

    off = step()
    assert calls == []
    with tg.detect_anomaly():
        on = step()
    assert {"Linear.forward", "Linear.backward"} <= set(calls)  # the output layer
    assert "CrossEntropy.forward" in calls and "CrossEntropy.backward" in calls
    assert same(off, on)  # checking changes no value


# ====================================================================== interrupts


class Arm(tg.train.Callback):
    """From the end of epoch ``epoch`` on, the ``fail_on``-th array write raises ``exc``."""

    def __init__(self, monkeypatch, epoch, fail_on=2, exc=KeyboardInterrupt):
        self.epoch, self.fail_on, self.exc, self.armed, self.writes = epoch, fail_on, exc, False, 0
        real = np.lib.format.write_array

        def write_array(*args, **kwargs):
            if self.armed:
                self.writes += 1
                if self.writes == self.fail_on:
                    raise self.exc
            return real(*args, **kwargs)

        monkeypatch.setattr(np.lib.format, "write_array", write_array)

    def on_epoch_end(self, epoch, logs):
        self.armed = epoch >= self.epoch


def test_interrupt_inside_a_checkpoint_write_during_fit_loses_nothing(tmp_path, monkeypatch):
    X, y = batch(40)
    model, opt = setup()
    path = tmp_path / "ckpt.npz"
    loader = data.DataLoader(X, y, batch_size=10, seed=0)
    snapshots = {}

    class Snap(train.Callback):
        def on_epoch_end(self, epoch, logs):
            snapshots[epoch] = state(model)

    arm = Arm(monkeypatch, epoch=2)  # runs before the checkpoint callback of the same epoch
    ckpt = train.ModelCheckpoint(path, monitor="loss", save_best_only=False)
    history = quiet_fit(model, opt, loader, epochs=4, callbacks=[Snap(), arm, ckpt])
    assert arm.writes == 2  # the interrupt came in the middle of epoch 2's file
    assert history.interrupted and len(history) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temporary file left
    fresh, fresh_opt = setup(seed=5)
    assert train.load_checkpoint(path, fresh, fresh_opt)["epoch"] == 1  # the previous file
    assert same(state(fresh), snapshots[1])
    monkeypatch.undo()  # writes work again: the model and optimizer are still usable
    assert all(p.grad is None for p in model.parameters())
    assert train.predict(model, X).shape == (40,)
    more = quiet_fit(model, opt, loader, epochs=1, callbacks=[ckpt])
    assert not more.interrupted and np.isfinite(more["loss"][0])
    assert train.load_checkpoint(path, fresh)["epoch"] == 1 and same(state(fresh), state(model))


class Interrupting(tg.Function):
    """Identity whose backward notes which parameters already hold a gradient (``wire.partial``),
    then is interrupted as by Ctrl-C."""

    def forward(self, x, wire):
        self.wire = wire
        return x * 1.0

    def backward(self, g):
        self.wire.partial = [p.grad is not None for p in self.wire.params()]
        raise KeyboardInterrupt


class Tripwire(nn.Module):
    """Identity layer whose ``at``-th call is interrupted in the middle of its backward."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.calls, self.partial = at, 0, None
        self.params = list  # set to the model's ``parameters`` method

    def forward(self, x):
        self.calls += 1
        return Interrupting.apply(x, wire=self) if self.calls == self.at else x


def test_interrupt_inside_backward_leaves_the_model_at_the_last_full_step():
    X, y = batch(40)
    wire = Tripwire(at=3)  # the 3rd step is interrupted halfway through its backward
    model = nn.Sequential(nn.Linear(4, 8, seed=0), wire, nn.ReLU(), nn.Linear(8, 3, seed=1))
    wire.params = model.parameters
    opt = optim.Adam(model.parameters(), lr=0.01)
    after = {}

    class Keep(train.Callback):
        def on_batch_end(self, step, logs):
            after[step] = state(model)

    batches = [(tg.Tensor(X[i : i + 10]), tg.Tensor(y[i : i + 10])) for i in range(0, 40, 10)]
    history = quiet_fit(model, opt, batches, epochs=2, callbacks=[Keep()])
    assert history.interrupted and len(history) == 0 and sorted(after) == [1, 2]
    assert wire.partial == [False, False, True, True]  # the last layer already had its grads
    assert same(state(model), after[2])  # no half-applied update
    assert all(p.grad is None for p in model.parameters())  # partial gradients dropped
    more = quiet_fit(model, opt, batches, epochs=1)
    assert np.isfinite(more["loss"][0]) and not same(state(model), after[2])


# ====================================================================== determinism


def train_digest(seed: int = 0) -> str:
    """SHA-256 of the weights after training an MLP with dropout, Adam and a shuffled loader."""
    rng = np.random.default_rng(123)
    X = rng.normal(size=(96, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    model = nn.MLP([6, 16, 16, 3], dropout=0.3, seed=seed)
    opt = optim.Adam(model.parameters(), lr=0.01)
    loader = data.DataLoader(X, y, batch_size=16, shuffle=True, seed=seed)
    history = quiet_fit(model, opt, loader, epochs=3)
    digest = hashlib.sha256(np.asarray(history["loss"]).tobytes())
    for name, value in model.state_dict().items():
        digest.update(name.encode() + value.tobytes())
    return digest.hexdigest()


def test_same_seed_gives_bit_identical_weights_in_one_process():
    first, second = train_digest(0), train_digest(0)
    assert first == second
    assert train_digest(1) != first  # the digest does see the seed (dropout, order, init)


def test_same_seed_gives_bit_identical_weights_across_processes():
    tests = Path(__file__).resolve().parent
    code = f"import sys; sys.path.insert(0, {str(tests)!r}); import test_faults as m; "
    code += "print(m.train_digest(0))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a different hash seed changes nothing
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == train_digest(0)
