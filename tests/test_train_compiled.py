"""``train.compile_step`` (tinygrad_mlp/train/compiled.py): the MLP's training step without the
autodiff graph must change the parameters, the optimizer state and the loss exactly as the eager
step does (same kernels, same order: bit for bit) on NumPy and array-api-strict (and CuPy where
a GPU is present); bad input must raise a clear error before anything is updated."""

import numpy as np
import pytest
from conftest import DEVICES
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F
from tinygrad_mlp import nn, optim, train
from tinygrad_mlp.backend import to_numpy
from tinygrad_mlp.train import compile_step

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
}
LOSSES = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss}


def twins(sizes, activation="relu", dropout=0.0, dtype="float64", device="cpu", opt="sgd"):
    """Two identical (model, optimizer) pairs: one for the eager step, one for the compiled."""
    pairs = []
    for _ in range(2):
        model = nn.MLP(sizes, activation, dropout=dropout, seed=3, dtype=dtype, device=device)
        pairs.append((model, OPTIMIZERS[opt](model.parameters())))
    return pairs


def batch(sizes, n, loss, dtype="float64", device="cpu", seed=0):
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((n, sizes[0])), dtype=dtype, device=device)
    if loss == "cross_entropy":
        y = tg.Tensor(rng.integers(0, sizes[-1], n), device=device)
    else:
        y = tg.Tensor(rng.standard_normal((n, sizes[-1])), dtype=dtype, device=device)
    return x, y


def eager_step(model, opt, x, y, loss="cross_entropy"):
    opt.zero_grad()
    value = LOSSES[loss](model(x), y)
    value.backward()
    opt.step()
    return value


def host(model):
    return [np.array(to_numpy(p.data), copy=True) for p in model.parameters()]


def assert_same(a, b):
    for i, (p, q) in enumerate(zip(host(a), host(b), strict=True)):
        assert np.array_equal(p, q), f"parameter {i} differs: max |diff| {np.abs(p - q).max()}"


def assert_same_state(opt_a, opt_b):
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k, state in sa["state"].items():
        assert state.keys() == sb["state"][k].keys(), k
        for name, value in state.items():
            assert np.array_equal(np.asarray(value), np.asarray(sb["state"][k][name])), (k, name)


@given(
    sizes=st.lists(st.integers(1, 7), min_size=3, max_size=5),
    n=st.integers(1, 9),
    loss=st.sampled_from(sorted(LOSSES)),
    dropout=st.sampled_from([0.0, 0.3]),
    dtype=st.sampled_from(["float32", "float64"]),
)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("device", DEVICES)
def test_same_steps_as_eager(device, opt, activation, sizes, n, loss, dropout, dtype):
    (m1, o1), (m2, o2) = twins(sizes, activation, dropout, dtype, device, opt)
    assert_same(m1, m2)
    step = compile_step(m2, o2, loss=loss)
    for seed in range(3):
        x, y = batch(sizes, n, loss, dtype, device, seed)
        expected = eager_step(m1, o1, x, y, loss)
        got = step(x, y)
        assert got.dtype == expected.dtype and not got.requires_grad
        assert np.array_equal(to_numpy(got.data), to_numpy(expected.data))
        assert_same(m1, m2)
    assert_same_state(o1, o2)
    assert all(p.grad is None for p in m2.parameters())


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.Sigmoid])
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_sequential_same_as_its_eager_steps(activation, dropout):
    """An nn.Sequential runs layer by layer when eager (no fused op): the compiled step still
    gives its parameters bit for bit (the ops' derivatives round as the fused op's do)."""

    def make():
        layers = [nn.Linear(4, 6, dtype="float32", seed=1), activation()]
        layers += [nn.Dropout(dropout, seed=2)] if dropout else []
        return nn.Sequential(*layers, nn.Linear(6, 3, dtype="float32", seed=3))

    m1, m2 = make(), make()
    o1, o2 = optim.Adam(m1.parameters(), lr=0.05), optim.Adam(m2.parameters(), lr=0.05)
    step = compile_step(m2, o2)
    for seed in range(4):
        x, y = batch([4, 6, 3], 7, "cross_entropy", "float32", seed=seed)
        expected = eager_step(m1, o1, x, y)
        assert step(x, y).item() == expected.item()
    assert_same(m1, m2)


def test_plain_arrays_and_sequential():
    """x and y may be arrays; an nn.Sequential of the same layers compiles like nn.MLP."""
    (m1, o1), _ = twins([5, 4, 3])
    m2 = nn.Sequential(*m1.layers)
    m1 = nn.MLP([5, 4, 3], seed=3, dtype="float64")
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)
    x, y = batch([5, 4, 3], 6, "cross_entropy")
    step = compile_step(m2, o2)
    for _ in range(2):
        eager_step(m1, o1, x, y)
        step(x.numpy(), [int(v) for v in y.numpy()])
    assert_same(m1, m2)


