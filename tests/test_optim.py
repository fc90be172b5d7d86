"""Tests of tinygrad_mlp.optim: update rules against independent float64 references, param
groups, state dicts, zero_grad, closures, gradient clipping, the L1 penalty, bad arguments and
the array-api-strict backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinygrad_mlp import Tensor, no_grad, optim

array_api_strict = pytest.importorskip("array_api_strict")
STRICT_ARRAY = type(array_api_strict.asarray(0.0))

RTOL = 1e-12
# Reference and optimizer round differently (e.g. sqrt(v / bc) vs sqrt(v) / sqrt(bc)); where an
# update almost cancels the parameter the relative error of the difference is unbounded, so the
# comparison also allows an absolute error of 1e-12 (values here are of order 1 to 100).
ATOL = 1e-12

# no magnitudes below 1e-100: their squares underflow, and v - g_ave^2 in centered RMSprop then
# rounds below zero (NaN, in PyTorch too), which would make the example compare NaN with NaN
VALUES = st.floats(-10, 10, allow_nan=False, allow_subnormal=False).filter(
    lambda x: x == 0 or abs(x) > 1e-100
)
LR = st.floats(1e-4, 1.0)
DECAY = st.one_of(st.just(0.0), st.floats(0.0, 0.1))
EPS = st.floats(1e-10, 1e-2)


@st.composite
def trajectories(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """An initial parameter vector and 1 or 10 gradients for it (float64)."""
    n = draw(st.integers(1, 4))
    steps = draw(st.sampled_from([1, 10]))
    p0 = draw(arrays(np.float64, n, elements=VALUES))
    grads = draw(arrays(np.float64, (steps, n), elements=VALUES))
    return p0, grads


def param(values, **kw) -> Tensor:
    """A float64 parameter (the framework's default dtype is float32)."""
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True, dtype="float64", **kw)


def t64(values, **kw) -> Tensor:
    return Tensor(values, dtype="float64", **kw)


def run(opt_cls, p0: np.ndarray, grads: np.ndarray, **hyper) -> tuple[np.ndarray, optim.Optimizer]:
    """Apply ``opt_cls`` to a float64 copy of ``p0`` with the given gradient sequence."""
    p = param(p0)
    opt = opt_cls([p], **hyper)
    for g in grads:
        p.grad = t64(g.copy())
        opt.step()
    return p.numpy(), opt


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


# ====================================================================== reference algorithms
# Written from the algorithms in PyTorch's documentation, in plain float64 NumPy.


def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    p = p.copy()
    b = None
    for t, g in enumerate(grads, start=1):
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def ref_adam(p, grads, lr, betas, eps, weight_decay=0.0, amsgrad=False, decoupled=False):
    beta1, beta2 = betas
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    v_max = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2**t)
        else:
            v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def ref_rmsprop(p, grads, lr, alpha, eps, weight_decay=0.0, momentum=0.0, centered=False):
    p = p.copy()
    v = np.zeros_like(p)
    b = np.zeros_like(p)
    g_ave = np.zeros_like(p)
    for g in grads:
        if weight_decay != 0:
            g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v_tilde - g_ave**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
    return p


# ====================================================================== update rules


@st.composite
def sgd_hyper(draw: st.DrawFn) -> dict:
    nesterov = draw(st.booleans())
    if nesterov:
        momentum, dampening = draw(st.floats(0.01, 0.99)), 0.0
    else:
        momentum = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.99)))
        dampening = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9)))
    return dict(
        lr=draw(LR),
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=draw(DECAY),
    )


@given(trajectories(), sgd_hyper())
def test_sgd_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.SGD, p0, grads, **hyper)
    assert_close(actual, ref_sgd(p0, grads, **hyper))


@st.composite
def adam_hyper(draw: st.DrawFn) -> dict:
    return dict(
        lr=draw(LR),
        betas=(draw(st.floats(0.0, 0.99)), draw(st.floats(0.0, 0.9999))),
        eps=draw(EPS),
        weight_decay=draw(DECAY),
        amsgrad=draw(st.booleans()),
    )


@given(trajectories(), adam_hyper())
def test_adam_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.Adam, p0, grads, **hyper)
    assert_close(actual, ref_adam(p0, grads, **hyper))


