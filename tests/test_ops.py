"""Every differentiable op against its hand-derived gradient and float64 finite differences.

Each test states the backprop formula independently of the engine (in NumPy) and hands it to the
public checker ``tinygrad_mlp.testing.check_gradients``, which also compares with central finite
differences, float32 against float64, and checks inputs unchanged and gradients not views. Every
test runs on each array backend (``device`` fixture: NumPy, array-api-strict, CuPy on a GPU).
"""

import numpy as np
from _op_refs import np_sigmoid, np_softmax
from hypothesis import strategies as st

from tinygrad_mlp import functional as F
from tinygrad_mlp.testing import (
    arrays,
    broadcastable_shapes,
    check_gradients,
    matmul_shapes,
    shapes,
)


# ---------------------------------------------------------------- reference helpers (NumPy)
def sum_to(g, shape):
    """Reduce a broadcast gradient to ``shape`` (the test's own version, not the engine's)."""
    g = np.asarray(g, dtype=np.float64)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def expand_to(g, shape, axis, keepdims):
    """Broadcast a reduced gradient back to ``shape``."""
    if axis is not None and not keepdims:
        ax = (axis,) if isinstance(axis, int) else axis
        g = np.expand_dims(g, tuple(a % len(shape) for a in ax))
    return np.broadcast_to(g, shape)


def pairs(low=-3.0, high=3.0):
    return broadcastable_shapes(2).flatmap(
        lambda s: st.tuples(arrays(s[0], min_value=low, max_value=high), arrays(s[1]))
    )


def away_from_zero(shape, low=0.3, high=3.0):
    """Arrays with |values| in [low, high] and random signs (``shape``: a shape or strategy)."""
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(lambda s: away_from_zero(s, low, high))
    return st.tuples(
        arrays(shape, min_value=low, max_value=high), arrays(shape, min_value=-1, max_value=1)
    ).map(lambda t: np.where(t[1] >= 0, t[0], -t[0]))


# ---------------------------------------------------------------- binary, broadcasting
def test_add(device):
    check_gradients(
        lambda a, b: a + b,
        pairs(),
        device=device,
        formula=lambda a, b, g: (sum_to(g, a.shape), sum_to(g, b.shape)),
    )


def test_sub(device):
    check_gradients(
        lambda a, b: a - b,
        pairs(),
        device=device,
        formula=lambda a, b, g: (sum_to(g, a.shape), sum_to(-g, b.shape)),
    )


def test_mul(device):
    check_gradients(
        lambda a, b: a * b,
        pairs(),
        device=device,
        formula=lambda a, b, g: (sum_to(g * b, a.shape), sum_to(g * a, b.shape)),
    )


def test_div(device):
    inputs = broadcastable_shapes(2).flatmap(
        lambda s: st.tuples(arrays(s[0]), away_from_zero(s[1]))
    )
    check_gradients(
        lambda a, b: a / b,
        inputs,
        device=device,
        formula=lambda a, b, g: (sum_to(g / b, a.shape), sum_to(-g * a / b**2, b.shape)),
    )


def test_scalar_operands_on_both_sides(device):
    check_gradients(
        lambda a: (2.0 - a) * 3.0 + 1.0 / (a * a + 1.0) - a / 4.0,
        arrays(shapes()),
        device=device,
        formula=lambda a, g: (g * (-3.0 - 2.0 * a / (a * a + 1.0) ** 2 - 0.25),),
    )


# ---------------------------------------------------------------- unary elementwise
def test_neg(device):
    check_gradients(lambda a: -a, arrays(shapes()), device=device, formula=lambda a, g: (-g,))


def test_pow_integer_exponents(device):
    for p in (2, 3, -1):
        data = away_from_zero(shapes()) if p < 0 else arrays(shapes())
        check_gradients(
            lambda a, p=p: a**p,
            data,
            device=device,
            formula=lambda a, g, p=p: (g * p * a ** (p - 1),),
        )


def test_pow_fractional_exponents(device):
    for p in (0.5, 1.5):
        check_gradients(
            lambda a, p=p: a**p,
            arrays(shapes(), min_value=0.2),
            device=device,
            formula=lambda a, g, p=p: (g * p * a ** (p - 1),),
        )