def test_learning_rate_changes_and_schedulers_apply():
    (m1, o1), (m2, o2) = twins([4, 6, 3], opt="sgd_momentum")
    s1, s2 = optim.StepLR(o1, step_size=1, gamma=0.5), optim.StepLR(o2, step_size=1, gamma=0.5)
    step = compile_step(m2, o2)
    for seed in range(3):
        x, y = batch([4, 6, 3], 5, "cross_entropy", seed=seed)
        eager_step(m1, o1, x, y)
        step(x, y)
        s1.step()
        s2.step()
    assert o2.param_groups[0]["lr"] == 0.05 * 0.5**3
    assert_same(m1, m2)


def test_frozen_and_unoptimized_parameters_stay():
    """A parameter with requires_grad=False, or one the optimizer does not hold, is not changed
    (as by the eager step); the optimizer's other parameters are."""
    (m1, o1), _ = twins([4, 6, 3])
    m2 = nn.MLP([4, 6, 3], seed=3, dtype="float64")
    held = lambda m: [p for p in m.parameters() if p is not m.layers[2].weight]  # noqa: E731
    o1, o2 = optim.SGD(held(m1), lr=0.1), optim.SGD(held(m2), lr=0.1)
    m1.layers[0].bias.requires_grad = False  # frozen after the optimizer took it
    m2.layers[0].bias.requires_grad = False
    before = host(m2)
    step = compile_step(m2, o2)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    for p in m2.parameters():  # stale gradients, on every parameter
        p.grad = tg.Tensor(np.ones(p.shape), dtype="float64")
    eager_step(m1, o1, x, y)
    step(x, y)
    assert all(p.grad is None for p in m2.parameters())
    after = host(m2)
    assert np.array_equal(after[1], before[1]) and np.array_equal(after[2], before[2])
    assert not np.array_equal(after[0], before[0]) and not np.array_equal(after[3], before[3])
    assert_same(m1, m2)


def test_replaced_parameter_is_followed():
    """A weight replaced after compiling is the one used and updated (when the optimizer holds
    it), as in the eager step."""
    (m1, o1), (m2, o2) = twins([4, 6, 3])
    step = compile_step(m2, o2)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    step(x, y)
    eager_step(m1, o1, x, y)
    for m, o in ((m1, o1), (m2, o2)):
        w = tg.Tensor(np.full((6, 4), 0.25), requires_grad=True, dtype="float64")
        m.layers[0].weight = w
        o.add_param_group({"params": [w], "lr": 0.5})
    step(x, y)
    eager_step(m1, o1, x, y)
    assert_same(m1, m2)
    assert not np.array_equal(host(m2)[0], np.full((6, 4), 0.25))


def test_eval_mode_draws_no_dropout_mask():
    (m1, o1), (m2, o2) = twins([4, 6, 3], dropout=0.5)
    m1.eval()
    m2.eval()
    step = compile_step(m2, o2)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    for _ in range(2):
        eager_step(m1, o1, x, y)
        step(x, y)
    assert_same(m1, m2)
    m1.train()
    m2.train()
    eager_step(m1, o1, x, y)
    step(x, y)
    assert_same(m1, m2)


def test_detect_anomaly_runs_the_eager_step():
    (m1, o1), (m2, o2) = twins([4, 6, 3])
    step = compile_step(m2, o2)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    with tg.detect_anomaly():
        loss = step(x, y)
        assert all(p.grad is None for p in m2.parameters())
        eager_step(m1, o1, x, y)
        assert_same(m1, m2)
        bad = tg.Tensor(np.full((5, 4), np.nan), dtype="float64")
        with pytest.raises(tg.AnomalyError):
            step(bad, y)
    assert loss.grad is None and not loss.requires_grad
    assert all(p.grad is None for p in m2.parameters())
    assert_same(m1, m2)


BAD_BATCHES = [
    ("x", np.zeros((5, 3)), "x must have shape (N, 4)"),
    ("x", np.zeros((0, 4)), "got (0, 4)"),
    ("x", np.zeros(4), "got (4,)"),
    ("x", np.zeros((5, 4), dtype=np.float32), "x (float32 on cpu) does not match"),
    ("y", np.array([0, 1, 2, 3, 0]), "label 3 is outside [0, 3)"),
    ("y", np.array([0, 1, -1, 2, 0]), "label -1 is outside [0, 3)"),
    ("y", np.array([0, 1, 2, 0]), "got 4 labels for a batch of 5"),
    ("y", np.zeros(5), "class labels must be an integer tensor, got float64"),
    ("y", np.zeros((5, 1), dtype=np.int64), "class labels must have shape (N,)"),
    ("y", np.zeros(5, dtype=np.float16), "class labels must be an integer tensor"),
    ("y", np.zeros((5, 3), np.float32), "targets must have shape (5, 3) and dtype float64"),
    ("y", np.zeros((5, 2), dtype=np.float32), "must have the logits' shape (5, 3), got (5, 2)"),
]