@given(trajectories(), adam_hyper())
def test_adamw_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.AdamW, p0, grads, **hyper)
    assert_close(actual, ref_adam(p0, grads, decoupled=True, **hyper))


@st.composite
def rmsprop_hyper(draw: st.DrawFn) -> dict:
    centered = draw(st.booleans())
    # centered: v - g_ave^2 >= alpha^t v exactly, but rounds to <= 0 (NaN sqrt, in PyTorch too)
    # once alpha^t is below the rounding error; alpha >= 0.5 keeps it far from that over 10 steps
    alpha = draw(st.floats(0.5, 0.999) if centered else st.floats(0.0, 0.999))
    return dict(
        lr=draw(LR),
        alpha=alpha,
        eps=draw(EPS),
        weight_decay=draw(DECAY),
        momentum=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9))),
        centered=centered,
    )


@given(trajectories(), rmsprop_hyper())
def test_rmsprop_matches_reference(traj, hyper):
    p0, grads = traj
    actual, _ = run(optim.RMSprop, p0, grads, **hyper)
    assert_close(actual, ref_rmsprop(p0, grads, **hyper))


@given(trajectories(), st.floats(1e-4, 0.1), st.floats(1e-3, 0.5))
def test_adamw_differs_from_adam_only_by_decoupled_decay(traj, lr, wd):
    """Same gradients, so same moments: AdamW's param = Adam(wd=0)'s minus the decay terms."""
    p0, grads = traj
    plain = param(p0)
    decoupled = param(p0)
    adam = optim.Adam([plain], lr=lr)
    adamw = optim.AdamW([decoupled], lr=lr, weight_decay=wd)
    gap = np.zeros_like(p0)  # decoupled - plain, from the recurrence gap_t = gap - lr wd theta^W
    for g in grads:
        before = decoupled.numpy().copy()
        plain.grad, decoupled.grad = t64(g.copy()), t64(g.copy())
        adam.step()
        adamw.step()
        gap = gap - lr * wd * before
        np.testing.assert_allclose(decoupled.numpy() - plain.numpy(), gap, rtol=1e-9, atol=1e-12)


def test_adamw_and_adam_weight_decay_differ_by_hand():
    """theta=1, g=0.5, lr=0.1, wd=0.1, first step (m_hat/sqrt(v_hat) = g/|g|):
    Adam:  g' = 0.6, theta = 1 - 0.1 * 0.6 / (0.6 + 1e-8)
    AdamW: theta = 1 * (1 - 0.01) - 0.1 * 0.5 / (0.5 + 1e-8)"""
    outcomes = {}
    for cls in (optim.Adam, optim.AdamW):
        p = param([1.0])
        opt = cls([p], lr=0.1, weight_decay=0.1)
        p.grad = t64(np.array([0.5]))
        opt.step()
        outcomes[cls] = p.item()
    assert outcomes[optim.Adam] == pytest.approx(1 - 0.1 * 0.6 / (0.6 + 1e-8), rel=1e-15)
    assert outcomes[optim.AdamW] == pytest.approx(0.99 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-15)
    assert outcomes[optim.AdamW] != pytest.approx(outcomes[optim.Adam], rel=1e-6)


def test_adamw_default_weight_decay_and_zero_decay_equals_adam():
    p = param([1.0])
    assert optim.AdamW([p]).param_groups[0]["weight_decay"] == 0.01
    assert optim.Adam([p]).param_groups[0]["weight_decay"] == 0.0
    grads = np.array([[0.3, -1.0], [2.0, 0.5], [-0.1, 0.0]])
    a, _ = run(optim.Adam, np.array([1.0, -2.0]), grads, lr=0.01)
    w, _ = run(optim.AdamW, np.array([1.0, -2.0]), grads, lr=0.01, weight_decay=0.0)
    assert np.array_equal(a, w)


def test_sgd_first_momentum_step_uses_the_gradient_as_buffer():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.5, momentum=0.9, dampening=0.5)
    p.grad = t64(np.array([0.2, -0.4]))
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], [0.2, -0.4])  # not (1-0.5)g
    np.testing.assert_array_equal(p.numpy(), [1.0 - 0.5 * 0.2, 2.0 + 0.5 * 0.4])
    p.grad = t64(np.array([1.0, 1.0]))
    opt.step()
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [0.9 * 0.2 + 0.5, -0.36 + 0.5])