def test_exp(device):
    check_gradients(
        lambda a: a.exp(), arrays(shapes()), device=device, formula=lambda a, g: (g * np.exp(a),)
    )


def test_log(device):
    check_gradients(
        lambda a: a.log(),
        arrays(shapes(), min_value=0.2),
        device=device,
        formula=lambda a, g: (g / a,),
    )


def test_tanh(device):
    check_gradients(
        lambda a: a.tanh(),
        arrays(shapes()),
        device=device,
        formula=lambda a, g: (g * (1 - np.tanh(a) ** 2),),
    )


def test_sigmoid(device):
    # sigma' = s (1 - s)
    check_gradients(
        lambda a: a.sigmoid(),
        arrays(shapes(), -6, 6),
        device=device,
        formula=lambda a, g: (g * np_sigmoid(a) * (1 - np_sigmoid(a)),),
    )


def test_relu(device):
    check_gradients(
        lambda a: a.relu(),
        arrays(shapes(), avoid=0.0),
        device=device,
        formula=lambda a, g: (g * (a > 0),),
    )


def test_abs(device):
    check_gradients(
        lambda a: a.abs(),
        arrays(shapes(), avoid=0.0),
        device=device,
        formula=lambda a, g: (g * np.sign(a),),
    )


# ---------------------------------------------------------------- reductions
def test_sum(device):
    _reduction_checks(device, "sum", lambda x, axis: 1.0)


def test_mean(device):
    def count(x, axis):
        ax = range(x.ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
        return 1.0 / max(1, int(np.prod([x.shape[a] for a in ax])))

    _reduction_checks(device, "mean", count)


def test_max(device):
    def argmax_mask(x, axis):
        return (x == x.max(axis=axis, keepdims=True)).astype(np.float64)

    _reduction_checks(device, "max", argmax_mask, unique=True)


def _reduction_checks(device, method, local_grad, unique=False):
    """Draw (shape, axis, keepdims) with Hypothesis and check ``method`` for each."""

    @st.composite
    def inputs(draw):
        a = draw(arrays(shapes(), unique=unique))
        return a, np.array(draw(st.integers(0, 2**16)))  # the second array seeds axis choice

    def op(t, seed):
        axis, keep = _axis_from_seed(t.ndim, int(seed.item()))
        return getattr(t, method)(axis=axis, keepdims=keep)

    def formula(x, seed, g):
        axis, keep = _axis_from_seed(x.ndim, int(seed))
        return local_grad(x, axis) * expand_to(g, x.shape, axis, keep), None

    check_gradients(op, inputs(), formula=formula, device=device)


def _axis_from_seed(ndim, seed):
    """A deterministic (axis, keepdims) choice covering None, ints, negative ints and tuples."""
    rng = np.random.default_rng(seed)
    keep = bool(rng.integers(2))
    kind = rng.integers(3) if ndim else 0
    if kind == 0:
        return None, keep
    if kind == 1:
        return int(rng.integers(-ndim, ndim)), keep
    chosen = rng.permutation(ndim)[: rng.integers(1, ndim + 1)]
    return tuple(int(a) for a in chosen), keep


# ---------------------------------------------------------------- shape
@st.composite
def reshape_case(draw):
    a = draw(arrays(shapes(min_dims=1)))
    split = draw(st.integers(0, a.ndim))
    front = int(np.prod(a.shape[:split]))
    target = draw(st.sampled_from([(-1,), (front, -1), (1, a.size), (a.size, 1)]))
    return a, np.array(target)


def test_reshape(device):
    check_gradients(
        lambda t, target: t.reshape(tuple(int(v) for v in target.numpy())),
        reshape_case(),
        device=device,
        formula=lambda a, target, g: (g.reshape(a.shape), None),
    )


@st.composite
def transpose_case(draw):
    a = draw(arrays(shapes(min_dims=1)))
    return a, np.array(draw(st.permutations(range(a.ndim))))


def test_transpose(device):
    check_gradients(
        lambda t, perm: t.transpose(*[int(v) for v in perm.numpy()]),
        transpose_case(),
        device=device,
        formula=lambda a, perm, g: (np.transpose(g, np.argsort(perm)), None),
    )


def test_T_reverses_axes(device):
    check_gradients(
        lambda t: t.T, arrays(shapes()), device=device, formula=lambda a, g: (np.transpose(g),)
    )


# ---------------------------------------------------------------- matrix products
def matmul_formula(a, b, g):
    """dA = G B^T, dB = A^T G, with 1-D operands promoted and batch axes summed."""
    if a.ndim == 1 and b.ndim == 1:
        return g * b, g * a
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)
    ga = g2 @ np.swapaxes(b2, -1, -2)
    gb = np.swapaxes(a2, -1, -2) @ g2
    ga = ga.reshape(ga.shape[:-2] + (a.shape[-1],)) if a.ndim == 1 else ga
    gb = gb.reshape(gb.shape[:-2] + (b.shape[0],)) if b.ndim == 1 else gb
    return sum_to(ga, a.shape), sum_to(gb, b.shape)


