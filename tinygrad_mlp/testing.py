"""Public property-testing kit: Hypothesis strategies and a gradient checker for any op.

The framework's own op suite is written with this module, and so can yours::

    from hypothesis import given
    from tinygrad_mlp import testing

    def test_my_op():
        testing.check_gradients(
            lambda x: my_op(x),
            testing.arrays(testing.shapes()),
            formula=lambda x, g: (g * my_derivative(x),),
        )

``check_gradients`` draws inputs, runs forward and backward along a random upstream gradient, and
checks (1) gradient shapes and dtypes, (2) the hand-derived ``formula`` when given (float64,
rtol 1e-10), (3) float64 central finite differences (rtol 1e-5, atol 1e-7), (4) that forward and
backward left the inputs and the upstream gradient unchanged, (5) that no two gradients (or a
gradient and an input) share memory, and (6) optionally float32 against the float64 result
(rtol 2e-3). A failure is shrunk by Hypothesis to a minimal example and names the input, the worst
element, and both values. Needs the ``hypothesis`` package (``pip install tinygrad_mlp[dev]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import backend
from .tensor import Tensor, no_grad

__all__ = [
    "arrays",
    "axes",
    "broadcastable_shapes",
    "check_gradients",
    "class_labels",
    "matmul_shapes",
    "shapes",
    "tensors",
    "GradientMismatch",
]

Arrays = tuple[np.ndarray, ...]


class GradientMismatch(AssertionError):
    """An op's gradient disagrees with finite differences, its formula, or a safety check."""


# ====================================================================== strategies
def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Array shapes, e.g. ``()``, ``(3,)``, ``(2, 1, 4)``."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Tuples of ``num_shapes`` shapes that broadcast together (NumPy rules)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda r: r.input_shapes)


@st.composite
def matmul_shapes(draw, max_batch_dims: int = 2, max_side: int = 4):
    """``(a_shape, b_shape)`` pairs valid for ``a @ b``: 1-D, 2-D and broadcast batches."""
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    kind = draw(st.sampled_from(["vv", "vm", "mv", "mm", "batched"]))
    if kind == "vv":
        return (k,), (k,)
    if kind == "vm":
        return (k,), (k, m)
    if kind == "mv":
        return (n, k), (k,)
    if kind == "mm":
        return (n, k), (k, m)
    batch_a, batch_b = draw(broadcastable_shapes(2, 1, max_batch_dims, max_side=3))
    return batch_a + (n, k), batch_b + (k, m)


@st.composite
def axes(draw, ndim: int, allow_none: bool = True, allow_negative: bool = True):
    """A valid ``axis`` argument for an ``ndim``-dimensional array: None, an int or a tuple."""
    options = ["tuple"] + (["none"] if allow_none else []) + (["int"] if ndim else [])
    kind = draw(st.sampled_from(options))
    if kind == "none":
        return None
    low = -ndim if allow_negative else 0
    if kind == "int":
        return draw(st.integers(low, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim)) if ndim else []
    return tuple(a - ndim if allow_negative and draw(st.booleans()) else a for a in chosen)


def arrays(
    shape: Any,
    min_value: float = -3.0,
    max_value: float = 3.0,
    dtype: Any = np.float64,
    unique: bool = False,
    avoid: float | None = None,
):
    """NumPy arrays of ``shape`` (a shape or a strategy of shapes) with finite values in a range.

    ``avoid=c`` keeps every value at least 1e-3 away from ``c`` (kinks such as ReLU's at 0, where
    finite differences are meaningless); ``unique=True`` draws distinct values at least 1e-3
    apart (no ties or near-ties, e.g. for ``max``).
    """
    if unique:  # distinct values on a 1e-3 grid: ties are at least 1e-3 apart, far above eps
        grid = st.integers(int(np.ceil(min_value * 1000)), int(np.floor(max_value * 1000)))
        elements = grid.map(lambda k: k / 1000.0)
    else:
        elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    if avoid is not None:
        elements = elements.filter(lambda v: abs(v - avoid) > 1e-3)
    return hnp.arrays(np.dtype(dtype), shape, elements=elements, unique=unique)


def class_labels(batch: int, num_classes: int):
    """Integer labels of shape ``(batch,)`` in ``[0, num_classes)``."""
    return hnp.arrays(np.int64, (batch,), elements=st.integers(0, num_classes - 1))