def test_rmsprop_adds_eps_outside_the_square_root():
    p = param([0.0])
    opt = optim.RMSprop([p], lr=1.0, alpha=0.0, eps=0.5)
    p.grad = t64(np.array([4.0]))  # v = 16: step 4 / (4 + 0.5), not 4 / sqrt(16.5)
    opt.step()
    assert p.item() == pytest.approx(-4.0 / 4.5, rel=1e-15)


# ====================================================================== Optimizer mechanics

CONFIGS = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.5, dampening=0.2)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (optim.AdamW, dict(lr=0.01, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)),
    (optim.RMSprop, dict(lr=0.01)),
]
CONFIG_IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CONFIGS)]


def test_float32_params_stay_float32_and_state_matches():
    for cls, hyper in CONFIGS:
        p = Tensor(np.array([1.0, -1.0], dtype=np.float32), requires_grad=True)
        opt = cls([p], **hyper)
        for _ in range(2):
            p.grad = Tensor(np.array([0.5, 0.25], dtype=np.float32))
            opt.step()
        assert p.data.dtype == np.float32, cls
        for value in opt.state[p].values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, cls


def grad_sequence(seed: int, shapes, steps: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) for s in shapes] for _ in range(steps)]


def apply(opt, params, grads) -> None:
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = t64(g.copy())
        opt.step()


@pytest.mark.parametrize(("cls", "hyper"), CONFIGS, ids=CONFIG_IDS)
def test_state_dict_round_trip_resumes_bit_identically(cls, hyper):
    shapes = [(3, 2), (2,), (4,)]
    grads = grad_sequence(0, shapes, 8)
    init = [np.random.default_rng(1).normal(size=s) for s in shapes]
    params = [param(v) for v in init]
    opt = cls([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}], **hyper)
    apply(opt, params, grads[:4])
    saved = opt.state_dict()
    values = [p.numpy().copy() for p in params]
    apply(opt, params, grads[4:])  # the original goes on ...

    resumed = [param(v) for v in values]
    opt2 = cls([{"params": resumed[:2]}, {"params": resumed[2:]}], **hyper)
    opt2.load_state_dict(saved)  # ... and so does a fresh optimizer from the saved state
    assert opt2.param_groups[1]["lr"] == 0.05
    apply(opt2, resumed, grads[4:])
    for a, b in zip(params, resumed, strict=True):
        assert np.array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(("cls", "hyper"), CONFIGS, ids=CONFIG_IDS)
def test_state_dict_holds_host_copies_and_param_indices(cls, hyper):
    params = [param([1.0, 2.0]), param([3.0])]
    opt = cls(params, **hyper)
    apply(opt, params, grad_sequence(2, [(2,), (1,)], 2))
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert set(sd["state"]) == {0, 1}
    snapshot = {k: {n: np.copy(v) for n, v in s.items()} for k, s in sd["state"].items()}
    apply(opt, params, grad_sequence(3, [(2,), (1,)], 2))
    for index, entries in sd["state"].items():
        for name, value in entries.items():
            assert isinstance(value, np.ndarray | int | float), (name, type(value))
            np.testing.assert_array_equal(value, snapshot[index][name])  # not live views
    if "betas" in sd["param_groups"][0]:
        assert isinstance(sd["param_groups"][0]["betas"], list)  # plain data for JSON


