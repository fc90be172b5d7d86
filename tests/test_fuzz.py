"""Fuzzing the engine's gradients with random programs.

Hypothesis draws a random straight-line program over the op set: elementwise and broadcasting
binary ops (shapes drawn to broadcast), reuse of intermediate results, sum/mean/max over random
axes with or without keepdims, matmul (1-D, 2-D, batched), the fused linear, reshape/transpose,
every activation, and the losses. Values are kept in safe domains: each candidate instruction is
evaluated on the drawn inputs while the program is built, and it is dropped when an output leaves
[-20, 20] or is not finite, or when an input lies within 1e-3 of a kink (relu, abs, leaky_relu,
elu at 0, softplus at its threshold), a tie of ``max``, or outside a function's domain (log of
values below 0.05, division by values under 0.1 in size; the safe forms ``log(1 + x*x)`` and
``x / (1 + y*y)`` need no guard). Central differences are then meaningful everywhere. BCE
targets (``sigmoid(y)``) keep ``|y| <= 9``, where float32 still resolves their derivative
(``SATURATED``).

The program travels as an integer "bytecode" array, the first input of
``tinygrad_mlp.testing.check_gradients`` (integer inputs are passed through undifferentiated),
followed by the float leaves; a fixed interpreter (``run_program``) executes it. So the public
kit does all the checking: float64 central differences, gradient shapes and dtypes, inputs left
unchanged, no gradient sharing memory, and float32 against float64. A failure is shrunk to a
minimal program, printed (decoded) in the Hypothesis notes.

CI runs the default ``ci`` profile (deterministic, 25 programs per test, a few seconds). Deeper:

    HYPOTHESIS_PROFILE=dev  pytest tests/test_fuzz.py     # 200 random programs per test
    HYPOTHESIS_PROFILE=deep pytest tests/test_fuzz.py     # 2,000 random programs per test
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import find, note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F
from tinygrad_mlp import testing

BOUND = 20.0  # every intermediate value stays within [-BOUND, BOUND]
MARGIN = 1e-3  # distance kept from kinks, ties and domain edges (central differences use 1e-6)
# Largest |y| in a BCE target sigmoid(y). Its gradient goes through s (1 - s), taken from the
# output s, and float32 rounds s near 1 in steps of 6e-8: at |y| = 9 a step is 5e-4 of 1 - s (a
# quarter of the float32 check's rtol, 2e-3), at 10.4 all of it. PyTorch's float32 gradient is
# off alike: v = mse(x0, x1, "sum") = 16.25 into bce_logits(v, sigmoid(v)) gave the same
# [-2.32e-05, 4.07e-05] for x0 in both, against float64's [-1.71e-05, 2.99e-05].
SATURATED = 9.0
MAX_SIDE = 3
REDUCTIONS = ("mean", "sum", "none")
POWERS = (2, 3, 0.5, -1, 1.5)
NEG = -(10**6)  # "no operand" in an instruction row


# ====================================================================== the interpreter
def _axes(mask: int, ndim: int) -> tuple[int, ...] | None:
    """Axis bitmask -> tuple of axes (0 means None: all axes)."""
    return None if mask == 0 else tuple(i for i in range(ndim) if mask >> i & 1)


def _shape(p: list[int]) -> tuple[int, ...]:
    return tuple(d for d in p if d > 0)


def _labels(n: int, c: int, p: list[int]) -> np.ndarray:
    return (p[0] + p[1] * np.arange(n)) % c


def _reduce(x, y, p, name):
    return getattr(x, name)(axis=_axes(p[0], x.ndim), keepdims=bool(p[1]))


def _transpose(x, p):
    if p[0] < 0:
        return x.T
    return x.transpose(*list(itertools.permutations(range(x.ndim)))[p[0]])


# name -> fn(x, y, z, params) with x, y, z Tensors (y, z None when unused)
OPS = {
    "mul": lambda x, y, z, p: x * y,
    "add": lambda x, y, z, p: x + y,
    "sub": lambda x, y, z, p: x - y,
    "div_safe": lambda x, y, z, p: x / (1.0 + y * y),
    "div": lambda x, y, z, p: x / y,
    "matmul": lambda x, y, z, p: x @ y,
    "linear": lambda x, y, z, p: F.linear(x, y, z),
    "neg": lambda x, y, z, p: -x,
    "abs": lambda x, y, z, p: x.abs(),
    "exp": lambda x, y, z, p: x.exp(),
    "log": lambda x, y, z, p: x.log(),
    "log1p_sq": lambda x, y, z, p: (1.0 + x * x).log(),
    "log_softplus": lambda x, y, z, p: x.softplus().log(),
    "pow": lambda x, y, z, p: x ** POWERS[p[0]],
    "tanh": lambda x, y, z, p: x.tanh(),
    "sigmoid": lambda x, y, z, p: x.sigmoid(),
    "relu": lambda x, y, z, p: x.relu(),
    "leaky_relu": lambda x, y, z, p: F.leaky_relu(x, 0.1),
    "elu": lambda x, y, z, p: F.elu(x, 0.5),
    "softplus": lambda x, y, z, p: F.softplus(x),
    "softmax": lambda x, y, z, p: x.softmax(axis=p[0]),
    "log_softmax": lambda x, y, z, p: x.log_softmax(axis=p[0]),
    "sum": lambda x, y, z, p: _reduce(x, y, p, "sum"),
    "mean": lambda x, y, z, p: _reduce(x, y, p, "mean"),
    "max": lambda x, y, z, p: _reduce(x, y, p, "max"),
    "reshape": lambda x, y, z, p: x.reshape(_shape(p)),
    "transpose": lambda x, y, z, p: _transpose(x, p),
    "mse": lambda x, y, z, p: F.mse_loss(x, y, reduction=REDUCTIONS[p[0]]),
    "bce": lambda x, y, z, p: F.binary_cross_entropy(
        x.sigmoid(), y.sigmoid(), reduction=REDUCTIONS[p[0]]
    ),
    "bce_logits": lambda x, y, z, p: F.binary_cross_entropy_with_logits(
        x, y.sigmoid(), reduction=REDUCTIONS[p[0]]
    ),
    "ce_labels": lambda x, y, z, p: F.cross_entropy(
        x, _labels(x.shape[0], x.shape[1], p[1:]), reduction=REDUCTIONS[p[0]]
    ),
    "ce_probs": lambda x, y, z, p: F.cross_entropy(
        x, y.softmax(axis=-1), reduction=REDUCTIONS[p[0]]
    ),
    "add_mean": lambda x, y, z, p: x + y.mean(),  # ties dangling values into the output
}
NAMES = list(OPS)


def run_program(code: tg.Tensor, *leaves: tg.Tensor) -> tg.Tensor:
    """Execute the instruction rows ``[op, x, y, z, p0, p1, p2]`` of ``code``; operand ``-k-1``
    is leaf ``k``, ``r >= 0`` is the result of row ``r``; the last row's result is the output."""
    results: list[tg.Tensor] = []

    def get(ref: int) -> tg.Tensor | None:
        if ref == NEG:
            return None
        return leaves[-ref - 1] if ref < 0 else results[ref]

    for op, x, y, z, *p in code.numpy().tolist():
        results.append(OPS[NAMES[op]](get(x), get(y), get(z), p))
    return results[-1]


