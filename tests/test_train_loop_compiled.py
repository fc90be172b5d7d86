"""``fit(..., compile=True)`` and ``CompiledStep.forward_backward``: training through
``train.compile_step`` must give the eager loop's history, parameters and optimizer state bit for
bit, check the loss before it updates anything, and refuse what it cannot run before training."""

import json
import math

import numpy as np
import pytest
from _train_helpers import blobs, loader, quiet_fit, same_state

import tinygrad_mlp as tg
from tinygrad_mlp import cli, data, io, nn, optim, train
from tinygrad_mlp import functional as F
from tinygrad_mlp.backend import to_numpy
from tinygrad_mlp.train import compile_step


def twins(sizes=(2, 8, 2), dropout=0.0, dtype="float32", device="cpu"):
    """Two identical (model, Adam) pairs."""
    pairs = []
    for _ in range(2):
        model = nn.MLP(list(sizes), dropout=dropout, seed=1, dtype=dtype, device=device)
        pairs.append((model, optim.Adam(model.parameters(), lr=0.05)))
    return pairs


def opt_state(opt):
    return {
        (k, name): np.asarray(v)
        for k, state in opt.state_dict()["state"].items()
        for name, v in state.items()
    }


def same_opt_state(a, b):
    sa, sb = opt_state(a), opt_state(b)
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def mse_loader(X, y, shuffle=True, device="cpu"):
    """Regression on one-hot targets (the compiled step's other loss)."""
    onehot = np.eye(2, dtype=X.dtype)[y]
    return data.DataLoader(X, onehot, batch_size=32, shuffle=shuffle, seed=0, device=device)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_same_history_parameters_and_state_as_the_eager_loop(device, loss):
    X, y = blobs(150)
    (m1, o1), (m2, o2) = twins(dropout=0.25, device=device)
    if loss == "mse":
        fn, metrics = F.mse_loss, ("mse", "mae")
        make = lambda shuffle: mse_loader(X, y, shuffle, device)  # noqa: E731
    else:
        fn, metrics = F.cross_entropy, ("accuracy",)
        make = lambda shuffle: data.DataLoader(  # noqa: E731
            X, y, batch_size=32, shuffle=shuffle, seed=0, device=device
        )
    runs = []
    for model, opt, compiled in ((m1, o1, False), (m2, o2, True)):
        sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        runs.append(
            quiet_fit(
                model,
                opt,
                make(True),
                loss_fn=fn,
                val_loader=make(False),
                epochs=3,
                metrics=metrics,
                scheduler=sched,
                compile=compiled,
            )  # fmt: skip
        )
    eager, compiled = runs
    for key in eager.keys():
        if key != "epoch_time":
            assert eager[key] == compiled[key], key
    assert same_state(m1.state_dict(), m2.state_dict())
    assert same_opt_state(o1, o2)
    assert all(p.grad is None for p in m2.parameters())
    assert m2.training  # train mode restored


def test_a_nan_loss_stops_before_the_update():
    X, y = blobs(100)
    (m1, o1), (m2, o2) = twins()
    batches = [(tg.Tensor(X[i : i + 20]), tg.Tensor(y[i : i + 20])) for i in range(0, 100, 20)]
    poisoned = list(batches)
    poisoned[3] = (tg.Tensor(np.full((20, 2), np.nan, dtype=np.float32)), batches[3][1])
    with pytest.raises(train.NonFiniteLossError) as info:
        quiet_fit(m2, o2, poisoned, epochs=2, compile=True)
    assert (info.value.epoch, info.value.step) == (1, 4) and math.isnan(info.value.value)
    quiet_fit(m1, o1, batches[:3], epochs=1)  # the eager loop up to the bad step
    assert same_state(m1.state_dict(), m2.state_dict())
    assert same_opt_state(o1, o2)


class Began(train.Callback):
    def on_train_begin(self, fit_state):
        raise AssertionError("training began")