def test_load_state_dict_accepts_str_keys_and_converts_dtype_and_device():
    p = param([1.0, 2.0])
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    apply(opt, [p], grad_sequence(4, [(2,)], 3))
    sd = opt.state_dict()
    sd["state"] = {str(k): v for k, v in sd["state"].items()}  # as after a JSON round trip
    q = Tensor(
        np.array([1.0, 2.0], dtype=np.float32), requires_grad=True, device="array_api_strict"
    )
    opt2 = optim.Adam([q], lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["amsgrad"] is True
    state = opt2.state[q]
    assert state["step"] == 3
    for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        assert isinstance(state[name], STRICT_ARRAY)
        assert state[name].dtype == array_api_strict.float32
        np.testing.assert_allclose(np.from_dlpack(state[name]), sd["state"]["0"][name], rtol=1e-6)
    sd["state"]["0"]["exp_avg"][...] = 123.0  # the loaded state is a copy
    assert float(array_api_strict.max(state["exp_avg"])) != 123.0


def _two_group_adam():
    a, b, c = param([[1.0, 2.0]]), param([1.0]), param([2.0, 3.0])
    opt = optim.Adam([{"params": [a, b]}, {"params": [c]}])
    apply(opt, [a, b, c], grad_sequence(5, [(1, 2), (1,), (2,)], 1))
    return opt


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda sd: sd["param_groups"].pop(), "1 param groups, this optimizer has 2"),
        (lambda sd: sd["param_groups"][1]["params"].append(3), "param group 1 has 2 parameters"),
        (lambda sd: sd["state"][0].update(exp_avg=np.zeros((2, 1))), r"shape \(2, 1\)"),
        (lambda sd: sd["state"].update({7: {}}), "parameter 7"),
        (lambda sd: sd.pop("state"), "'state'"),
        (lambda sd: sd["param_groups"][0].update(lr=-1.0), "lr must be a finite positive"),
    ],
)
def test_load_state_dict_mismatch_raises_and_changes_nothing(edit, message):
    opt = _two_group_adam()
    sd = opt.state_dict()
    edit(sd)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for k, entries in before["state"].items():
        for name, value in entries.items():
            np.testing.assert_array_equal(after["state"][k][name], value)


def test_zero_grad_set_to_none():
    p, q = param([1.0]), param([2.0])
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = t64(np.array([3.0]))
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_zero_grad_to_zeros_replaces_and_never_mutates():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    old = np.array([3.0, 4.0])
    p.grad = t64(old)
    held = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is not held and p.grad.data is not old
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    assert p.grad.data.dtype == np.float64
    np.testing.assert_array_equal(old, [3.0, 4.0])  # the old gradient array is untouched


def test_step_skips_params_without_grad_and_state_is_lazy():
    p, q = param([1.0]), param([2.0])
    opt = optim.Adam([p, q], lr=0.1)
    assert opt.state == {}
    p.grad = t64(np.array([1.0]))
    opt.step()
    assert q.item() == 2.0 and q not in opt.state
    assert opt.state[p]["step"] == 1 and set(opt.state[p]) == {"step", "exp_avg", "exp_avg_sq"}
    q.grad = t64(np.array([1.0]))
    opt.step()
    assert opt.state[p]["step"] == 2 and opt.state[q]["step"] == 1


def test_step_closure_runs_with_grad_enabled_and_returns_loss():
    w = param([2.0, -1.0])
    opt = optim.SGD([w], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(loss.item())
        return loss

    with no_grad():  # the closure still records its graph
        loss = opt.step(closure)
    assert calls == [5.0] and loss.item() == 5.0
    np.testing.assert_array_equal(w.numpy(), [2.0 - 0.25 * 4.0, -1.0 + 0.25 * 2.0])
    assert opt.step() is None


def test_param_groups_defaults_and_per_group_values():
    a, b = param([1.0]), param([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0 == {
        "params": [a],
        "lr": 0.1,
        "momentum": 0.0,
        "dampening": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
    }
    assert g1["params"] == [b] and g1["lr"] == 0.5 and g1["momentum"] == 0.9
    a.grad, b.grad = t64(np.array([1.0])), t64(np.array([1.0]))
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)


def test_add_param_group():
    a, b = param([1.0]), param([1.0])
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "betas": (0.5, 0.6)})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["betas"] == (0.5, 0.6)
    with pytest.raises(ValueError, match="already in param group 0"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="betas"):
        opt.add_param_group({"params": [param([0.0])], "betas": (0.5, 1.0)})
    with pytest.raises(ValueError, match="'params'"):
        opt.add_param_group({"lr": 0.1})
    assert len(opt.param_groups) == 2


def test_generator_of_params_is_accepted():
    params = [param([1.0]), param([2.0])]
    opt = optim.SGD((p for p in params), lr=0.1)
    assert opt.param_groups[0]["params"] == params


# ====================================================================== bad arguments


def p1() -> list[Tensor]:
    return [param([1.0, 2.0])]