def describe(code: np.ndarray, leaves: list[np.ndarray]) -> str:
    """The program as readable text (shown in the Hypothesis notes of a failure)."""
    name = lambda ref: f"x{-ref - 1}" if ref < 0 else f"v{ref}"  # noqa: E731
    lines = [
        f"x{i}: shape {a.shape} (input {i + 1} of check_gradients)" for i, a in enumerate(leaves)
    ]
    for r, (op, x, y, z, *p) in enumerate(code.tolist()):
        args = ", ".join(name(a) for a in (x, y, z) if a != NEG)
        lines.append(f"v{r} = {NAMES[op]}({args}; params={p})")
    return "\n".join(lines)


# ====================================================================== the program strategy
def _away(v: np.ndarray, points: tuple[float, ...]) -> bool:
    return all(float(np.min(np.abs(v - c), initial=np.inf)) >= MARGIN for c in points)


def _max_gap_ok(v: np.ndarray, mask: int) -> bool:
    """No two values within MARGIN of each other at the top of any reduced group."""
    axes = _axes(mask, v.ndim)
    axes = tuple(range(v.ndim)) if axes is None else axes
    moved = np.moveaxis(v, axes, tuple(range(v.ndim - len(axes), v.ndim)))
    groups = moved.reshape(moved.shape[: v.ndim - len(axes)] + (-1,))
    if groups.shape[-1] < 2:
        return True
    top = np.sort(groups, axis=-1)[..., -2:]
    return bool(np.all(top[..., 1] - top[..., 0] >= MARGIN))