def test_what_the_compiled_step_cannot_run_is_refused_before_training():
    X, y = blobs(40)
    model, opt = twins()[0]
    before = model.state_dict()
    with pytest.raises(ValueError, match="needs loss_fn F.cross_entropy or F.mse_loss.*'<lambda>'"):
        quiet_fit(
            model, opt, loader(X, y), loss_fn=lambda o, t: F.cross_entropy(o, t),
            compile=True, callbacks=[Began()],
        )  # fmt: skip
    sig = nn.MLP([2, 4, 1], output_activation="sigmoid", seed=0)
    with pytest.raises(TypeError, match="nothing after the last Linear"):
        quiet_fit(
            sig, optim.SGD(sig.parameters(), lr=0.1), loader(X, y), compile=True,
            callbacks=[Began()],
        )  # fmt: skip
    assert same_state(model.state_dict(), before) and opt.state == {}


def test_a_batch_the_compiled_step_refuses_names_its_epoch_and_step():
    X, y = blobs(60)
    model, opt = twins()[0]
    batches = [(tg.Tensor(X[i : i + 20]), tg.Tensor(y[i : i + 20])) for i in range(0, 60, 20)]
    batches[2] = (tg.Tensor(X[40:].astype(np.float64)), batches[2][1])  # the eager step takes it
    with pytest.raises(ValueError) as info:
        quiet_fit(model, opt, batches, epochs=2, compile=True)
    message = str(info.value)
    assert message.startswith("fit(compile=True), epoch 1, step 3: compile_step: x (float64")
    assert message.endswith("(or train with compile=False)")
    assert isinstance(info.value.__cause__, train.StepRefused)


def test_a_batch_the_eager_step_refuses_too_gets_no_compile_false_hint():
    X, y = blobs(40)
    model, opt = twins()[0]
    batches = [(tg.Tensor(X[:20]), tg.Tensor(y[:20])), (tg.Tensor(X[20:]), tg.Tensor(y[20:] + 5))]
    with pytest.raises(ValueError) as info:
        quiet_fit(model, opt, batches, epochs=1, compile=True)
    message = str(info.value)
    assert message.startswith("fit(compile=True), epoch 1, step 2: label ")
    assert "outside [0, 2)" in message and "compile=False" not in message
    assert not isinstance(info.value.__cause__, train.StepRefused)


def test_forward_backward_changes_nothing_until_applied(device):
    (m1, o1), (m2, o2) = twins(sizes=(2, 5, 3), dropout=0.3, device=device)
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((6, 2)), dtype="float32", device=device)
    y = tg.Tensor(rng.integers(0, 3, 6), device=device)
    step = compile_step(m2, o2)
    before = m2.state_dict()
    pending = step.forward_backward(x, y)
    assert same_state(m2.state_dict(), before) and o2.state == {}
    o1.zero_grad()
    out = m1(x)
    loss = F.cross_entropy(out, y)
    loss.backward()
    o1.step()
    assert np.array_equal(to_numpy(pending.output.data), to_numpy(out.data))
    assert np.array_equal(to_numpy(pending.loss.data), to_numpy(loss.data))
    assert not pending.output.requires_grad and "not applied" in repr(pending)
    pending.apply()
    assert same_state(m1.state_dict(), m2.state_dict()) and same_opt_state(o1, o2)
    assert "applied" in repr(pending)
    with pytest.raises(RuntimeError, match="already applied"):
        pending.apply()
    assert same_state(m1.state_dict(), m2.state_dict())


def test_only_the_latest_step_can_be_applied():
    (m1, o1), (m2, o2) = twins()
    step = compile_step(m2, o2)
    x, y = tg.Tensor(np.ones((4, 2), np.float32)), tg.Tensor(np.array([0, 1, 1, 0]))
    first = step.forward_backward(x, y)
    second = step.forward_backward(x, y)
    with pytest.raises(RuntimeError, match="stale"):
        first.apply()
    with pytest.raises(ValueError):  # a refused batch computes nothing: second stays the latest
        step.forward_backward(x, tg.Tensor(np.array([0, 1, 1, 7])))
    with pytest.raises(ValueError):
        step(x, tg.Tensor(np.array([0, 1, 1, 7])))
    second.apply()
    third = step.forward_backward(x, y)
    step(x, y)  # a whole step in between
    with pytest.raises(RuntimeError, match="stale"):
        third.apply()
    quiet_fit(m1, o1, [(x, y)], epochs=2)  # two steps applied, no more
    assert same_state(m1.state_dict(), m2.state_dict()) and same_opt_state(o1, o2)


