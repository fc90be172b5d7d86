"""Tests of tinygrad_mlp.optim.lr_scheduler against the schedules' formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mlp import Tensor, optim
from tinygrad_mlp.optim import lr_scheduler

BASE_LRS = st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=3)
EPOCHS = st.integers(0, 40)


def make_optimizer(lrs: list[float]) -> optim.SGD:
    """An SGD optimizer with one param group per learning rate."""
    groups = [{"params": [Tensor([1.0], requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=0.1)


def group_lrs(opt: optim.Optimizer) -> list[float]:
    return [group["lr"] for group in opt.param_groups]


def check_schedule(opt, sched, bases, epochs: int, formula) -> None:
    """After construction and after each step the rates equal ``formula(base, epoch)``."""
    for epoch in range(epochs + 1):
        if epoch:
            sched.step()
        expected = [formula(base, epoch) for base in bases]
        assert sched.last_epoch == epoch
        assert sched.get_last_lr() == pytest.approx(expected, rel=1e-12, abs=1e-300)
        assert group_lrs(opt) == sched.get_last_lr()


# ====================================================================== closed-form schedules


@given(BASE_LRS, st.integers(1, 10), st.floats(0.01, 1.0), EPOCHS)
def test_step_lr_formula(bases, step_size, gamma, epochs):
    opt = make_optimizer(bases)
    sched = optim.StepLR(opt, step_size=step_size, gamma=gamma)
    check_schedule(opt, sched, bases, epochs, lambda b, e: b * gamma ** (e // step_size))


def test_step_lr_by_hand():
    opt = make_optimizer([1.0])
    sched = optim.StepLR(opt, step_size=3)  # gamma 0.1
    seen = [sched.get_last_lr()[0]]
    for _ in range(7):
        sched.step()
        seen.append(sched.get_last_lr()[0])
    assert seen == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01], rel=1e-15)


@given(BASE_LRS, st.floats(0.01, 1.0), EPOCHS)
def test_exponential_lr_formula(bases, gamma, epochs):
    opt = make_optimizer(bases)
    sched = optim.ExponentialLR(opt, gamma=gamma)
    check_schedule(opt, sched, bases, epochs, lambda b, e: b * gamma**e)


@given(BASE_LRS, st.integers(1, 20), st.floats(0.0, 1e-3), EPOCHS)
def test_cosine_annealing_formula(bases, t_max, eta_min, epochs):
    opt = make_optimizer(bases)
    sched = optim.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)

    def formula(base: float, epoch: int) -> float:
        return eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2

    check_schedule(opt, sched, bases, epochs, formula)


def test_cosine_annealing_by_hand():
    opt = make_optimizer([1.0])
    sched = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.2)
    seen = [sched.get_last_lr()[0]]
    for _ in range(8):
        sched.step()
        seen.append(sched.get_last_lr()[0])
    half = 0.4 * (1 + math.sqrt(0.5))  # 0.8 * (1 + cos(pi/4)) / 2
    expected = [1.0, 0.2 + half, 0.6, 0.2 + 0.8 - half, 0.2, 0.2 + 0.8 - half, 0.6, 0.2 + half, 1]
    assert seen == pytest.approx(expected, rel=1e-12)


def test_schedulers_overwrite_the_optimizer_lr_and_drive_updates():
    p = Tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.ExponentialLR(opt, gamma=0.5)
    for _ in range(3):
        sched.step()
    p.grad = Tensor([1.0])
    opt.step()
    assert p.item() == pytest.approx(1.0 - 0.125)


def test_scheduler_after_add_param_group_raises():
    opt = make_optimizer([0.1])
    sched = optim.StepLR(opt, step_size=1)
    opt.add_param_group({"params": [Tensor([1.0], requires_grad=True)]})
    with pytest.raises(ValueError, match="set up for 1 param groups, the optimizer now has 2"):
        sched.step()


# ====================================================================== ReduceLROnPlateau


def plateau_lrs(sched, opt, metrics) -> list[list[float]]:
    out = []
    for metric in metrics:
        sched.step(metric)
        assert sched.get_last_lr() == group_lrs(opt)
        out.append(sched.get_last_lr())
    return out


def test_plateau_patience_by_hand():
    """patience=2: the first 2 bad epochs are tolerated, the 3rd lowers the rate."""
    opt = make_optimizer([1.0])
    sched = optim.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    lrs = plateau_lrs(sched, opt, [10, 11, 12, 13, 9, 9, 9, 9])
    assert [lr[0] for lr in lrs] == [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert sched.last_epoch == 8 and sched.best == 9


def test_plateau_patience_zero():
    opt = make_optimizer([1.0])
    sched = optim.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    lrs = plateau_lrs(sched, opt, [5, 5, 4, 6])
    assert [lr[0] for lr in lrs] == [1, 0.5, 0.5, 0.25]


def test_plateau_cooldown_ignores_bad_epochs():
    opt = make_optimizer([1.0])
    sched = optim.ReduceLROnPlateau(opt, patience=0, cooldown=2, factor=0.5)
    lrs = plateau_lrs(sched, opt, [5, 6, 6, 6, 6, 6])
    # epoch 2 reduces; epochs 3 and 4 are in cooldown; epoch 5 is bad again and reduces
    assert [lr[0] for lr in lrs] == [1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_plateau_min_lr_and_eps():
    opt = make_optimizer([0.1, 1e-8])
    sched = optim.ReduceLROnPlateau(opt, patience=0, factor=0.1, min_lr=[0.05, 0.0])
    lrs = plateau_lrs(sched, opt, [1, 1, 1])
    # group 0 stops at min_lr; group 1 would move by 9e-9 <= eps = 1e-8, so it stays
    assert lrs == [[0.1, 1e-8], [0.05, 1e-8], [0.05, 1e-8]]


def test_plateau_thresholds():
    opt = make_optimizer([1.0])
    rel = optim.ReduceLROnPlateau(opt, patience=0, threshold=0.01, factor=0.5)
    rel.step(1.0)
    rel.step(0.995)  # needs < 1.0 * (1 - 0.01): not an improvement
    assert rel.best == 1.0 and group_lrs(opt) == [0.5]
    opt = make_optimizer([1.0])
    up = optim.ReduceLROnPlateau(opt, mode="max", threshold=0.5, threshold_mode="abs", patience=0)
    up.step(1.0)
    up.step(1.6)  # > 1.0 + 0.5: improvement
    assert up.best == 1.6 and group_lrs(opt) == [1.0]
    up.step(2.0)  # not > 2.1
    assert up.best == 1.6 and group_lrs(opt) == [pytest.approx(0.1)]


def test_plateau_accepts_tensor_metric_and_counts_nan_as_bad():
    opt = make_optimizer([1.0])
    sched = optim.ReduceLROnPlateau(opt, patience=1)
    sched.step(Tensor(2.0))
    sched.step(float("nan"))
    assert sched.best == 2.0 and sched.num_bad_epochs == 1
    with pytest.raises(TypeError, match="needs a number"):
        sched.step("loss")


def ref_plateau(lrs, metrics, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr):
    """ReduceLROnPlateau as its documentation describes it (eps = 0 here)."""
    lrs, best, bad, cool, out = list(lrs), None, 0, 0, []
    for m in metrics:
        if best is None:  # the first epoch sets the baseline and is always good
            improved = True
        elif threshold_mode == "rel":
            improved = m < best * (1 - threshold) if mode == "min" else m > best * (1 + threshold)
        else:
            improved = m < best - threshold if mode == "min" else m > best + threshold
        if improved:
            best, bad = m, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            lrs = [max(lr * factor, min_lr) for lr in lrs]
            cool, bad = cooldown, 0
        out.append(list(lrs))
    return out


@given(
    st.lists(st.integers(0, 4).map(float), min_size=1, max_size=30),
    st.sampled_from(["min", "max"]),
    st.floats(0.05, 0.9),
    st.integers(0, 3),
    st.sampled_from([0.0, 1e-4, 0.3]),
    st.sampled_from(["rel", "abs"]),
    st.integers(0, 2),
    st.sampled_from([0.0, 1e-3]),
)
def test_plateau_matches_reference(
    metrics, mode, factor, patience, threshold, t_mode, cool, min_lr
):
    opt = make_optimizer([1.0, 0.3])
    sched = optim.ReduceLROnPlateau(
        opt, mode, factor, patience, threshold, t_mode, cool, min_lr=min_lr, eps=0.0
    )
    expected = ref_plateau(
        [1.0, 0.3], metrics, mode, factor, patience, threshold, t_mode, cool, min_lr
    )
    assert plateau_lrs(sched, opt, metrics) == expected


# ====================================================================== state dicts


SCHEDULERS = [
    (optim.StepLR, dict(step_size=2, gamma=0.5)),
    (optim.ExponentialLR, dict(gamma=0.9)),
    (optim.CosineAnnealingLR, dict(T_max=5, eta_min=1e-3)),
]


@pytest.mark.parametrize(("cls", "kwargs"), SCHEDULERS, ids=lambda v: getattr(v, "__name__", ""))
def test_scheduler_state_dict_round_trip(cls, kwargs):
    opt = make_optimizer([0.1, 0.2])
    sched = cls(opt, **kwargs)
    for _ in range(3):
        sched.step()
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    assert saved["last_epoch"] == 3 and saved["base_lrs"] == [0.1, 0.2]

    opt2 = make_optimizer([0.5, 0.5])
    sched2 = cls(opt2, **{k: (v * 2 if k != "eta_min" else v) for k, v in kwargs.items()})
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    assert group_lrs(opt2) == group_lrs(opt) and sched2.get_last_lr() == sched.get_last_lr()
    for _ in range(6):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr() and sched2.last_epoch == sched.last_epoch


def test_plateau_state_dict_round_trip():
    opt = make_optimizer([1.0])
    sched = optim.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)
    metrics = [3, 2, 2, 2, 2, 1, 1, 1, 1, 1]
    plateau_lrs(sched, opt, metrics[:4])
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    opt2 = make_optimizer([1.0])
    sched2 = optim.ReduceLROnPlateau(opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    assert sched2.state_dict() == saved
    assert plateau_lrs(sched2, opt2, metrics[4:]) == plateau_lrs(sched, opt, metrics[4:])


def test_load_state_dict_errors():
    opt = make_optimizer([0.1])
    sched = optim.StepLR(opt, step_size=2)
    saved = sched.state_dict()
    del saved["gamma"]
    with pytest.raises(ValueError, match="lacks the keys \\['gamma'\\]"):
        sched.load_state_dict(saved)
    saved = optim.StepLR(make_optimizer([0.1, 0.2]), step_size=2).state_dict()
    with pytest.raises(ValueError, match="2 base learning rates, the optimizer has 1"):
        sched.load_state_dict(saved)
    plateau = optim.ReduceLROnPlateau(opt)
    saved = optim.ReduceLROnPlateau(make_optimizer([0.1, 0.2])).state_dict()
    with pytest.raises(ValueError, match="2 min_lr values"):
        plateau.load_state_dict(saved)


# ====================================================================== bad arguments


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda o: optim.StepLR(o, step_size=0), "step_size must be a positive integer, got 0"),
        (lambda o: optim.StepLR(o, step_size=1.5), "got 1.5"),
        (lambda o: optim.StepLR(o, step_size=2, gamma=0.0), "gamma must be > 0"),
        (lambda o: optim.ExponentialLR(o, gamma=-0.5), "gamma must be >= 0, got -0.5"),
        (lambda o: optim.ExponentialLR(o, gamma=float("nan")), "gamma must be finite"),
        (lambda o: optim.CosineAnnealingLR(o, T_max=0), "T_max must be a positive integer"),
        (lambda o: optim.CosineAnnealingLR(o, T_max=3, eta_min=-1.0), "eta_min must be >= 0"),
        (lambda o: optim.ReduceLROnPlateau(o, mode="up"), "mode must be 'min' or 'max'"),
        (lambda o: optim.ReduceLROnPlateau(o, factor=1.0), r"factor must be in \(0, 1\)"),
        (lambda o: optim.ReduceLROnPlateau(o, patience=-1), "patience must be an integer >= 0"),
        (lambda o: optim.ReduceLROnPlateau(o, threshold=-1.0), "threshold must be >= 0"),
        (lambda o: optim.ReduceLROnPlateau(o, threshold_mode="x"), "threshold_mode"),
        (lambda o: optim.ReduceLROnPlateau(o, cooldown=-2), "cooldown must be an integer >= 0"),
        (lambda o: optim.ReduceLROnPlateau(o, min_lr=[0.0, 0.0]), "2 values for 1 param groups"),
        (lambda o: optim.ReduceLROnPlateau(o, min_lr=-1.0), "min_lr must be >= 0"),
        (lambda o: optim.ReduceLROnPlateau(o, eps=-1.0), "eps must be >= 0"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(make_optimizer([0.1]))


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="expected an Optimizer, got list"):
        optim.StepLR([Tensor([1.0], requires_grad=True)], step_size=1)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        optim.ReduceLROnPlateau(None)


def test_exports():
    for name in ("StepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau"):
        assert getattr(optim, name) is getattr(lr_scheduler, name)
        assert name in optim.__all__
    assert np.isfinite(optim.CosineAnnealingLR(make_optimizer([0.1]), 3).get_last_lr()[0])