def tensors(
    shape: Any,
    dtype: Any = "float32",
    device: str = "cpu",
    requires_grad: bool = False,
    **array_kwargs: Any,
):
    """Tensors built from :func:`arrays` (same keyword arguments)."""
    return arrays(shape, **array_kwargs).map(
        lambda a: Tensor(a, dtype=dtype, device=device, requires_grad=requires_grad)
    )


# ====================================================================== the checker
def check_gradients(
    op: Callable[..., Tensor],
    *inputs: st.SearchStrategy,
    formula: Callable[..., Sequence[np.ndarray | None]] | None = None,
    device: str = "cpu",
    wrt: Sequence[int] | None = None,
    eps: float = 1e-6,
    fd_rtol: float = 1e-5,
    fd_atol: float = 1e-7,
    formula_rtol: float = 1e-10,
    formula_atol: float = 1e-12,
    check_float32: bool = True,
    float32_rtol: float = 2e-3,
) -> None:
    """Property-test ``op``'s backward on inputs drawn by Hypothesis.

    ``inputs``: one strategy per input producing NumPy arrays (float arrays become float64
    tensors that require grad; integer arrays become label tensors), or a single strategy
    producing a tuple of arrays (for inputs whose shapes must agree).
    ``formula(*arrays, grad)`` returns the hand-derived gradient of every input (``None`` to
    skip one), given the upstream gradient ``grad`` of the output's shape.
    ``wrt``: indices of the float inputs to differentiate (default: all of them).
    Runs under the active Hypothesis settings profile and raises :class:`GradientMismatch`.
    """
    draw_inputs = inputs[0] if len(inputs) == 1 else st.tuples(*inputs)

    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        drawn = data.draw(draw_inputs, label="inputs")
        arrays_ = tuple(drawn) if isinstance(drawn, tuple) else (drawn,)
        _check_one(
            op,
            arrays_,
            data,
            formula,
            device,
            wrt,
            eps,
            (fd_rtol, fd_atol),
            (formula_rtol, formula_atol),
            float32_rtol if check_float32 else None,
        )

    run()


def _check_one(op, arrays_: Arrays, data, formula, device, wrt, eps, fd_tol, formula_tol, f32_rtol):
    diff = _differentiable(arrays_, wrt)
    originals = tuple(np.array(a, copy=True) for a in arrays_)
    ts = _make_inputs(arrays_, diff, device, "float64")
    out = op(*ts)
    _expect(isinstance(out, Tensor), f"op returned {type(out).__name__}, expected a Tensor")
    _check_on_device(out.data, device, "output")
    upstream = data.draw(arrays(out.shape, min_value=-2.0, max_value=2.0), label="upstream grad")
    upstream_sent = Tensor(upstream, dtype="float64", device=device)
    out.backward(upstream_sent)
    grads = _collect_grads(ts, diff, device)
    _check_unchanged(ts, originals, upstream_sent, upstream)
    _check_no_shared_memory(ts, grads, device)
    if formula is not None:
        expected = formula(*[a.copy() for a in originals], upstream.copy())
        _compare_formula(grads, expected, diff, formula_tol)
    numeric = _finite_differences(op, originals, diff, upstream, device, eps)
    for i in diff:
        _assert_close(grads[i], numeric[i], *fd_tol, f"input {i}: backward vs finite differences")
    if f32_rtol is not None:
        _check_float32(op, originals, diff, upstream, device, out.numpy(), grads, f32_rtol)


def _differentiable(arrays_: Arrays, wrt: Sequence[int] | None) -> list[int]:
    floats = [i for i, a in enumerate(arrays_) if np.asarray(a).dtype.kind == "f"]
    return floats if wrt is None else [i for i in wrt if i in floats]


def _make_inputs(arrays_: Arrays, diff: list[int], device: str, dtype: str) -> list[Tensor]:
    out = []
    for i, a in enumerate(arrays_):
        a = np.asarray(a)
        if a.dtype.kind == "f":
            out.append(Tensor(a.copy(), dtype=dtype, device=device, requires_grad=i in diff))
        else:
            out.append(Tensor(a.copy(), device=device))
    return out


def _collect_grads(ts: list[Tensor], diff: list[int], device: str) -> dict[int, np.ndarray]:
    grads = {}
    for i in diff:
        g = ts[i].grad
        _expect(g is not None, f"input {i} requires grad but received no gradient")
        _check_on_device(g.data, device, f"gradient of input {i}")
        _expect(
            g.shape == ts[i].shape,
            f"gradient of input {i} has shape {g.shape}, the input has shape {ts[i].shape}",
        )
        _expect(
            g.dtype == ts[i].dtype,
            f"gradient of input {i} has dtype "
            f"{backend.dtype_name(g.dtype)}, the input {backend.dtype_name(ts[i].dtype)}",
        )
        grads[i] = np.array(g.numpy(), dtype=np.float64, copy=True)
    return grads