def test_forward_backward_under_detect_anomaly_is_the_eager_step():
    (m1, o1), (m2, o2) = twins()
    x, y = tg.Tensor(np.ones((4, 2), np.float32)), tg.Tensor(np.array([0, 1, 1, 0]))
    step = compile_step(m2, o2)
    for p in m2.parameters():  # stale gradients: the eager path must clear them first
        p.grad = tg.Tensor(np.ones(p.shape, np.float32))
    with tg.detect_anomaly():
        pending = step.forward_backward(x, y)
        assert all(p.grad is not None for p in m2.parameters())  # the eager backward ran
        assert not pending.output.requires_grad and not pending.loss.requires_grad
        assert same_state(m2.state_dict(), m1.state_dict())
        pending.apply()
    quiet_fit(m1, o1, [(x, y)], epochs=1)
    assert same_state(m1.state_dict(), m2.state_dict())
    assert all(p.grad is None for p in m2.parameters())


@pytest.mark.parametrize(
    "where",
    [
        "cpu",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(not tg.backend.is_available("cuda"), reason="no GPU")
        ),
    ],
)
def test_cli_compiles_by_default_and_gives_the_same_model(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    made = []
    spy = lambda *args, **kw: made.append(compile_step(*args, **kw)) or made[-1]  # noqa: E731
    monkeypatch.setattr(train.compiled, "compile_step", spy)
    common = ["train", "--epochs", "2", "--no-progress", "--device", where]
    assert cli.main([*common, "--out", "eager", "--no-compile"]) == 0
    assert not made
    assert cli.main([*common, "--out", "compiled"]) == 0
    assert len(made) == 1
    assert cli.main([*common, "--out", "explicit", "--compile"]) == 0
    assert len(made) == 2
    eager, compiled = (
        json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("eager", "compiled")
    )
    assert compiled["config"]["compile"] and not eager["config"]["compile"]
    assert compiled["test_accuracy"] == eager["test_accuracy"]
    assert compiled["test_loss"] == eager["test_loss"]
    a, b = (io.load(tmp_path / d / "model.npz")["model"] for d in ("eager", "compiled"))
    assert same_state(a, b) and len(a) == 4


def test_cli_compile_needs_cross_entropy(capsys):
    assert cli.main(["train", "--loss", "mse", "--compile", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--compile needs --loss cross-entropy" in err and "got --loss mse;" in err
    assert cli.main(["train", "--dataset", "breast-cancer", "--compile"]) == 2
    assert "got --loss bce (the default for --dataset breast-cancer)" in capsys.readouterr().err
    assert cli.main(["train", "--layers", "64,10", "--compile"]) == 2
    err = capsys.readouterr().err
    assert "--compile needs a hidden layer" in err and "got --layers 64,10;" in err


def test_cli_without_a_hidden_layer_trains_eager(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--layers", "64,10", "--epochs", "8", "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "runs" / "digits" / "metrics.json").read_text())
    assert metrics["config"]["compile"] is False and metrics["test_accuracy"] > 0.5


@pytest.mark.parametrize(
    ("argv", "compiled"),
    [
        ([], True),
        (["--loss", "mse"], False),  # sigmoid outputs: the eager step, no error
        (["--dataset", "breast-cancer"], False),
        (["--no-compile"], False),
        (["--layers", "64,10"], False),  # no hidden layer: F.linear's job, the eager step
        (["--dataset", "moons"], True),
        (["--dataset", "fashion-mnist"], True),
        (["--compile", "--loss", "cross-entropy"], True),
    ],
)
def test_cli_compile_default_follows_the_loss(argv, compiled):
    args = cli.build_parser().parse_args(["train", *argv])
    assert cli.resolve_config(args)["compile"] is compiled
