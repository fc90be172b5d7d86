"""tinygrad_mlp.nn.init: the statistics, fans, gains, determinism and errors of each scheme."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import backend, nn
from tinygrad_mlp.nn import init

OUT, IN = 300, 700  # not square, so fan_in (700) and fan_out (300) cannot be confused


def weight(shape=(OUT, IN), dtype="float32", device="cpu"):
    return tg.Tensor(np.zeros(shape), dtype=dtype, device=device)


def check_uniform(values, bound):
    """All inside [-bound, bound], reaching close to it, with U(-b, b)'s mean 0 and std b/sqrt 3."""
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound
    assert abs(values.mean()) < 0.01 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.01 * bound


def check_normal(values, std, mean=0.0):
    # 210,000 samples: the standard error of the mean is std / 458, of the std about std / 648
    assert abs(values.mean() - mean) < 0.02 * std
    assert abs(values.std() - std) < 0.01 * std
    assert np.abs(values - mean).max() > 3 * std  # genuinely Gaussian tails, not uniform


def test_xavier_uniform_bound_uses_fan_in_plus_fan_out():
    values = init.xavier_uniform_(weight(), generator=0).numpy()
    check_uniform(values, math.sqrt(6.0 / (IN + OUT)))


def test_xavier_normal_std_uses_fan_in_plus_fan_out():
    values = init.xavier_normal_(weight(), generator=0).numpy()
    check_normal(values, math.sqrt(2.0 / (IN + OUT)))


def test_xavier_gain_scales_the_spread():
    values = init.xavier_uniform_(weight(), gain=2.5, generator=0).numpy()
    check_uniform(values, 2.5 * math.sqrt(6.0 / (IN + OUT)))


def test_kaiming_uniform_bound_uses_fan_in_shape_1():
    values = init.kaiming_uniform_(weight(), generator=0).numpy()
    check_uniform(values, math.sqrt(2.0) * math.sqrt(3.0 / IN))


def test_kaiming_normal_std_is_sqrt_2_over_fan_in():
    values = init.kaiming_normal_(weight(), generator=0).numpy()
    check_normal(values, math.sqrt(2.0 / IN))


def test_kaiming_nonlinearity_and_mode():
    values = init.kaiming_normal_(weight(), "tanh", generator=0).numpy()
    check_normal(values, (5.0 / 3.0) / math.sqrt(IN))
    values = init.kaiming_uniform_(weight(), "relu", 0, mode="fan_out").numpy()
    check_uniform(values, math.sqrt(6.0 / OUT))
    values = init.kaiming_uniform_(weight(), "leaky_relu", 0, a=math.sqrt(5.0)).numpy()
    check_uniform(values, 1.0 / math.sqrt(IN))  # PyTorch's Linear default


def test_normal_default_std_is_0_01():
    check_normal(init.normal_(weight(), generator=0).numpy(), 0.01)
    check_normal(init.normal_(weight(), mean=3.0, std=0.5, generator=0).numpy(), 0.5, mean=3.0)


def test_uniform_zeros_constant():
    values = init.uniform_(weight(), -2.0, 4.0, generator=0).numpy()
    assert values.min() >= -2.0 and values.max() < 4.0
    assert abs(values.mean() - 1.0) < 0.02 and abs(values.std() - 6 / math.sqrt(12)) < 0.02
    t = init.normal_(weight(), generator=0)
    assert init.zeros_(t) is t and not np.any(t.numpy())
    assert np.all(init.constant_(t, 0.5).numpy() == 0.5)


def test_aliases_are_the_same_functions():
    assert init.glorot_uniform_ is init.xavier_uniform_
    assert init.glorot_normal_ is init.xavier_normal_
    assert init.he_uniform_ is init.kaiming_uniform_
    assert init.he_normal_ is init.kaiming_normal_


def test_gains_and_fans():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.fan_in_and_fan_out((30, 70)) == (70, 30)
    assert init.fan_in_and_fan_out((8, 3, 5, 5)) == (75, 200)


FILLERS = [
    lambda t, g: init.xavier_uniform_(t, generator=g),
    lambda t, g: init.xavier_normal_(t, generator=g),
    lambda t, g: init.kaiming_uniform_(t, generator=g),
    lambda t, g: init.kaiming_normal_(t, generator=g),
    lambda t, g: init.normal_(t, generator=g),
    lambda t, g: init.uniform_(t, -1.0, 1.0, generator=g),
]


@given(
    seed=st.integers(0, 2**63),
    shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    which=st.integers(0, len(FILLERS) - 1),
)
@settings(max_examples=30)
def test_same_seed_same_values_other_seed_other_values(seed, shape, which):
    fill = FILLERS[which]
    a = fill(weight(shape), seed).numpy()
    b = fill(weight(shape), seed).numpy()
    np.testing.assert_array_equal(a, b)
    c = fill(weight(shape), seed + 1).numpy()
    assert not np.array_equal(a, c)


def test_a_generator_continues_its_stream():
    rng = np.random.default_rng(5)
    first = init.normal_(weight((4, 4)), generator=rng).numpy()
    second = init.normal_(weight((4, 4)), generator=rng).numpy()
    assert not np.array_equal(first, second)
    again = init.normal_(weight((4, 4)), generator=np.random.default_rng(5)).numpy()
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("device", ["cpu", "array_api_strict"])
def test_values_keep_dtype_and_device_and_match_across_them(dtype, device):
    t = weight((6, 5), dtype=dtype, device=device)
    init.kaiming_normal_(t, generator=11)
    assert t.device == device and backend.dtype_name(t.dtype) == dtype
    reference = init.kaiming_normal_(weight((6, 5), dtype="float64"), generator=11).numpy()
    np.testing.assert_allclose(t.numpy(), reference, rtol=1e-6)


def test_init_works_on_parameters_in_place():
    layer = nn.Linear(5, 4)
    w = layer.weight
    assert init.xavier_uniform_(w, generator=0) is w and w.requires_grad
    assert isinstance(layer.weight, nn.Parameter)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(weight((5,)))
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        init.kaiming_normal_(weight((5,)))
    with pytest.raises(TypeError, match="int64"):
        init.normal_(tg.Tensor(np.zeros((2, 2), dtype=np.int64)))
    with pytest.raises(TypeError, match="ndarray"):
        init.zeros_(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="generator"):
        init.normal_(weight((2, 2)), generator="seed")
    with pytest.raises(ValueError, match="nonlinearity 'gelu'"):
        init.kaiming_uniform_(weight((2, 2)), "gelu")
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(weight((2, 2)), mode="fan_avg")
    with pytest.raises(ValueError, match="low < high"):
        init.uniform_(weight((2, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match="std >= 0"):
        init.normal_(weight((2, 2)), std=-1.0)


def test_named_schemes_and_aliases():
    assert init.resolve_scheme("he") == "kaiming_uniform"
    assert init.resolve_scheme("glorot_normal") == "xavier_normal"
    with pytest.raises(ValueError, match="unknown init scheme 'lecun'.*'xavier_uniform'"):
        init.resolve_scheme("lecun")
    a = init.init_weight_(weight((50, 40)), "he", "relu", 3).numpy()
    b = init.kaiming_uniform_(weight((50, 40)), "relu", 3).numpy()
    np.testing.assert_array_equal(a, b)