@pytest.mark.parametrize(("which", "value", "message"), BAD_BATCHES)
def test_bad_batch_names_the_problem_and_changes_nothing(which, value, message):
    """No parameter, optimizer state or dropout generator moves: the next good step is the one a
    twin that never saw the bad batch takes."""
    (model, opt), (twin, twin_opt) = twins([4, 6, 3], dropout=0.5, opt="adam")
    step = compile_step(model, opt)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    bad_x, bad_y = (value, y) if which == "x" else (x, value)
    if which == "y" and value.shape == (5, 3):
        bad_y = tg.Tensor(value, dtype="float32")  # a Tensor keeps its dtype (an array would not)
    before = host(model)
    with pytest.raises(ValueError) as err:
        step(bad_x, bad_y)
    assert message in str(err.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, host(model), strict=True))
    assert opt.state == {}
    step(x, y)
    compile_step(twin, twin_opt)(x, y)
    assert_same(model, twin)


def test_bad_mse_target():
    (model, opt), _ = twins([4, 6, 3])
    step = compile_step(model, opt, loss="mse")
    x, _ = batch([4, 6, 3], 5, "mse")
    with pytest.raises(ValueError, match=r"targets must have shape \(5, 3\) and dtype float64"):
        step(x, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="got .5, 3. and float32"):  # a float32 Tensor
        step(x, tg.Tensor(np.zeros((5, 3)), dtype="float32"))
    step(x, np.zeros((5, 3), dtype=np.float32))  # an array takes the model's dtype, as in eager


def test_targets_on_another_device():
    (model, opt), _ = twins([4, 6, 3])
    step = compile_step(model, opt)
    x, _ = batch([4, 6, 3], 5, "cross_entropy")
    y = tg.Tensor(np.zeros(5, dtype=np.int64), device="array_api_strict")
    with pytest.raises(tg.DeviceError, match="target is on 'array_api_strict' but the input"):
        step(x, y)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_targets_converted_as_the_eager_step_converts_them(loss):
    """Soft labels (class probabilities), Python lists and integer regression targets."""
    (m1, o1), (m2, o2) = twins([4, 6, 3])
    step = compile_step(m2, o2, loss=loss)
    rng = np.random.default_rng(5)
    x = tg.Tensor(rng.standard_normal((5, 4)), dtype="float64")
    soft = rng.dirichlet(np.ones(3), 5)
    targets = [soft, soft.tolist(), rng.integers(0, 3, (5, 3))]
    if loss == "cross_entropy":
        targets = targets[:2] + [rng.integers(0, 3, 5).tolist()]
    for y in targets:
        assert step(x, y).item() == eager_step(m1, o1, x, y, loss).item()
    assert_same(m1, m2)


class Custom(nn.Module):
    def forward(self, x):
        return x


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Custom(), "model must be an nn.MLP or an nn.Sequential"),
        (nn.MLP([4, 3]), "the model must be Linear layers"),
        (nn.MLP([4, 5, 3], output_activation="softmax"), "nothing after the last Linear"),
        (nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3, bias=False)), "with biases"),
    ],
)
def test_unsupported_models(model, message):
    with pytest.raises(TypeError, match=message):
        compile_step(model, optim.SGD(nn.MLP([2, 2, 2]).parameters(), lr=0.1))


def test_unsupported_loss_and_optimizer():
    model = nn.MLP([4, 5, 3])
    with pytest.raises(ValueError, match="loss must be one of"):
        compile_step(model, optim.SGD(model.parameters(), lr=0.1), loss="nll")
    with pytest.raises(TypeError, match="optimizer must be a tinygrad_mlp.optim optimizer"):
        compile_step(model, object())

    class Stepper(optim.SGD):
        def step(self, closure=None):
            return None

    with pytest.raises(TypeError, match="Stepper defines its own step"):
        compile_step(model, Stepper(model.parameters(), lr=0.1))


def test_exported_and_repr():
    model = nn.MLP([4, 5, 3])
    step = train.compile_step(model, optim.Adam(model.parameters()))
    assert isinstance(step, train.CompiledStep)
    assert repr(step) == "CompiledStep(MLP, Adam, loss='cross_entropy')"


def test_stale_gradients_are_dropped():
    """After a step no parameter keeps a gradient, not even one left by an earlier eager step
    (as if ``zero_grad()`` ran after the step); the update ignores the stale one."""
    (m1, o1), (m2, o2) = twins([4, 6, 3])
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    for model in (m1, m2):
        F.cross_entropy(model(x), y).backward()  # stale gradients, never applied
    compile_step(m2, o2)(x, y)
    eager_step(m1, o1, x, y)
    assert all(p.grad is None for p in m2.parameters())
    assert_same(m1, m2)