def test_matmul(device):
    inputs = matmul_shapes().flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1])))
    check_gradients(lambda a, b: a @ b, inputs, formula=matmul_formula, device=device)


@st.composite
def linear_case(draw):
    n, i, o = (draw(st.integers(1, 4)) for _ in range(3))
    return draw(arrays((n, i))), draw(arrays((o, i))), draw(arrays((o,)))


def test_linear_fused(device):
    check_gradients(
        F.linear,
        linear_case(),
        device=device,
        formula=lambda x, w, b, g: (g @ w, g.T @ x, g.sum(axis=0)),
    )


@st.composite
def linear_relu_case(draw):
    x, w, b = draw(linear_case())
    z = x @ w.T + b
    if np.any(np.abs(z) < 1e-3):  # keep pre-activations off ReLU's kink (finite differences)
        b = b + 0.01
    return x, w, b


def test_linear_relu_fused(device):
    def formula(x, w, b, g):
        dz = g * (x @ w.T + b > 0)
        return dz @ w, dz.T @ x, dz.sum(axis=0)

    check_gradients(
        lambda x, w, b: F.linear(x, w, b, activation="relu"),
        linear_relu_case().filter(lambda t: np.all(np.abs(t[0] @ t[1].T + t[2]) > 1e-3)),
        device=device,
        formula=formula,
    )


# ---------------------------------------------------------------- softmax family
@st.composite
def with_axis(draw, low=-3.0, high=3.0):
    a = draw(arrays(shapes(min_dims=1), min_value=low, max_value=high))
    return a, np.array(draw(st.integers(-a.ndim, a.ndim - 1)))


def test_softmax(device):
    def formula(a, axis, g):
        s = np_softmax(a, int(axis))
        return s * (g - (g * s).sum(axis=int(axis), keepdims=True)), None

    check_gradients(
        lambda t, axis: t.softmax(axis=int(axis.item())),
        with_axis(),
        device=device,
        formula=formula,
    )


def test_log_softmax(device):
    def formula(a, axis, g):
        return g - np_softmax(a, int(axis)) * g.sum(axis=int(axis), keepdims=True), None

    check_gradients(
        lambda t, axis: t.log_softmax(axis=int(axis.item())),
        with_axis(),
        device=device,
        formula=formula,
    )


# ---------------------------------------------------------------- activations written as custom ops
def test_leaky_relu(device):
    for slope in (0.01, 0.2):
        check_gradients(
            lambda a, s=slope: F.leaky_relu(a, s),
            arrays(shapes(), avoid=0.0),
            device=device,
            formula=lambda a, g, s=slope: (g * np.where(a > 0, 1, s),),
        )


def test_elu(device):
    for alpha in (1.0, 0.5):
        check_gradients(
            lambda a, al=alpha: F.elu(a, al),
            arrays(shapes(), avoid=0.0),
            device=device,
            formula=lambda a, g, al=alpha: (g * np.where(a > 0, 1, al * np.exp(a)),),
        )


def test_softplus(device):
    for beta in (1.0, 2.0):
        check_gradients(
            lambda a, b=beta: F.softplus(a, b),
            arrays(shapes(), -8, 8),
            device=device,
            formula=lambda a, g, b=beta: (g * np_sigmoid(b * a),),
        )