BAD_ARGUMENTS = [
    (lambda: optim.SGD(p1(), lr=0.0), "lr must be a finite positive number, got 0.0"),
    (lambda: optim.SGD(p1(), lr=-0.1), "got -0.1"),
    (lambda: optim.Adam(p1(), lr=float("nan")), "lr must be a finite positive number, got nan"),
    (lambda: optim.Adam(p1(), lr=float("inf")), "got inf"),
    (lambda: optim.RMSprop(p1(), lr="0.1"), "lr must be a finite positive number"),
    (lambda: optim.SGD(p1(), lr=0.1, momentum=-0.5), "momentum must be >= 0, got -0.5"),
    (lambda: optim.RMSprop(p1(), momentum=-1.0), "momentum must be >= 0"),
    (lambda: optim.Adam(p1(), betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1.0"),
    (lambda: optim.Adam(p1(), betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\), got -0.1"),
    (lambda: optim.AdamW(p1(), betas=(0.9,)), "betas must be a pair"),
    (lambda: optim.Adam(p1(), eps=-1e-8), "eps must be >= 0, got -1e-08"),
    (lambda: optim.RMSprop(p1(), eps=-1.0), "eps must be >= 0"),
    (lambda: optim.SGD(p1(), lr=0.1, weight_decay=-0.1), "weight_decay must be >= 0, got -0.1"),
    (lambda: optim.Adam(p1(), weight_decay=-1.0), "weight_decay must be >= 0"),
    (lambda: optim.AdamW(p1(), weight_decay=-1.0), "weight_decay must be >= 0"),
    (lambda: optim.RMSprop(p1(), weight_decay=-1.0), "weight_decay must be >= 0"),
    (lambda: optim.SGD(p1(), lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (
        lambda: optim.SGD(p1(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
        "dampening=0.1",
    ),
    (lambda: optim.RMSprop(p1(), alpha=-0.1), r"alpha must be in \[0, 1\], got -0.1"),
    (lambda: optim.Adam(p1(), amsgrad="yes"), "amsgrad must be True or False"),
    (lambda: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda: optim.SGD([{"params": []}], lr=0.1), "param group 0 has an empty parameter list"),
    (lambda: optim.SGD([param([1.0]), 3.0], lr=0.1), "parameter 1 of param group 0 is a float"),
    (
        lambda: optim.SGD([param([1.0]), Tensor(np.zeros((2, 3)))], lr=0.1),
        r"parameter 1 of param group 0 \(shape \(2, 3\)\) does not require grad",
    ),
    (lambda: optim.Adam([param([1.0]), *(2 * p1())]), "parameter 2 .* same tensor as parameter 1"),
    (lambda: optim.Adam([param([1.0]) * 2.0]), "not a leaf"),
    (lambda: optim.SGD([{"params": [param([1.0])], "lr": -1.0}], lr=0.1), "param group 0"),
]


@pytest.mark.parametrize(("make", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_value_error_naming_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_non_tensor_param_is_also_a_type_error():
    with pytest.raises(TypeError, match="not a Tensor"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(param([1.0]), lr=0.1)


def test_wrong_gradient_shape_raises():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    p.grad = t64(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(2,\) has a gradient of shape \(3,\)"):
        opt.step()


# ====================================================================== clip_grad_norm_

NORM_TYPES = st.sampled_from([1.0, 2.0, 3.0, math.inf])


@st.composite
def grad_lists(draw: st.DrawFn) -> list[np.ndarray]:
    count = draw(st.integers(1, 3))
    return [
        draw(arrays(np.float64, draw(st.integers(1, 4)), elements=VALUES)) for _ in range(count)
    ]


def with_grads(grads: list[np.ndarray]) -> list[Tensor]:
    params = []
    for g in grads:
        p = param(np.zeros_like(g))
        p.grad = t64(g.copy())
        params.append(p)
    return params


@given(grad_lists(), NORM_TYPES, st.floats(0.0, 20.0))
def test_clip_grad_norm_returns_global_norm_and_scales(grads, norm_type, max_norm):
    params = with_grads(grads)
    params.append(param([5.0]))  # no grad: ignored
    total = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = np.linalg.norm(np.concatenate(grads), ord=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-300)
    coef = max_norm / (expected + 1e-6)
    for p, g in zip(params, grads, strict=False):
        if coef < 1:
            np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12, atol=1e-300)
        else:
            np.testing.assert_array_equal(p.grad.numpy(), g)  # no-op below the threshold
    if coef < 1:
        clipped = np.concatenate([p.grad.numpy() for p in params[:-1]])
        assert np.linalg.norm(clipped, ord=norm_type) <= max_norm * (1 + 1e-12)


def test_clip_grad_norm_by_hand():
    params = with_grads([np.array([3.0]), np.array([0.0, 4.0])])
    assert optim.clip_grad_norm_(params, 1.0) == 5.0
    np.testing.assert_allclose(params[0].grad.numpy(), [3.0 / (5.0 + 1e-6)], rtol=1e-15)
    params = with_grads([np.array([3.0, -7.0])])
    assert optim.clip_grad_norm_(params, 100.0, norm_type="inf") == 7.0
    np.testing.assert_array_equal(params[0].grad.numpy(), [3.0, -7.0])
    assert optim.clip_grad_norm_([param([1.0])], 1.0) == 0.0  # nothing has a gradient


def test_clip_grad_norm_non_finite():
    params = with_grads([np.array([1.0, np.inf])])
    with pytest.raises(FloatingPointError, match="non-finite|NaN or Inf"):
        optim.clip_grad_norm_(params, 1.0)
    assert optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=False) == math.inf
    np.testing.assert_array_equal(params[0].grad.numpy(), [1.0, np.inf])  # left unchanged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(max_norm=-1.0), "max_norm must be >= 0"),
        (dict(max_norm=float("nan")), "max_norm must be finite"),
        (dict(max_norm=1.0, norm_type=0.0), "norm_type must be a positive number or inf"),
        (dict(max_norm=1.0, norm_type="l2"), "norm_type"),
    ],
)
def test_clip_grad_norm_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.clip_grad_norm_(with_grads([np.ones(2)]), **kwargs)


# ====================================================================== l1_penalty


@given(grad_lists(), st.floats(0.0, 5.0))
def test_l1_penalty_value_and_gradient(values, weight):
    params = [param(v) for v in values]
    penalty = optim.l1_penalty(params, weight)
    expected = weight * sum(np.abs(v).sum() for v in values)
    assert penalty.item() == pytest.approx(expected, rel=1e-12, abs=1e-300)
    penalty.backward()
    for p, v in zip(params, values, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), weight * np.sign(v))


def test_l1_penalty_bad_arguments():
    with pytest.raises(ValueError, match="weight must be >= 0, got -1.0"):
        optim.l1_penalty([param([1.0])], -1.0)
    with pytest.raises(ValueError, match="empty"):
        optim.l1_penalty([], 0.1)
    with pytest.raises(TypeError, match="not a Tensor"):
        optim.l1_penalty([np.ones(2)], 0.1)


# ====================================================================== array-api-strict


@pytest.mark.parametrize(("cls", "hyper"), CONFIGS, ids=CONFIG_IDS)
def test_optimizer_on_array_api_strict_matches_numpy(cls, hyper):
    xp = array_api_strict
    shapes = [(3, 2), (2,)]
    init = [np.random.default_rng(6).normal(size=s) for s in shapes]
    grads = grad_sequence(7, shapes, 4)
    host = [param(v) for v in init]
    strict = [param(v, device="array_api_strict") for v in init]
    opt_host, opt_strict = cls(host, **hyper), cls(strict, **hyper)
    for step_grads in grads:
        for h, s, g in zip(host, strict, step_grads, strict=True):
            h.grad = t64(g.copy())
            s.grad = t64(g.copy(), device="array_api_strict")
        opt_host.step()
        opt_strict.step()
    total = optim.clip_grad_norm_(strict, 0.5)
    assert total == pytest.approx(optim.clip_grad_norm_(host, 0.5), rel=1e-12)
    opt_strict.zero_grad(set_to_none=False)
    for h, s in zip(host, strict, strict=True):
        assert isinstance(s.data, STRICT_ARRAY) and s.data.dtype == xp.float64
        np.testing.assert_allclose(s.numpy(), h.numpy(), rtol=1e-12, atol=1e-15)
        assert isinstance(s.grad.data, STRICT_ARRAY)
        for value in opt_strict.state[s].values():
            assert isinstance(value, int | STRICT_ARRAY)