def _check_on_device(array: Any, device: str, what: str) -> None:
    try:
        actual = backend.device_of(array)
    except TypeError:
        actual = type(array).__name__
    _expect(
        actual == device,
        f"{what} is a {type(array).__name__} on {actual!r}, expected an "
        f"array of device {device!r} (an op used numpy on tensor data?)",
    )


def _check_unchanged(ts: list[Tensor], originals: Arrays, sent: Tensor, upstream: np.ndarray):
    for i, (t, a) in enumerate(zip(ts, originals, strict=True)):
        if not np.array_equal(t.numpy(), a):
            raise GradientMismatch(f"input {i} was modified in place by forward or backward")
    if not np.array_equal(sent.numpy(), upstream):
        raise GradientMismatch("backward modified the upstream gradient in place")


def _check_no_shared_memory(ts: list[Tensor], grads: dict[int, Any], device: str) -> None:
    if device != "cpu":
        return  # only NumPy exposes memory overlap portably
    arrays_ = [(f"gradient of input {i}", ts[i].grad.data) for i in grads]
    arrays_ += [(f"input {i}", t.data) for i, t in enumerate(ts)]
    for j, (name_a, a) in enumerate(arrays_):
        for name_b, b in arrays_[j + 1 :]:
            if name_a.startswith("gradient") and np.shares_memory(a, b):
                raise GradientMismatch(f"{name_a} shares memory with {name_b}")


def _compare_formula(grads, expected, diff: list[int], tol: tuple[float, float]) -> None:
    expected = tuple(expected) if isinstance(expected, list | tuple) else (expected,)
    for i in diff:
        if i < len(expected) and expected[i] is not None:
            want = np.broadcast_to(np.asarray(expected[i], dtype=np.float64), grads[i].shape)
            _assert_close(grads[i], want, *tol, f"input {i}: backward vs hand-derived formula")


def _finite_differences(op, originals: Arrays, diff, upstream, device, eps) -> dict[int, Any]:
    """Central differences of L(x) = sum(upstream * op(x)) for every element of every input."""

    def loss(values: Arrays) -> float:
        with no_grad():
            out = op(*_make_inputs(values, [], device, "float64"))
        return float(np.sum(upstream * out.numpy()))

    numeric = {}
    for i in diff:
        base = np.array(originals[i], dtype=np.float64, copy=True)
        grad = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            values = list(originals)
            plus, minus = base.copy(), base.copy()
            plus[idx] += eps
            minus[idx] -= eps
            values[i] = plus
            high = loss(tuple(values))
            values[i] = minus
            grad[idx] = (high - loss(tuple(values))) / (2 * eps)
        numeric[i] = grad
    return numeric


def _check_float32(op, originals, diff, upstream, device, out64, grads64, rtol) -> None:
    ts = _make_inputs(originals, diff, device, "float32")
    out = op(*ts)
    _expect(
        backend.dtype_name(out.dtype) == "float32",
        f"float32 inputs gave a {backend.dtype_name(out.dtype)} output",
    )
    scale = max(1.0, float(np.max(np.abs(out64), initial=0.0)))
    _assert_close(out.numpy(), out64, rtol, 1e-5 * scale, "float32 output vs float64")
    out.backward(Tensor(upstream, dtype="float32", device=device))
    for i in diff:
        scale = max(1.0, float(np.max(np.abs(grads64[i]), initial=0.0)))
        _assert_close(
            ts[i].grad.numpy(),
            grads64[i],
            rtol,
            1e-5 * scale,
            f"input {i}: float32 gradient vs float64",
        )


def _assert_close(actual, expected, rtol: float, atol: float, what: str) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise GradientMismatch(f"{what}: shapes {actual.shape} and {expected.shape} differ")
    err = np.abs(actual - expected) - (atol + rtol * np.abs(expected))
    if actual.size and (np.max(err) > 0 or not np.all(np.isfinite(actual))):
        worst = np.unravel_index(
            int(np.nanargmax(np.where(np.isfinite(err), err, np.inf))), actual.shape
        )
        raise GradientMismatch(
            f"{what}: element {tuple(int(i) for i in worst)} is {actual[worst]!r}, expected "
            f"{expected[worst]!r} (rtol={rtol}, atol={atol}); {int(np.sum(err > 0))} of "
            f"{actual.size} elements differ"
        )


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise GradientMismatch(message)
