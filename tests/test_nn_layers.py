"""tinygrad_mlp.nn.layers: Linear, Sequential, the activation modules and Dropout."""

import math

import numpy as np
import pytest
from _nn_helpers import rand
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import backend, nn
from tinygrad_mlp import functional as F
from tinygrad_mlp.backend import dtype_name


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


def test_dropout_keeps_a_unit_when_its_32_random_bits_reach_p_times_2_to_the_32():
    """The host mask reads two 32-bit values from each 64-bit draw of the bit generator; a unit
    is kept exactly when its bits are >= round(p * 2**32), so P(keep) = 1 - p to 2**-33."""
    from types import SimpleNamespace

    t = round(0.3 * 2**32)
    values = np.array([t - 1, t, 0, 2**32 - 1, t + 1], dtype=np.uint32)
    words = np.concatenate([values, [0]]).astype(np.uint32).view(np.uint64)

    class Raw(np.random.PCG64):  # a 64-bit bit generator whose draws are given
        def random_raw(self, size=None, output=True):
            return words[:size]

    rng = SimpleNamespace(bit_generator=Raw(0))
    keep = backend.random_keep(rng, (5,), 0.3, "cpu")
    np.testing.assert_array_equal(keep, [False, True, False, True, True])


@given(p=st.sampled_from([0.1, 0.5, 0.8]), seed=st.integers(0, 2**31))
@settings(max_examples=6)
def test_dropout_units_that_share_a_random_draw_are_independent(p, seed):
    """Units 2i and 2i+1 take the two halves of one 64-bit draw: both must be dropped with
    probability p**2, as for independent units (100,000 pairs: 6 standard deviations)."""
    out = nn.Dropout(p, seed=seed)(tg.ones(400, 500)).numpy().reshape(-1, 2) == 0.0
    both = np.mean(out[:, 0] & out[:, 1])
    sd = np.sqrt(p**2 * (1 - p**2) / out.shape[0])
    assert abs(both - p**2) < 6 * sd, (both, p**2)
    assert abs(np.mean(out[:, 0]) - p) < 0.01 and abs(np.mean(out[:, 1]) - p) < 0.01


def test_float32_dropout_masks_are_those_of_float32_uniforms_of_the_same_seed():
    """NumPy's float32 uniforms are the top 24 of the same 32-bit draws, so a mask (of an even
    size: an odd one drops the unused half of its last draw, which NumPy keeps) equals
    ``random(shape, float32) >= p`` except for draws within 2**-24 of p (none expected here)."""
    mask = nn.Dropout(0.3, seed=5).mask((300, 400), "float32", "cpu")
    uniform = np.random.default_rng(5).random((300, 400), dtype=np.float32)
    np.testing.assert_array_equal(mask != 0, uniform >= 0.3)


@pytest.mark.parametrize(
    "bit_generator", [np.random.MT19937, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64]
)
def test_dropout_rate_is_p_on_every_unit_with_any_numpy_bit_generator(bit_generator):
    """MT19937's random_raw gives 32 bits per value, not 64: its masks come from uniforms;
    with raw halves, every second unit would always be dropped (a keep rate of 0.25 at p=0.5)."""
    rng = np.random.Generator(bit_generator(0))
    kept = nn.Dropout(0.5, seed=rng).mask((400, 501), "float32", "cpu") != 0  # odd: 200,400
    assert abs(kept[:, 0::2].mean() - 0.5) < 0.01 and abs(kept[:, 1::2].mean() - 0.5) < 0.01


def test_dropout_of_a_0d_tensor():
    out = nn.Dropout(0.5, seed=0)(tg.Tensor(np.float32(2.0)))
    assert out.shape == () and float(out.numpy()) in (0.0, 4.0)


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


@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool"])
def test_dropout_of_an_integer_or_bool_tensor_is_float64_on_every_backend(dtype, device):
    x = (np.arange(300) % 200 + 1).reshape(30, 10).astype(dtype)  # no 0 (uint8 wraps at 256)
    out = nn.Dropout(0.5, seed=0)(tg.Tensor(x, device=device))
    assert dtype_name(out.dtype) == "float64" and out.device == device
    assert set(np.unique(out.numpy() / x)) == {0.0, 2.0}
    assert dtype_name(nn.Dropout(0.5).mask((2, 2), dtype, device).dtype) == "float64"


def test_dropout_is_identity_in_eval_mode_and_for_p_zero():
    x = rand(10, 10)
    assert nn.Dropout(0.5, seed=0).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_on_every_backend_zeroes_p_scales_the_rest_and_routes_the_gradient(device, dtype):
    """The mask on the input's own device (on a GPU: from CuPy's generator), in its dtype."""
    x = tg.Tensor(np.full((200, 500), 2.0), dtype=dtype, device=device, requires_grad=True)
    drop = nn.Dropout(0.4, seed=1)
    out = drop(x)
    assert out.device == device and dtype_name(out.dtype) == dtype
    values = out.numpy()
    assert abs(np.mean(values == 0.0) - 0.4) < 0.01  # 100,000 units: std of the rate 0.0015
    np.testing.assert_allclose(values[values != 0.0], 2.0 / 0.6, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), values / 2.0, rtol=1e-6)
    np.testing.assert_array_equal(nn.Dropout(0.4, seed=1)(x).numpy(), values)  # seeded stream
    assert not np.array_equal(drop(x).numpy(), values)  # a fresh mask every call
    mask = drop.mask((3, 4), dtype, device)  # a dtype name is fine too
    assert backend.device_of(mask) == device and dtype_name(mask.dtype) == dtype


def test_custom_activation_modules_match_functional():
    x = tg.Tensor(np.linspace(-3, 3, 7))
    for module, fn in [
        (nn.LeakyReLU(0.2), lambda t: F.leaky_relu(t, 0.2)),
        (nn.ELU(0.5), lambda t: F.elu(t, 0.5)),
        (nn.Softplus(2.0), lambda t: F.softplus(t, 2.0)),
    ]:
        np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())
        assert type(module).__name__ in repr(module)