def _guard(name: str, x: np.ndarray, y: np.ndarray | None, p: list[int]) -> bool:
    """Is the instruction safe for central differences at these input values?"""
    if name in ("abs", "relu", "leaky_relu", "elu"):
        return _away(x, (0.0,))
    if name == "softplus":
        return _away(x, (20.0,))
    if name == "log":
        return float(np.min(x)) >= 0.05
    if name == "pow" and POWERS[p[0]] in (0.5, 1.5):
        return float(np.min(x)) >= 0.05
    if name == "pow" and POWERS[p[0]] < 0:
        return float(np.min(np.abs(x))) >= 0.1
    if name == "div":
        return float(np.min(np.abs(y))) >= 0.1
    if name == "max":
        return _max_gap_ok(x, p[0])
    if name in ("bce", "bce_logits") and float(np.max(np.abs(y))) > SATURATED:
        return False  # the target sigmoid(y): float32 cannot resolve its derivative
    if name == "bce":
        return float(np.max(np.abs(x))) <= 12.0
    return True


class Builder:
    """Draws a valid program step by step, evaluating it (float64, no grad) as it goes."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.leaves: list[np.ndarray] = []
        self.values: dict[int, tg.Tensor] = {}
        self.rows: list[list[int]] = []
        self.used: set[int] = set()

    def leaf(self, shape: tuple[int, ...]) -> int:
        array = self.draw(testing.arrays(shape, -2.0, 2.0), label=f"x{len(self.leaves)}")
        self.leaves.append(array)
        ref = -len(self.leaves)
        self.values[ref] = tg.Tensor(array, dtype="float64")
        return ref

    def shape(self, ref: int) -> tuple[int, ...]:
        return self.values[ref].shape

    def partner(self, shape_ok, new_shape) -> int:
        """An existing value whose shape passes ``shape_ok`` (reuse) or a new leaf."""
        candidates = [r for r in self.values if shape_ok(self.shape(r))]
        if candidates and self.draw(st.booleans()):
            return self.draw(st.sampled_from(sorted(candidates)))
        return self.leaf(self.draw(new_shape))

    def emit(self, name: str, x: int, y: int = NEG, z: int = NEG, p=(0, 0, 0)) -> bool:
        """Evaluate the instruction; keep it when it is safe, return whether it was kept."""
        p = list(p)
        xv = self.values[x].numpy()
        yv = None if y == NEG else self.values[y].numpy()
        if not _guard(name, xv, yv, p):
            return False
        args = [None if r == NEG else self.values[r] for r in (x, y, z)]
        with tg.no_grad(), np.errstate(all="ignore"):
            out = OPS[name](*args, p)
        v = out.numpy()
        if not np.all(np.isfinite(v)) or float(np.max(np.abs(v), initial=0.0)) > BOUND:
            return False
        self.values[len(self.rows)] = out
        self.rows.append([NAMES.index(name), x, y, z, *p])
        self.used.update(r for r in (x, y, z) if r != NEG)
        return True


def _broadcast_partner(shape):
    return hnp.broadcastable_shapes(shape, min_dims=0, max_dims=3, max_side=MAX_SIDE)


def _broadcasts_with(shape):
    def ok(other):
        try:
            out = np.broadcast_shapes(shape, other)
        except ValueError:
            return False
        return len(out) <= 3 and math.prod(out) <= MAX_SIDE**3

    return ok


def _reshape_targets(size: int) -> list[tuple[int, ...]]:
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    shapes = [()] if size == 1 else []
    for ndim in (1, 2, 3):
        shapes += [s for s in itertools.product(divisors, repeat=ndim) if math.prod(s) == size]
    return shapes


def _matmul_partner(b: Builder, draw, x: int) -> int:
    shape = b.shape(x)
    k, m = shape[-1], draw(st.integers(1, MAX_SIDE))
    options = [(k,), (k, m)]
    if len(shape) == 3:
        options.append((draw(st.sampled_from([1, shape[0]])), k, m))
    elif len(shape) <= 2:
        options.append((draw(st.integers(1, 2)), k, m))
    return b.partner(lambda s: s in options, st.sampled_from(options))


def _step(b: Builder, draw, name: str, x: int) -> bool:
    """Draw operands and parameters for ``name`` applied to ``x`` and emit it (False: n/a)."""
    shape, ndim = b.shape(x), len(b.shape(x))
    if name in ("add", "sub", "mul", "div", "div_safe"):
        y = b.partner(_broadcasts_with(shape), _broadcast_partner(shape))
        return b.emit(name, x, y) if _broadcasts_with(shape)(b.shape(y)) else False
    if name == "pow":
        return b.emit(name, x, p=(draw(st.integers(0, len(POWERS) - 1)), 0, 0))
    if name in ("softmax", "log_softmax"):
        return ndim > 0 and b.emit(name, x, p=(draw(st.integers(-ndim, ndim - 1)), 0, 0))
    if name in ("sum", "mean", "max"):
        mask = draw(st.integers(0, 2**ndim - 1))
        return b.emit(name, x, p=(mask, int(draw(st.booleans())), 0))
    if name == "reshape":
        target = draw(st.sampled_from(_reshape_targets(math.prod(shape))))
        return b.emit(name, x, p=tuple(target) + (0,) * (3 - len(target)))
    if name == "transpose":
        perms = math.factorial(ndim)
        return b.emit(name, x, p=(draw(st.integers(-1, perms - 1)), 0, 0))
    if name == "matmul":
        return ndim > 0 and b.emit(name, x, _matmul_partner(b, draw, x))
    if name == "linear":
        if ndim != 2:
            return False
        out = draw(st.integers(1, MAX_SIDE))
        w = b.partner(lambda s: s == (out, shape[1]), st.just((out, shape[1])))
        bias = b.partner(lambda s: s == (out,), st.just((out,))) if draw(st.booleans()) else NEG
        return b.emit(name, x, w, bias)
    if name in ("mse", "bce", "bce_logits", "ce_probs"):
        if name == "ce_probs" and ndim != 2:
            return False
        y = b.partner(lambda s: s == shape, st.just(shape))
        return b.emit(name, x, y, p=(draw(st.integers(0, 2)), 0, 0))
    if name == "ce_labels":
        if ndim != 2:
            return False
        p = (draw(st.integers(0, 2)), draw(st.integers(0, 5)), draw(st.integers(0, 5)))
        return b.emit(name, x, p=p)
    return b.emit(name, x)


@st.composite
def programs(draw, max_ops: int = 6, ops: tuple[str, ...] = tuple(NAMES[:-1]), min_dims=0):
    """``(bytecode, *leaves)`` for ``run_program``: a random program whose output depends on
    every leaf (results nothing used are added to the output through their mean)."""
    b = Builder(draw)
    b.leaf(draw(testing.shapes(min_dims, 3, 1, MAX_SIDE)))
    for _ in range(draw(st.integers(1, max_ops))):
        for _attempt in range(4):  # an op may not apply (shape, domain): draw another
            refs = sorted(b.values)
            x = draw(st.one_of(st.just(refs[-1]), st.sampled_from(refs)))  # refs[-1]: newest
            if _step(b, draw, draw(st.sampled_from(ops)), x):
                break
    if not b.rows:
        b.emit("tanh", -1)
    last = len(b.rows) - 1
    for ref in sorted(r for r in b.values if r not in b.used and r != last):
        # a sum of values in [-20, 20]; stays finite, and nothing follows it
        b.values[len(b.rows)] = b.values[len(b.rows) - 1] + b.values[ref].mean()
        b.rows.append([NAMES.index("add_mean"), len(b.rows) - 1, ref, NEG, 0, 0, 0])
    code = np.array(b.rows, dtype=np.int64)
    note("program:\n" + describe(code, b.leaves))
    return (code, *b.leaves)


# ====================================================================== the tests
SMOOTH = tuple(n for n in NAMES[:-1] if n not in ("abs", "relu", "leaky_relu", "elu", "max"))


def test_random_programs(device):
    """Random programs over the whole op set, on every array backend."""
    testing.check_gradients(run_program, programs(), device=device)


def test_long_random_programs_of_smooth_ops():
    """Longer chains (more reuse, deeper broadcasting) of the ops without kinks."""
    testing.check_gradients(run_program, programs(max_ops=14, ops=SMOOTH))


NETWORK = ("linear", "matmul", "add", "mul", "relu", "tanh", "sigmoid", "leaky_relu", "softmax",
           "log_softmax", "sum", "mean", "max", "transpose", "mse", "bce_logits", "ce_labels",
           "ce_probs")  # fmt: skip


def test_random_network_like_programs():
    """Programs over the ops an MLP and its losses use, starting from a batch of features."""
    testing.check_gradients(run_program, programs(max_ops=8, ops=NETWORK, min_dims=2))


GROUPS = [  # each op in a few targeted programs, composed with mul and add
    ("sub", "div", "div_safe"),
    ("matmul", "linear", "transpose"),
    ("neg", "exp", "log", "log1p_sq"),
    ("pow", "softplus", "log_softplus"),
    ("abs", "relu", "leaky_relu", "elu"),
    ("tanh", "sigmoid", "softmax", "log_softmax"),
    ("sum", "mean", "max", "reshape"),
    ("mse", "bce", "bce_logits"),
    ("ce_labels", "ce_probs"),
]


@pytest.mark.parametrize("group", GROUPS, ids="-".join)
def test_random_programs_of_each_op_group(group):
    """Every op gets programs of its own (in the mixed tests some ops are drawn rarely)."""
    min_dims = 2 if {"linear", "ce_labels"} & set(group) else 0
    ops = group + ("mul", "add")
    testing.check_gradients(run_program, programs(max_ops=4, ops=ops, min_dims=min_dims))


def test_the_groups_cover_every_op():
    grouped = [n for g in GROUPS for n in g]
    assert sorted(grouped + ["add", "add_mean", "mul"]) == sorted(NAMES)  # each once


def test_interpreter_and_guards():
    """The fuzzer's own machinery: decoding, leaf/result operands, and the kink and tie guards."""
    code = np.array(
        [
            [NAMES.index("mul"), -1, -2, NEG, 0, 0, 0],
            [NAMES.index("sum"), 0, NEG, NEG, 0b10, 1, 0],
            [NAMES.index("add_mean"), 1, -1, NEG, 0, 0, 0],
        ]
    )
    a, c = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    out = run_program(tg.Tensor(code), tg.Tensor(a), tg.Tensor(c))
    np.testing.assert_allclose(out.numpy(), (a * c).sum(axis=1, keepdims=True) + a.mean())
    assert "v1 = sum(v0; params=[2, 1, 0])" in describe(code, [a, c])
    assert not _guard("relu", np.array([0.5, 1e-4]), None, [0, 0, 0])
    assert _guard("relu", np.array([0.5, -2e-3]), None, [0, 0, 0])
    assert not _guard("max", np.array([[1.0, 1.0005], [0.0, 2.0]]), None, [0b10, 0, 0])
    assert _guard("max", np.array([[1.0, 1.0005], [0.0, 2.0]]), None, [0b01, 0, 0])
    for name in ("bce", "bce_logits"):  # saturated targets sigmoid(y), |y| > 9, are refused
        assert _guard(name, np.array([0.5]), np.array([-9.0, 9.0]), [0, 0, 0])
        assert not _guard(name, np.array([0.5]), np.array([0.0, 9.5]), [0, 0, 0])
    targets = _reshape_targets(4)
    assert (2, 2) in targets and (1, 4, 1) in targets and () not in targets
    assert all(math.prod(s) == 4 for s in targets) and () in _reshape_targets(1)


@pytest.mark.parametrize(
    "name", ["abs", "relu", "max", "ce_labels", "linear", "matmul", "bce", "bce_logits"]
)
def test_every_op_can_be_drawn(name):
    """The ops with the strictest preconditions (2-D inputs, kink and tie guards) are reached:
    a guard that always refuses would silently shrink the fuzzed op set."""
    found = find(programs(max_ops=3, ops=(name,)), lambda prog: NAMES.index(name) in prog[0][:, 0])
    assert NAMES.index(name) in found[0][:, 0]
