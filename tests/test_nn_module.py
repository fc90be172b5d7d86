"""tinygrad_mlp.nn.module: Module discovery, state dicts, devices and repr."""

import numpy as np
import pytest
from _nn_helpers import rand

import tinygrad_mlp as tg
from tinygrad_mlp import backend, nn
from tinygrad_mlp import functional as F


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


def test_a_whole_checkpoint_passed_as_state_dict_says_which_entry_to_pass(tmp_path):
    model = nn.MLP([4, 3, 2], seed=0)
    tg.save({"model": model.state_dict(), "config": "{}"}, tmp_path / "ck.npz")
    checkpoint = tg.load(tmp_path / "ck.npz")
    with pytest.raises(ValueError, match=r"unexpected keys \['model', 'config'\] \(a checkpoint\? "
                       r"pass its \['model'\] entry\)"):  # fmt: skip
        model.load_state_dict(checkpoint)
    model.load_state_dict(checkpoint["model"])


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


def _aligned(model: nn.Module) -> list[bool]:
    from tinygrad_mlp import cpu

    return [p.data.ctypes.data % cpu.ALIGNMENT == 0 for p in model.parameters()]


def _misaligned_copy(array, device):
    host = backend.to_numpy(array)
    out = np.empty(host.size + 1, dtype=host.dtype)[1:].reshape(host.shape)  # 8 bytes off
    out[...] = host
    return out


def test_parameters_stay_64_byte_aligned_through_init_loading_and_moves(monkeypatch):
    model = nn.MLP([30, 17, 5], dtype="float64", seed=0)
    assert all(_aligned(model))
    nn.init.zeros_(model.parameters()[0])
    model.load_state_dict({k: v + 1.0 for k, v in model.state_dict().items()})
    assert all(_aligned(model))
    monkeypatch.setattr(backend, "to_device", _misaligned_copy)  # a move that lands off it
    model.to("cpu")
    assert all(_aligned(model))
    np.testing.assert_array_equal(model.parameters()[0].numpy(), np.ones((17, 30)))


def test_float32_parameters_deep_copies_and_unpickled_models_are_aligned():
    import copy
    import pickle

    # 22 parameters: malloc's 16-byte placement would put all of them on the boundary by
    # chance once in 4**22 runs
    model = nn.MLP([8] * 12, seed=0)
    assert model.parameters()[0].dtype == np.float32 and len(model.parameters()) == 22
    assert all(_aligned(model))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert all(_aligned(clone))
        for p, q in zip(clone.parameters(), model.parameters(), strict=True):
            assert not np.shares_memory(p.data, q.data)
            np.testing.assert_array_equal(p.numpy(), q.numpy())
            assert type(p) is nn.Parameter and p.requires_grad and p.grad is None
