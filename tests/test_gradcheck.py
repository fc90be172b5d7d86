"""tinygrad_mlp.gradcheck: agreement on correct gradients, flags on wrong ones, no side effects."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import backend, nn
from tinygrad_mlp import functional as F
from tinygrad_mlp.gradcheck import GradcheckReport, gradcheck


def data(n, features, classes, seed=0, dtype="float64", device="cpu"):
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((n, features)), dtype=dtype, device=device)
    y = tg.Tensor(rng.integers(0, classes, n), device=device)
    return x, y


class WrongSquare(tg.Function):
    """x ** 2 whose backward is wrong at one element (flat index ``bad``) only."""

    bad = 3

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, g):
        (x,) = self.saved
        grad = 2.0 * x * g
        return grad * self.xp.reshape(self._mask(grad), grad.shape)

    def _mask(self, like):
        mask = np.ones(like.size)
        mask[self.bad] = 0.5
        return self.xp.asarray(mask, dtype=like.dtype)


class HalfScale(tg.Function):
    """y = 2 x with a backward that forgets the 2."""

    def forward(self, x):
        return 2.0 * x

    def backward(self, g):
        return g


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_gradients_agree_with_per_layer_lines(activation):
    model = nn.MLP([10, 40, 30, 10], activation=activation, seed=0, dtype="float64")
    x, y = data(16, 10, 10)
    report = gradcheck(lambda: F.cross_entropy(model(x), y), model)
    assert isinstance(report, GradcheckReport) and report
    assert str(report).splitlines() == [
        "layer 1 weight: 400 of 400 gradients numerically equal",
        "layer 1 bias: 40 of 40 gradients numerically equal",
        "layer 2 weight: 1200 of 1200 gradients numerically equal",
        "layer 2 bias: 30 of 30 gradients numerically equal",
        "layer 3 weight: 300 of 300 gradients numerically equal",
        "layer 3 bias: 10 of 10 gradients numerically equal",
    ]


def test_classic_784_50_10_sigmoid_counts_in_the_report():
    model = nn.MLP([784, 50, 10], activation="sigmoid", output_activation="sigmoid", seed=0)
    x = tg.Tensor(np.random.default_rng(0).random((2, 784)), dtype="float32")
    target = np.eye(10, dtype=np.float32)[[3, 7]]
    small = [model.linears[1].weight, model.linears[1].bias]  # the 39,250 first-layer values
    report = gradcheck(lambda: F.mse_loss(model(x), target), {"w2": small[0], "b2": small[1]})
    assert report and str(report).splitlines() == [
        "w2: 500 of 500 gradients numerically equal",
        "b2: 10 of 10 gradients numerically equal",
    ]


@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    seed=st.integers(0, 2**31),
    activation=st.sampled_from(["sigmoid", "tanh"]),
    output=st.sampled_from([None, "sigmoid", "softmax", "log_softmax"]),
)
@settings(max_examples=15)
def test_random_mlps_pass(sizes, seed, activation, output):
    model = nn.MLP(sizes, activation=activation, output_activation=output, seed=seed)
    x, _ = data(3, sizes[0], 1, seed=seed)
    report = gradcheck(lambda: (model(x) * model(x)).sum(), model)
    assert report, str(report)


def test_a_wrong_backward_is_flagged_at_the_right_element():
    w = tg.Tensor(np.linspace(0.5, 2.5, 6).reshape(2, 3), dtype="float64", requires_grad=True)
    report = gradcheck(lambda: WrongSquare.apply(w).sum(), {"w": w})
    assert not report and not report.ok and len(report.failures) == 1
    value = float(np.linspace(0.5, 2.5, 6)[3])
    check = report.results[0]
    assert (check.passed, check.total, check.worst_index) == (5, 6, (1, 0))
    assert check.worst_autograd == pytest.approx(value)
    assert check.worst_numeric == pytest.approx(2 * value, rel=1e-6)
    assert str(report) == (
        f"w: 5 of 6 gradients numerically equal; worst at index (1, 0): "
        f"autograd {value:.6g}, numeric {2 * value:.6g}"
    )


def test_a_wrong_backward_inside_a_model_fails_every_layer():
    model = nn.MLP([4, 6, 3], activation="tanh", seed=0, dtype="float64")
    x, y = data(5, 4, 3)
    report = gradcheck(lambda: F.cross_entropy(HalfScale.apply(model(x)), y), model)
    assert not report
    lines = str(report).splitlines()
    assert len(lines) == 4 and all("worst at index" in line for line in lines)
    assert lines[0].startswith("layer 1 weight: ")


def test_float32_model_is_checked_in_float64_and_restored():
    model = nn.MLP([5, 7, 3], activation="tanh", seed=0)
    x, y = data(4, 5, 3, dtype="float32")
    params = model.parameters()
    arrays = [p.data for p in params]
    values = [p.numpy().copy() for p in params]
    sentinel = [tg.Tensor(np.full(p.shape, 9.0), dtype="float32") for p in params]
    for p, s in zip(params, sentinel, strict=True):
        p.grad = s
    report = gradcheck(lambda: F.cross_entropy(model(x), y), model)
    assert report, str(report)  # float32 would be far too coarse for eps=1e-6
    for p, a, v, s in zip(params, arrays, values, sentinel, strict=True):
        assert p.data is a and backend.dtype_name(p.dtype) == "float32"
        np.testing.assert_array_equal(p.numpy(), v)
        assert p.grad is s


def test_no_side_effect_on_the_next_training_step():
    def step(model, x, y, check):
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if check:
            assert gradcheck(lambda: F.cross_entropy(model(x), y), model)
        loss.backward()
        return [p.grad.numpy() for p in model.parameters()]

    x, y = data(6, 3, 2)
    plain = step(nn.MLP([3, 4, 2], seed=1), x, y, check=False)
    checked = step(nn.MLP([3, 4, 2], seed=1), x, y, check=True)
    for a, b in zip(plain, checked, strict=True):
        np.testing.assert_array_equal(a, b)


def test_grads_of_inputs_outside_params_are_left_alone():
    model = nn.MLP([3, 2], seed=0, dtype="float64")
    x = tg.Tensor(np.ones((2, 3)), dtype="float64", requires_grad=True)
    assert gradcheck(lambda: model(x).sum(), model)
    assert x.grad is None


def test_restores_everything_when_loss_fn_raises():
    model = nn.MLP([3, 2], seed=0)
    arrays = [p.data for p in model.parameters()]
    calls = []

    def loss_fn():
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("loss exploded")
        return model(tg.Tensor(np.ones((1, 3)), dtype="float64")).sum()

    with pytest.raises(RuntimeError, match="exploded"):
        gradcheck(loss_fn, model)
    assert [p.data for p in model.parameters()] == arrays
    assert all(backend.dtype_name(p.dtype) == "float32" for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_names_for_lists_dicts_and_custom_modules():
    a = tg.Tensor(np.ones(2), dtype="float64", requires_grad=True)
    b = tg.Tensor(np.ones(3), dtype="float64", requires_grad=True)
    report = gradcheck(lambda: (a * a).sum() + (b * b * b).sum(), [a, b])
    assert [r.name for r in report.results] == ["param 0", "param 1"]

    class Net(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(3, 2, seed=0, dtype="float64")
            self.scale = nn.Parameter(np.ones(1), dtype="float64")

        def forward(self, x):
            return self.fc(x) * self.scale

    net = Net()
    x = tg.Tensor(np.ones((2, 3)), dtype="float64")
    report = gradcheck(lambda: (net(x) ** 2).sum(), net)
    assert [r.name for r in report.results] == ["fc.weight", "fc.bias", "scale"] and report
    seq = nn.Sequential(nn.Linear(3, 3, dtype="float64"), nn.Tanh(), nn.Linear(3, 1))
    report = gradcheck(lambda: seq(x).sum(), seq)
    names = ["layer 1 weight", "layer 1 bias", "layer 2 weight", "layer 2 bias"]
    assert [r.name for r in report.results] == names and report


def test_dropout_in_train_mode_is_refused_and_eval_mode_passes():
    model = nn.MLP([4, 8, 2], dropout=0.5, seed=0)
    x, y = data(3, 4, 2)
    with pytest.raises(ValueError, match="not deterministic.*eval"):
        gradcheck(lambda: F.cross_entropy(model(x), y), model)
    assert gradcheck(lambda: F.cross_entropy(model.eval()(x), y), model)


def test_bad_loss_functions_and_params():
    w = tg.Tensor(np.ones(3), dtype="float64", requires_grad=True)
    with pytest.raises(ValueError, match=r"one-element.*\(3,\)"):
        gradcheck(lambda: w * 2.0, [w])
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda: 1.0, [w])
    with pytest.raises(ValueError, match="float32 loss"):
        gradcheck(lambda: (w * 2.0).sum().astype("float32"), [w])
    frozen = tg.Tensor(np.ones(3), dtype="float64")
    with pytest.raises(ValueError, match="param 0 must be a float tensor with requires_grad"):
        gradcheck(lambda: frozen.sum(), [frozen])
    with pytest.raises(TypeError, match="ndarray"):
        gradcheck(lambda: w.sum(), [np.ones(3)])
    with pytest.raises(ValueError, match="eps"):
        gradcheck(lambda: w.sum(), [w], eps=0.0)
    assert w.grad is None


def test_unused_parameters_have_zero_gradient():
    w = tg.Tensor(np.ones(2), dtype="float64", requires_grad=True)
    unused = tg.Tensor(np.ones(2), dtype="float64", requires_grad=True)
    report = gradcheck(lambda: (w * w).sum(), {"w": w, "unused": unused})
    assert report and str(report).splitlines()[1] == "unused: 2 of 2 gradients numerically equal"


def test_runs_on_array_api_strict():
    model = nn.MLP([3, 4, 2], activation="tanh", seed=0, device="array_api_strict")
    x, y = data(3, 3, 2, device="array_api_strict")
    assert gradcheck(lambda: F.cross_entropy(model(x), y), model)
    assert all(p.device == "array_api_strict" for p in model.parameters())
