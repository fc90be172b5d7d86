"""Tests of tinygrad_mlp.optim.Optimizer: param groups, state dicts, bad arguments, backends."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _optim_helpers import param, t64

from tinygrad_mlp import Tensor, backend, cpu, no_grad, optim

array_api_strict = pytest.importorskip("array_api_strict")
STRICT_ARRAY = type(array_api_strict.asarray(0.0))


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


# ====================================================================== array-api-strict


@pytest.mark.parametrize(
    "device", ["array_api_strict"] + (["cuda"] if backend.is_available("cuda") else [])
)
@pytest.mark.parametrize(("cls", "hyper"), CONFIGS, ids=CONFIG_IDS)
def test_optimizer_on_every_other_backend_matches_numpy(cls, hyper, device):
    """array-api-strict (and CuPy where a GPU is present) against NumPy. The large parameter
    takes the fast paths: BLAS axpy and reused temporaries on NumPy, ``out=`` temporaries on
    CuPy (``backend.scratch``), plain array-API calls on array-api-strict."""
    shapes = [(3, 2), (2,), (backend._SCRATCH_MIN_SIZE // 128 + 2, 128)]
    assert math.prod(shapes[-1]) >= max(backend._SCRATCH_MIN_SIZE, cpu._AXPY_MIN_SIZE)
    init = [np.random.default_rng(6).normal(size=s) for s in shapes]
    grads = grad_sequence(7, shapes, 4)
    host = [param(v) for v in init]
    other = [param(v, device=device) for v in init]
    opt_host, opt_other = cls(host, **hyper), cls(other, **hyper)
    for step_grads in grads:
        for h, s, g in zip(host, other, step_grads, strict=True):
            h.grad = t64(g.copy())
            s.grad = t64(g.copy(), device=device)
        opt_host.step()
        opt_other.step()
    total = optim.clip_grad_norm_(other, 0.5)
    assert total == pytest.approx(optim.clip_grad_norm_(host, 0.5), rel=1e-12)
    opt_other.zero_grad(set_to_none=False)
    for h, s in zip(host, other, strict=True):
        assert backend.device_of(s.data) == device and backend.dtype_name(s.dtype) == "float64"
        np.testing.assert_allclose(s.numpy(), h.numpy(), rtol=1e-12, atol=1e-15)
        assert backend.device_of(s.grad.data) == device
        for value in opt_other.state[s].values():
            assert isinstance(value, int) or backend.device_of(value) == device


@pytest.mark.parametrize(
    "cls, hyper", CONFIGS + [(optim.SGD, dict(lr=0.1))], ids=CONFIG_IDS + ["SGD"]
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_parameters_take_the_blas_update_and_agree_with_numpy_s(
    cls, hyper, dtype, monkeypatch
):
    """Parameters of ``cpu._AXPY_MIN_SIZE`` elements or more are updated with BLAS axpy
    (SciPy's); every optimizer must give what the plain NumPy update gives."""
    pytest.importorskip("scipy")

    shape = (cpu._AXPY_MIN_SIZE // 128 + 3, 128)  # not a multiple of the BLAS chunk size
    rng = np.random.default_rng(0)
    start = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    calls = []
    real = cpu._load_axpy()[np.dtype(dtype)]
    monkeypatch.setitem(cpu._axpy, np.dtype(dtype), lambda *a: calls.append(1) or real(*a))

    def run() -> np.ndarray:
        p = Tensor(start, requires_grad=True, dtype=dtype)
        opt = cls([p], **hyper)
        for g in grads:
            p.grad = Tensor(g, dtype=dtype)
            opt.step()
            np.testing.assert_array_equal(p.grad.data, g)  # the stored gradient is untouched
        return p.data

    with_blas = run()
    assert calls
    monkeypatch.setattr(cpu, "_axpy", {})  # no SciPy: NumPy's two-pass update
    with_numpy = run()
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(with_blas, with_numpy, rtol=tol, atol=tol)


@pytest.mark.parametrize("cls, hyper", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("grad_dtype", ["float32", "float64"])
def test_update_in_reused_temporaries_is_bit_identical_to_fresh_arrays(
    cls, hyper, grad_dtype, monkeypatch
):
    """Adam and RMSprop write their elementwise steps into one temporary for parameters of
    ``backend._SCRATCH_MIN_SIZE`` elements or more (``backend.scratch``); the parameters, the
    state and the stored gradient must come out exactly as with a new array per step. A float64
    gradient on a float32 parameter (mixed dtypes) must take the new-array path."""

    shape = (backend._SCRATCH_MIN_SIZE // 128 + 2, 128)  # over the threshold
    monkeypatch.setattr(cpu, "_AXPY_MIN_SIZE", np.prod(shape) + 1)  # NumPy's update
    rng = np.random.default_rng(0)
    start = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(grad_dtype) for _ in range(3)]
    reused = []  # (dtype of the temporary, whether it was reused)
    real_scratch = backend.scratch

    def spy(tmp, like):
        out = real_scratch(tmp, like)
        reused.append((str(tmp.dtype), bool(out)))
        return out

    monkeypatch.setattr(backend, "scratch", spy)

    def run() -> tuple[np.ndarray, dict]:
        p = Tensor(start, requires_grad=True)
        opt = cls([p], **hyper)
        for g in grads:
            p.grad = Tensor(g, dtype=grad_dtype)
            opt.step()
            np.testing.assert_array_equal(p.grad.data, g)  # the stored gradient is untouched
        return p.data, opt.state_dict()["state"][0]

    params, state = run()
    if cls is not optim.SGD:
        assert (grad_dtype, True) in reused or grad_dtype == "float64", reused
        assert ("float64", True) not in reused, reused  # the float64 g^2 never holds float32 steps
    monkeypatch.setattr(backend, "_SCRATCH_MIN_SIZE", np.prod(shape) + 1)
    fresh_params, fresh_state = run()
    np.testing.assert_array_equal(params, fresh_params)
    assert state.keys() == fresh_state.keys()
    for key, value in state.items():
        np.testing.assert_array_equal(value, fresh_state[key], err_msg=key)


@pytest.mark.parametrize("cls, hyper", CONFIGS[2:], ids=CONFIG_IDS[2:])  # Adam and RMSprop
def test_column_major_gradients_keep_the_blas_update_and_its_bits(cls, hyper, monkeypatch):
    """A weight used as ``x @ W.T`` gets a column-major (F-ordered) gradient, so ``g * g`` is
    column-major too: ``backend.scratch`` must not reuse it (its results would be column-major
    and miss BLAS axpy, 2.7x slower and off by an ulp); the update of the parameter itself still
    goes through BLAS, with the bits of the new-array path."""
    pytest.importorskip("scipy")

    shape = (cpu._AXPY_MIN_SIZE // 128 + 3, 128)
    rng = np.random.default_rng(0)
    start = rng.standard_normal(shape).astype(np.float32)
    grads = [np.asfortranarray(rng.standard_normal(shape).astype(np.float32)) for _ in range(3)]
    real = cpu._load_axpy()[np.dtype("float32")]
    updates_of = []  # the arrays BLAS axpy wrote into

    def spy(x, y, n, a):
        updates_of.append(y)
        return real(x, y, n, a)

    monkeypatch.setitem(cpu._axpy, np.dtype("float32"), spy)

    def run() -> np.ndarray:
        p = Tensor(start, requires_grad=True)
        opt = cls([p], **hyper)
        for g in grads:
            p.grad = Tensor._make(g, False, None)  # exactly this layout
            updates_of.clear()
            opt.step()
            assert any(np.shares_memory(y, p.data) for y in updates_of)  # p's update: BLAS
        return p.data

    with_scratch = run()
    monkeypatch.setattr(backend, "_SCRATCH_MIN_SIZE", np.prod(shape) + 1)
    np.testing.assert_array_equal(with_scratch, run())


@pytest.mark.parametrize(
    "grad_dtype, param_dtype",
    [
        ("float32", "float32"),
        ("float64", "float64"),
        ("float64", "float32"),
        ("float32", "float64"),
    ],
)
def test_with_weight_decay_is_the_plain_expression_in_one_new_array(grad_dtype, param_dtype):
    """``grad + wd * param`` with one temporary: the same bits and dtype as the plain expression,
    a new array, the gradient and the parameter untouched."""
    from tinygrad_mlp.optim.optimizer import with_weight_decay

    rng = np.random.default_rng(3)
    grad = rng.standard_normal((257, 3)).astype(grad_dtype)
    param = rng.standard_normal((257, 3)).astype(param_dtype)
    grad_before, param_before = grad.copy(), param.copy()
    got = with_weight_decay(grad, param, 0.0123)
    want = grad + 0.0123 * param
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert got is not grad and not np.shares_memory(got, grad)
    np.testing.assert_array_equal(grad, grad_before)
    np.testing.assert_array_equal(param, param_before)
