"""tinygrad_mlp.nn: Module discovery, state dicts, devices, layers, Dropout and MLP."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import backend, nn
from tinygrad_mlp import functional as F
from tinygrad_mlp.fused import MLPStack


def rand(*shape, seed=0, dtype="float32", device="cpu"):
    values = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return tg.Tensor(values, dtype=dtype, device=device)


class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n, seed=1)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x))


class Net(nn.Module):
    """Sub-modules held directly, in a list, a tuple and a dict; one parameter of its own."""

    def __init__(self):  # no super().__init__(): nothing needs registering
        self.stem = nn.Linear(3, 4, seed=0)
        self.blocks = [Block(4), Block(4)]
        self.pair = (nn.ReLU(), nn.Linear(4, 4, bias=False, seed=2))
        self.heads = {"a": nn.Linear(4, 2, seed=3), "b": nn.Sequential(nn.Linear(4, 1, seed=4))}
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.note = "not a module"
        self.cache = [1, 2.0, None]

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        h = self.pair[1](self.pair[0](h))
        return self.heads["a"](h) * self.scale + self.heads["b"](h)


NET_NAMES = (
    "stem.weight stem.bias blocks.0.fc.weight blocks.0.fc.bias blocks.1.fc.weight blocks.1.fc.bias "
    "pair.1.weight heads.a.weight heads.a.bias heads.b.0.weight heads.b.0.bias scale"
).split()
NET_MODULES = [""] + (
    "stem blocks.0 blocks.0.fc blocks.0.act blocks.1 blocks.1.fc blocks.1.act pair.0 pair.1 "
    "heads.a heads.b heads.b.0"
).split()


# ---------------------------------------------------------------------- discovery
def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter([1.0, 2.0])
    assert isinstance(p, tg.Tensor) and p.requires_grad
    assert backend.dtype_name(p.dtype) == "float32"
    with pytest.raises(TypeError):
        nn.Parameter(np.arange(3))  # integer tensors cannot require grad


def test_named_parameters_walks_attributes_lists_tuples_dicts_in_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NET_NAMES
    assert net.parameters() == [p for _, p in net.named_parameters()]
    assert net.num_parameters() == 16 + 2 * 20 + 16 + 10 + 5 + 1


def test_modules_lists_every_module_once_depth_first():
    net = Net()
    assert [n for n, _ in net.named_modules()] == NET_MODULES
    assert net.modules()[0] is net and [n for n, _ in net.named_children()][1] == "blocks.0"


def test_shared_parameters_and_modules_are_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            self.enc = nn.Linear(5, 3, seed=0)
            self.dec = nn.Linear(5, 3, seed=1)
            self.dec.weight = self.enc.weight  # tied
            self.again = self.enc  # the same module twice
            self.both = [self.enc, self.dec]

    model = Tied()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["enc.weight", "enc.bias", "dec.bias"]
    assert model.num_parameters() == 15 + 3 + 3
    assert [n for n, _ in model.named_modules()] == ["", "enc", "dec"]
    assert len(model.state_dict()) == 3


def test_zero_grad_and_train_eval_reach_every_submodule():
    net = Net()
    net(rand(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad.shape == p.shape and not np.any(p.grad.numpy())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(1)


# ---------------------------------------------------------------------- state dicts
def test_state_dict_holds_ordered_host_copies_and_round_trips():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == NET_NAMES
    assert all(type(v) is np.ndarray for v in sd.values())
    sd["stem.weight"][...] = 123.0
    assert not np.any(net.stem.weight.numpy() == 123.0)
    a, b = nn.MLP([6, 5, 3], seed=0), nn.MLP([6, 5, 3], seed=1)
    x = rand(4, 6)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_state_dict_keeps_dtype_and_does_not_alias_the_source():
    model = nn.MLP([3, 2], seed=0)
    sd = {k: v.astype(np.float64) + 1.0 for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    w = model.layers[0].weight
    assert backend.dtype_name(w.dtype) == "float32"
    np.testing.assert_allclose(w.numpy(), sd["layers.0.weight"], rtol=1e-6)
    sd["layers.0.weight"][...] = 0.0
    assert np.all(w.numpy() != 0.0)
    model.load_state_dict(same := {k: v.astype(np.float32) for k, v in sd.items()})
    same["layers.0.bias"][...] = 7.0
    assert not np.any(model.layers[0].bias.numpy() == 7.0)


def test_shape_mismatch_names_key_and_both_shapes_and_changes_nothing():
    model = nn.MLP([4, 3, 2], seed=0)
    before = model.state_dict()
    sd = {k: v + 1.0 for k, v in before.items()}
    sd["layers.2.weight"] = np.zeros((2, 4), np.float32)  # the last key is the bad one
    with pytest.raises(ValueError, match=r"layers\.2\.weight.*\(2, 4\).*\(2, 3\)"):
        model.load_state_dict(sd)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # nothing half-loaded


def test_missing_and_unexpected_keys_are_named():
    model = nn.MLP([4, 2], seed=0)
    sd = model.state_dict()
    del sd["layers.0.bias"]
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"missing keys \['layers\.0\.bias'\].*'extra\.weight'"):
        model.load_state_dict(sd)
    sd["layers.0.weight"] = sd["layers.0.weight"] + 1.0
    result = model.load_state_dict(sd, strict=False)
    assert result == nn.IncompatibleKeys(["layers.0.bias"], ["extra.weight"])
    np.testing.assert_array_equal(model.layers[0].weight.numpy(), sd["layers.0.weight"])


def test_load_state_dict_takes_tensors_and_rejects_non_numeric_values_and_non_mappings():
    a, model = nn.Linear(2, 1, seed=0), nn.Linear(2, 1, seed=1)
    model.load_state_dict({"weight": a.weight, "bias": a.bias})
    np.testing.assert_array_equal(model.weight.numpy(), a.weight.numpy())
    with pytest.raises(TypeError, match="'bias'"):
        model.load_state_dict({"weight": np.zeros((1, 2)), "bias": np.array(["x"])})
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([np.zeros((1, 2)), np.zeros(1)])


# ---------------------------------------------------------------------- devices
def test_to_array_api_strict_moves_parameters_and_grads_and_runs_forward():
    model = nn.MLP([5, 8, 3], seed=0, output_activation="softmax")
    x = rand(4, 5)
    expected = model(x).numpy()
    model(x).sum().backward()
    grad = model.layers[0].weight.grad.numpy()
    assert model.to("array_api_strict") is model
    assert model.device == "array_api_strict"
    assert all(p.device == "array_api_strict" for p in model.parameters())
    assert model.layers[0].weight.grad.device == "array_api_strict"
    np.testing.assert_array_equal(model.layers[0].weight.grad.numpy(), grad)
    out = model(x.to("array_api_strict"))
    assert out.device == "array_api_strict"
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    model.zero_grad()
    F.cross_entropy(model(x.to("array_api_strict")), np.array([0, 1, 2, 0])).backward()
    assert model.layers[2].bias.grad.device == "array_api_strict"
    assert model.to("cpu").device == "cpu"
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-6)


def test_build_on_a_device_load_there_and_refuse_unknown_devices():
    layer = nn.Linear(3, 2, seed=0, device="array_api_strict", dtype="float64")
    assert layer.weight.device == "array_api_strict"
    assert backend.dtype_name(layer.weight.dtype) == "float64"
    np.testing.assert_allclose(layer.weight.numpy(), nn.Linear(3, 2, seed=0).weight.numpy(), 1e-6)
    sd = nn.Linear(3, 2, seed=5).state_dict()
    layer.load_state_dict(sd)
    assert layer.weight.device == "array_api_strict"
    np.testing.assert_allclose(layer.weight.numpy(), sd["weight"], rtol=1e-7)
    with pytest.raises(tg.DeviceError, match="tpu"):
        layer.to("tpu")
    assert layer.device == "array_api_strict"


# ---------------------------------------------------------------------- repr
def test_repr_shows_sizes_activation_counts_and_nested_layers():
    model = nn.MLP([784, 50, 10], activation="sigmoid", output_activation="sigmoid")
    assert repr(model).splitlines() == [
        "MLP(784 -> 50 -> 10, sigmoid, sigmoid output, 39,760 parameters)",
        "  (0): Linear(in_features=784, out_features=50, bias=True)",
        "  (1): Sigmoid()",
        "  (2): Linear(in_features=50, out_features=10, bias=True)",
        "  (3): Sigmoid()",
    ]
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.25), nn.Softmax(axis=1)))
    assert text.splitlines() == [
        "Sequential(9 parameters)",
        "  (0): Linear(in_features=2, out_features=3, bias=True)",
        "  (1): Dropout(p=0.25)",
        "  (2): Softmax(axis=1)",
    ]
    nested = repr(Net()).splitlines()
    assert nested[0] == "Net(88 parameters)"
    assert "  (blocks.0): Block(20 parameters)" in nested
    assert "    (fc): Linear(in_features=4, out_features=4, bias=True)" in nested


# ---------------------------------------------------------------------- Linear
def test_linear_forward_is_x_wt_plus_b():
    layer = nn.Linear(4, 3, seed=0, dtype="float64")
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    x = rand(5, 4, dtype="float64")
    w, b = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), x.numpy() @ w.T + b, rtol=1e-12)
    no_bias = nn.Linear(4, 3, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]


def test_linear_default_init_is_pytorchs():
    layer = nn.Linear(400, 300, seed=0)
    bound = 1.0 / math.sqrt(400)
    for values in (layer.weight.numpy(), layer.bias.numpy()):
        assert bound >= np.abs(values).max() > 0.95 * bound
    w = layer.weight.numpy()
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound


@pytest.mark.parametrize(
    "scheme, bound",
    [("xavier_uniform", math.sqrt(6 / 500)), ("kaiming_uniform", math.sqrt(6 / 200))],
)
def test_linear_named_init_schemes_fill_weight_and_zero_bias(scheme, bound):
    layer = nn.Linear(200, 300, init=scheme, seed=0)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.95 * bound
    assert not np.any(layer.bias.numpy())


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=10)
def test_linear_seed_gives_the_same_weights(seed):
    a, b = nn.Linear(7, 5, seed=seed), nn.Linear(7, 5, seed=seed)
    assert all(np.array_equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not np.array_equal(a.weight.numpy(), nn.Linear(7, 5, seed=seed + 1).weight.numpy())


@pytest.mark.parametrize("bad", [0, -3, 2.5, "4", None, True])
def test_linear_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(bad, 3)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, bad)


def test_linear_rejects_bad_init_and_dtype():
    with pytest.raises(ValueError, match="unknown init scheme 'lecun'.*xavier_uniform"):
        nn.Linear(3, 2, init="lecun")
    with pytest.raises(TypeError, match="int64"):
        nn.Linear(3, 2, dtype="int64")


# ---------------------------------------------------------------------- Sequential, activations
def test_sequential_index_len_iter_append_slice():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert seq.append(c) is seq
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    x = rand(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).numpy())
    with pytest.raises(TypeError, match="position 1"):
        nn.Sequential(a, "relu")


def test_activation_modules_match_functional():
    x = rand(3, 4, dtype="float64")
    pairs = [
        (nn.ReLU(), F.relu(x)),
        (nn.Sigmoid(), F.sigmoid(x)),
        (nn.Tanh(), F.tanh(x)),
        (nn.Softmax(), F.softmax(x, axis=-1)),
        (nn.Softmax(axis=0), F.softmax(x, axis=0)),
        (nn.LogSoftmax(), F.log_softmax(x, axis=-1)),
    ]
    for module, expected in pairs:
        np.testing.assert_allclose(module(x).numpy(), expected.numpy(), rtol=1e-12)
    assert nn.Identity()(x) is x


# ---------------------------------------------------------------------- Dropout
@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), True, "0.5", None])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="p must be a number in \\[0, 1\\)"):
        nn.Dropout(p)


@given(p=st.floats(0.05, 0.9), seed=st.integers(0, 2**31))
@settings(max_examples=10)
def test_dropout_zeroes_about_p_and_preserves_the_mean(p, seed):
    x = tg.ones(200, 500)
    out = nn.Dropout(p, seed=seed)(x).numpy()
    zeroed = np.mean(out == 0.0)
    assert abs(zeroed - p) < 0.01  # 100,000 draws: std of the fraction < 0.0016
    kept = out[out != 0.0]
    np.testing.assert_allclose(kept, 1.0 / (1.0 - p), rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.05


def test_dropout_gradient_uses_the_same_mask_and_seed_reproduces():
    x = tg.Tensor(np.full((50, 40), 2.0, np.float32), requires_grad=True)
    out = nn.Dropout(0.3, seed=7)(x)
    out.sum().backward()
    mask = out.numpy() / 2.0
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-6)
    again = nn.Dropout(0.3, seed=7)(x).numpy()
    np.testing.assert_array_equal(again, out.numpy())
    drop = nn.Dropout(0.3, seed=7)
    assert not np.array_equal(drop(x).numpy(), drop(x).numpy())  # a fresh mask every call


def test_dropout_of_an_integer_tensor_is_float():
    x = np.arange(1, 7).reshape(2, 3)
    out = nn.Dropout(0.5, seed=0)(tg.Tensor(x))
    assert out.dtype == np.float64
    assert set(np.unique(out.numpy() / x)) == {0.0, 2.0}


def test_dropout_is_identity_in_eval_mode_and_for_p_zero_and_runs_on_array_api_strict():
    x = rand(10, 10)
    assert nn.Dropout(0.5, seed=0).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    x = tg.ones(100, 100, device="array_api_strict")
    out = nn.Dropout(0.4, seed=1)(x)
    assert out.device == "array_api_strict"
    assert abs(np.mean(out.numpy() == 0.0) - 0.4) < 0.03


# ---------------------------------------------------------------------- MLP
SIG = dict(activation="sigmoid", output_activation="sigmoid")
SOFT = dict(output_activation="softmax")
CLASSIC = [  # sizes, MLP keywords, parameter count, layer types
    ([784, 50, 10], SIG, 39_760, "Linear Sigmoid Linear Sigmoid"),
    ([784, 512, 128, 64, 10], SOFT, 476_490, "Linear ReLU Linear ReLU Linear ReLU Linear Softmax"),
    ([64, 64, 16, 10], {}, 5_370, "Linear ReLU Linear ReLU Linear"),
    ([2, 64, 2], dict(activation="tanh"), 322, "Linear Tanh Linear"),
    ([7, 15, 1], dict(output_activation="sigmoid"), 136, "Linear ReLU Linear Sigmoid"),
]


@pytest.mark.parametrize("sizes, kwargs, count, types", CLASSIC)
def test_mlp_builds_the_classic_networks(sizes, kwargs, count, types):
    model = nn.MLP(sizes, seed=0, **kwargs)
    assert model.num_parameters() == count
    assert [type(m).__name__ for m in model.layers] == types.split()
    assert model.sizes == tuple(sizes)
    assert (model.in_features, model.out_features) == (sizes[0], sizes[-1])
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    assert [(m.in_features, m.out_features) for m in model.linears] == pairs
    out = model(rand(8, sizes[0])).numpy()
    assert out.shape == (8, sizes[-1]) and out.dtype == np.float32
    if kwargs.get("output_activation") == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if kwargs.get("output_activation") == "sigmoid":
        assert np.all((out > 0) & (out < 1))


@given(sizes=st.lists(st.integers(1, 12), min_size=2, max_size=6))
@settings(max_examples=20)
def test_mlp_parameter_count_and_forward_for_any_depth(sizes):
    model = nn.MLP(sizes, seed=0)
    expected = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:], strict=False))
    assert model.num_parameters() == expected
    assert len(model.parameters()) == 2 * (len(sizes) - 1)
    assert model(rand(3, sizes[0])).shape == (3, sizes[-1])


def test_mlp_forward_is_one_fused_op_and_backward_fills_every_gradient():
    model = nn.MLP([5, 4, 3, 2], seed=0)
    out = model(rand(6, 5))
    assert type(out._ctx) is MLPStack and out._ctx.inputs[0]._ctx is None  # the stack: one op
    model = nn.MLP([5, 4, 3, 2], seed=0, dropout=0.5)  # active dropout: masks inside the stack
    assert type(model(rand(6, 5))._ctx) is MLPStack
    with tg.detect_anomaly():  # layer by layer (each Linear + ReLU still one op)
        seen, node = [], model(rand(6, 5))
    while node._ctx is not None:
        seen.append(type(node._ctx).__name__)
        node = node._ctx.inputs[0]
    assert seen == ["Linear", "Mul", "LinearReLU", "Mul", "LinearReLU"]  # fused Linear+ReLU
    assert type(node) is tg.Tensor
    model = nn.MLP([6, 5, 3], activation="tanh", seed=0)
    F.cross_entropy(model(rand(4, 6)), np.array([0, 1, 2, 1])).backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and np.any(p.grad.numpy())


def test_mlp_default_init_he_for_relu_glorot_for_sigmoid_and_zero_biases():
    relu = nn.MLP([300, 200, 100], seed=0)
    w = relu.linears[0].weight.numpy()
    bound = math.sqrt(6 / 300)  # He uniform: sqrt(2) * sqrt(3 / fan_in)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    sig = nn.MLP([300, 200, 100], activation="sigmoid", seed=0)
    w = sig.linears[1].weight.numpy()
    bound = math.sqrt(6 / (200 + 100))  # Glorot uniform
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    for model in (relu, sig):
        assert all(not np.any(m.bias.numpy()) for m in model.linears)
    w = nn.MLP([500, 400, 10], init="normal", seed=0).linears[0].weight.numpy()  # N(0, 0.01^2)
    assert abs(w.std() - 0.01) < 0.0002 and abs(w.mean()) < 0.0002


def test_mlp_seed_reproducible_across_dtypes_and_devices_with_distinct_layers():
    a = nn.MLP([8, 8, 8, 8], seed=3)
    b = nn.MLP([8, 8, 8, 8], seed=3, dtype="float64", device="array_api_strict")
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(pa.numpy(), pb.numpy(), rtol=1e-6)
    w = [m.weight.numpy() for m in a.linears]
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])
    c = nn.MLP([8, 8, 8, 8], seed=4)
    assert not np.array_equal(c.linears[0].weight.numpy(), w[0])


def test_mlp_width_mismatch_names_expected_and_received():
    model = nn.MLP([784, 50, 10])
    message = "MLP expects 784 input features, got 100 (input shape (32, 100))"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        model(rand(32, 100))
    with pytest.raises(ValueError, match=r"shape \(N, 784\), got input shape \(784,\)"):
        model(rand(784))


@pytest.mark.parametrize(
    "sizes, match",
    [
        ([784], "at least 2"),
        ([], "at least 2"),
        ([784, 0, 10], r"sizes\[1\].*got 0"),
        ([784, -5], r"sizes\[1\].*got -5"),
        ([7.5, 2], r"sizes\[0\]"),
        ("784", "sequence"),
        (784, "sequence"),
    ],
)
def test_mlp_rejects_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        nn.MLP(sizes)


def test_mlp_rejects_unknown_names_listing_the_choices():
    with pytest.raises(ValueError, match=r"activation 'gelu'.*\['relu', 'sigmoid', 'tanh'\]"):
        nn.MLP([2, 2], activation="gelu")
    with pytest.raises(ValueError, match=r"output_activation 'soft'.*'softmax'"):
        nn.MLP([2, 2], output_activation="soft")
    with pytest.raises(ValueError, match="unknown init scheme"):
        nn.MLP([2, 2], init="orthogonal")
    with pytest.raises(ValueError, match="dropout probability"):
        nn.MLP([2, 2, 2], dropout=1.0)


def test_mlp_dropout_sits_after_hidden_activations_and_follows_train_eval():
    model = nn.MLP([20, 30, 30, 5], dropout=0.5, seed=0)
    types = [type(m).__name__ for m in model.layers]
    assert types == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    x = rand(16, 20)
    assert not np.array_equal(model(x).numpy(), model(x).numpy())
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    twin_a = nn.MLP([20, 30, 30, 5], dropout=0.5, seed=0)
    twin_b = nn.MLP([20, 30, 30, 5], dropout=0.5, seed=0)
    np.testing.assert_array_equal(twin_a(x).numpy(), twin_b(x).numpy())  # seeded masks


def test_custom_activation_modules_match_functional():
    import numpy as np

    from tinygrad_mlp import functional as F

    x = tg.Tensor(np.linspace(-3, 3, 7))
    for module, fn in [
        (nn.LeakyReLU(0.2), lambda t: F.leaky_relu(t, 0.2)),
        (nn.ELU(0.5), lambda t: F.elu(t, 0.5)),
        (nn.Softplus(2.0), lambda t: F.softplus(t, 2.0)),
    ]:
        np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())
        assert type(module).__name__ in repr(module)
