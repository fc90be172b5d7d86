"""The public testing kit must catch broken ops, not only pass correct ones."""

import numpy as np
import pytest
from hypothesis import strategies as st

from tinygrad_mlp import Function, Tensor, testing
from tinygrad_mlp.testing import GradientMismatch, arrays, broadcastable_shapes, check_gradients


class SignError(Function):
    """sin with the derivative's sign flipped."""

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.sin(x)

    def backward(self, g):
        (x,) = self.saved
        return -g * self.xp.cos(x)


class NoBroadcastAwareMul(Function):
    """a * b whose backward collapses broadcast axes wrongly: it returns the mean instead of the
    sum over the broadcast axes, so the engine's shape reduction cannot rescue it."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        xp = self.xp
        gb = g * a
        while gb.ndim > b.ndim:
            gb = xp.mean(gb, axis=0)
        return g * b, gb


class MutatesInput(Function):
    def forward(self, x):
        x *= 2.0  # the bug: modifies the caller's array
        return x * 1.0

    def backward(self, g):
        return 2.0 * g


class SharedGrad(Function):
    """a + b that hands the *same* array to both inputs through a view: grads would alias."""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class ReturnsNumpyOnStrict(Function):
    def forward(self, x):
        return np.asarray(x) * 1.0  # escapes the array namespace

    def backward(self, g):
        return g


def sine_formula(x, g):
    return (g * np.cos(x),)


def test_kit_passes_a_correct_op():
    class Sine(Function):
        def forward(self, x):
            self.save_for_backward(x)
            return self.xp.sin(x)

        def backward(self, g):
            (x,) = self.saved
            return g * self.xp.cos(x)

    check_gradients(Sine.apply, arrays(testing.shapes()), formula=sine_formula)


def test_kit_catches_a_sign_error_against_finite_differences():
    with pytest.raises(GradientMismatch, match="finite differences"):
        check_gradients(SignError.apply, arrays(testing.shapes(min_dims=1)))


def test_kit_catches_a_sign_error_against_the_formula():
    with pytest.raises(GradientMismatch, match="hand-derived formula"):
        check_gradients(SignError.apply, arrays(testing.shapes(min_dims=1)), formula=sine_formula)


def test_kit_catches_a_wrong_broadcast_reduction():
    shapes = st.sampled_from([((3, 4), (4,)), ((2, 2, 3), (3,))])
    pairs = shapes.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1])))
    with pytest.raises(GradientMismatch, match="input 1"):
        check_gradients(NoBroadcastAwareMul.apply, pairs, check_float32=False)


def test_kit_passes_the_same_op_where_no_broadcast_happens():
    same = broadcastable_shapes(1, min_dims=1).flatmap(
        lambda s: st.tuples(arrays(s[0]), arrays(s[0]))
    )
    check_gradients(NoBroadcastAwareMul.apply, same)


def test_kit_catches_a_forward_that_mutates_its_input():
    with pytest.raises(GradientMismatch, match="modified in place"):
        check_gradients(MutatesInput.apply, arrays(testing.shapes(min_dims=1), 0.5, 2.0))


def test_engine_never_lets_two_leaves_share_a_gradient_array():
    a = Tensor(np.ones(3), dtype="float64", requires_grad=True)
    b = Tensor(np.ones(3), dtype="float64", requires_grad=True)
    SharedGrad.apply(a, b).backward(np.ones(3))
    assert not np.shares_memory(a.grad.data, b.grad.data)


def test_kit_catches_an_op_that_leaves_the_array_namespace():
    with pytest.raises(GradientMismatch, match="array_api_strict"):
        check_gradients(ReturnsNumpyOnStrict.apply, arrays((3,)), device="array_api_strict")


def test_failure_message_names_the_worst_element():
    with pytest.raises(GradientMismatch) as info:
        check_gradients(SignError.apply, arrays((2, 2), 0.5, 1.0))
    assert "element (" in str(info.value) and "expected" in str(info.value)


@pytest.mark.parametrize("ndim", [0, 1, 3])
def test_axes_strategy_gives_valid_axes(ndim):
    from hypothesis import given

    @given(testing.axes(ndim))
    def check(axis):
        np.sum(np.ones((2,) * ndim), axis=axis)  # raises on an invalid axis

    check()


def test_matmul_shapes_strategy_gives_valid_pairs():
    from hypothesis import given

    @given(testing.matmul_shapes())
    def check(pair):
        np.matmul(np.ones(pair[0]), np.ones(pair[1]))

    check()


def test_class_labels_and_tensors_strategies():
    from hypothesis import given

    @given(testing.class_labels(5, 3), testing.tensors((2, 3), dtype="float32"))
    def check(labels, t):
        assert labels.shape == (5,) and labels.min() >= 0 and labels.max() < 3
        assert t.shape == (2, 3) and str(t.dtype) == "float32"

    check()
