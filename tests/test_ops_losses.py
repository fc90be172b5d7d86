"""The loss ops against their hand-derived gradients and float64 finite differences.

As in ``test_ops.py``: each formula is stated in NumPy, independently of the engine, and checked
by ``tinygrad_mlp.testing.check_gradients`` on every array backend (``device`` fixture).
"""

import numpy as np
from _op_refs import np_sigmoid, np_softmax
from hypothesis import strategies as st

from tinygrad_mlp import functional as F
from tinygrad_mlp.testing import arrays, check_gradients, class_labels, shapes

# ---------------------------------------------------------------- losses
REDUCTIONS = ("mean", "sum", "none")


def _same_shape_pair(low=-3.0, high=3.0, tlow=-3.0, thigh=3.0):
    return shapes(min_dims=1).flatmap(
        lambda s: st.tuples(
            arrays(s, min_value=low, max_value=high), arrays(s, min_value=tlow, max_value=thigh)
        )
    )


def _scale(reduction, n):
    return 1.0 / n if reduction == "mean" else 1.0


def test_mse_loss(device):
    for red in REDUCTIONS:

        def formula(p, y, g, red=red):
            gp = 2.0 * (p - y) * _scale(red, p.size) * g  # 2 (p - y) / n
            return gp, -gp

        check_gradients(
            lambda p, y, red=red: F.mse_loss(p, y, reduction=red),
            _same_shape_pair(),
            device=device,
            formula=formula,
        )


def test_binary_cross_entropy(device):
    for red in REDUCTIONS:

        def formula(p, y, g, red=red):
            s = _scale(red, p.size) * g
            return s * (p - y) / (p * (1 - p)), s * (np.log(1 - p) - np.log(p))

        check_gradients(
            lambda p, y, red=red: F.binary_cross_entropy(p, y, reduction=red),
            _same_shape_pair(0.05, 0.95, 0.0, 1.0),
            device=device,
            formula=formula,
        )


def test_binary_cross_entropy_with_logits(device):
    for red in REDUCTIONS:

        def formula(z, y, g, red=red):
            s = _scale(red, z.size) * g
            return s * (np_sigmoid(z) - y), -s * z  # (sigma(z) - y) / N

        check_gradients(
            lambda z, y, red=red: F.binary_cross_entropy_with_logits(z, y, reduction=red),
            _same_shape_pair(-6.0, 6.0, 0.0, 1.0),
            device=device,
            formula=formula,
        )


@st.composite
def logits_and_labels(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    return draw(arrays((n, c))), draw(class_labels(n, c))


def test_cross_entropy_with_class_labels(device):
    for red in REDUCTIONS:

        def formula(z, y, g, red=red):
            onehot = np.eye(z.shape[1])[y]
            g = g[:, None] if red == "none" else g
            return g * (np_softmax(z, 1) - onehot) * _scale(red, z.shape[0]), None

        check_gradients(
            lambda z, y, red=red: F.cross_entropy(z, y, reduction=red),
            logits_and_labels(),
            device=device,
            formula=formula,
        )


@st.composite
def logits_and_probabilities(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    weights = draw(arrays((n, c), min_value=0.1, max_value=1.0))
    return draw(arrays((n, c))), weights / weights.sum(axis=1, keepdims=True)


def test_cross_entropy_with_probability_targets(device):
    def formula(z, t, g):
        s = g / z.shape[0]
        return s * (np_softmax(z, 1) - t), -s * (z - np.log(np.exp(z).sum(1, keepdims=True)))

    check_gradients(F.cross_entropy, logits_and_probabilities(), device=device, formula=formula)