def test_a_parameter_added_to_a_group_later_is_updated():
    """The step looks up each parameter's group again when a group's parameter list changes."""
    m1, m2 = (nn.MLP([4, 6, 3], seed=3, dtype="float64") for _ in range(2))
    o1, o2 = (optim.SGD(list(m.parameters())[1:], lr=0.1) for m in (m1, m2))
    step = compile_step(m2, o2)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    step(x, y)
    eager_step(m1, o1, x, y)
    for m, o in ((m1, o1), (m2, o2)):
        o.param_groups[0]["params"].append(m.layers[0].weight)
    step(x, y)
    eager_step(m1, o1, x, y)
    assert_same(m1, m2)
    assert not np.array_equal(host(m2)[0], host(nn.MLP([4, 6, 3], seed=3, dtype="float64"))[0])


def test_tied_weights_are_refused_before_anything_changes():
    """A layer used twice: the eager step adds its two gradients, an update per use would not."""
    first, mid, last = (nn.Linear(a, b, dtype="float64") for a, b in ((4, 6), (6, 6), (6, 3)))
    model = nn.Sequential(first, nn.Tanh(), mid, nn.Tanh(), mid, nn.Tanh(), last)
    opt = optim.Adam(model.parameters(), lr=0.01)
    step = compile_step(model, opt)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    before = host(model)
    with pytest.raises(ValueError, match="a parameter appears twice in the stack"):
        step(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, host(model), strict=True))
    assert opt.state == {}


def test_replaced_layers_are_followed():
    """New layers (even of another input width) are the ones the step runs, as ``model(x)``
    would."""
    (m1, o1), (m2, o2) = twins([4, 6, 3])
    step = compile_step(m2, o2)
    step(*batch([4, 6, 3], 5, "cross_entropy"))
    for m, o in ((m1, o1), (m2, o2)):
        m.layers = nn.Sequential(nn.Linear(7, 5, dtype="float64", seed=4), nn.ReLU())
        m.layers.append(nn.Linear(5, 3, dtype="float64", seed=5))
        m.in_features = 7
        o.add_param_group({"params": list(m.layers.parameters())})
    x, y = batch([7, 5, 3], 6, "cross_entropy")
    assert step(x, y).item() == eager_step(m1, o1, x, y).item()
    assert_same(m1, m2)


def test_a_replaced_param_group_is_followed():
    (m1, o1), (m2, o2) = twins([4, 6, 3], opt="sgd_momentum")
    step = compile_step(m2, o2)
    x, y = batch([4, 6, 3], 5, "cross_entropy")
    step(x, y)
    eager_step(m1, o1, x, y)
    for o in (o1, o2):
        o.param_groups[0] = {**o.param_groups[0], "lr": 0.5, "momentum": 0.0}
    step(x, y)
    eager_step(m1, o1, x, y)
    assert_same(m1, m2)


def test_groups_with_their_own_settings():
    """Each parameter's state is created and updated with its own group's hyper-parameters."""
    pairs = []
    for _ in range(2):
        model = nn.MLP([4, 6, 3], seed=3, dtype="float64")
        ps = list(model.parameters())
        groups = [{"params": ps[:2], "amsgrad": True}, {"params": ps[2:], "lr": 0.1}]
        pairs.append((model, optim.Adam(groups, lr=0.01)))
    (m1, o1), (m2, o2) = pairs
    step = compile_step(m2, o2)
    for seed in range(3):
        x, y = batch([4, 6, 3], 5, "cross_entropy", seed=seed)
        eager_step(m1, o1, x, y)
        step(x, y)
    assert_same(m1, m2)
    assert_same_state(o1, o2)


def test_nothing_to_train_is_an_error():
    """Every parameter frozen: the eager step's backward raises, and so does this step."""
    (model, opt), _ = twins([4, 6, 3])
    for p in model.parameters():
        p.requires_grad = False
    with pytest.raises(RuntimeError, match="no parameter of the model requires grad"):
        compile_step(model, opt)(*batch([4, 6, 3], 5, "cross_entropy"))


def test_a_model_or_optimizer_with_its_own_step_logic_is_refused():
    class Scaled(nn.MLP):
        def forward(self, x):
            return super().forward(x) * 2.0

    model = Scaled([4, 5, 3])
    with pytest.raises(TypeError, match="not a subclass with its own forward"):
        compile_step(model, optim.SGD(model.parameters(), lr=0.1))
    model = nn.MLP([4, 5, 3])
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.step = lambda closure=None: None
    with pytest.raises(TypeError, match="SGD defines its own step"):
        compile_step(model, opt)
