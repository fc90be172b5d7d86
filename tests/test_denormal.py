"""tinygrad_mlp.denormal: flushing subnormal floats to zero (``set_flush_denormal``)."""

import platform
import sys
import threading

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import denormal, nn, optim

SUPPORTED = sys.platform == "linux" and platform.machine().lower() in ("x86_64", "amd64")
needs_x86_linux = pytest.mark.skipif(not SUPPORTED, reason="MXCSR flags: x86-64 Linux only")


def other_mxcsr_bits() -> int | None:
    """MXCSR without the FTZ/DAZ bits and the sticky exception flags: the rounding mode and
    the exception masks, which ``set_flush_denormal`` must never touch."""
    libm = denormal._load_libm()
    if libm is None:
        return None
    env = denormal._FEnv()
    assert libm.fegetenv(env) == 0
    return env.mxcsr & ~(denormal._FTZ_DAZ | 0x3F)


@pytest.fixture(autouse=True)
def restore_mode():
    before, others = tg.is_flush_denormal(), other_mxcsr_bits()
    yield
    tg.set_flush_denormal(before)
    assert tg.is_flush_denormal() == before
    assert other_mxcsr_bits() == others  # rounding mode and exception masks untouched


@needs_x86_linux
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flush_reads_and_writes_subnormals_as_zero_and_can_be_undone(dtype):
    tiny = np.finfo(dtype).tiny  # the smallest normal number: unaffected
    subnormal = np.array([tiny / 4, -tiny / 8, tiny, 1.0], dtype=dtype)  # computed while off
    assert tg.set_flush_denormal(False) and subnormal[0] != 0
    others = other_mxcsr_bits()
    assert tg.set_flush_denormal(True) is True and tg.is_flush_denormal()
    np.testing.assert_array_equal(subnormal != 0, [False, False, True, True])  # DAZ: inputs
    bits = "uint32" if dtype == "float32" else "uint64"  # compared as bits: no DAZ on the way
    assert (np.array([tiny], dtype) * 0.25).view(bits)[0] == 0  # FTZ: results
    assert tg.set_flush_denormal(False) is True and not tg.is_flush_denormal()
    np.testing.assert_array_equal(subnormal * 1, subnormal)
    assert np.array([tiny], dtype) * 0.25 == tiny / 4
    assert other_mxcsr_bits() == others


@needs_x86_linux
def test_the_mode_belongs_to_the_calling_thread():
    ready, go, seen = threading.Event(), threading.Event(), []

    def earlier_thread():  # started before the mode is set: keeps subnormals
        ready.set()
        go.wait(10)
        seen.append(tg.is_flush_denormal())

    thread = threading.Thread(target=earlier_thread)
    thread.start()
    ready.wait(10)
    assert tg.set_flush_denormal(True)
    go.set()
    thread.join(10)
    assert seen == [False] and tg.is_flush_denormal()


@needs_x86_linux
def test_adam_training_with_flushing_matches_ieee_training_where_nothing_is_subnormal():
    def train(flush: bool) -> list[np.ndarray]:
        assert tg.set_flush_denormal(flush)
        rng = np.random.default_rng(0)
        x = tg.Tensor(rng.standard_normal((64, 20)), dtype="float32")
        y = tg.Tensor(rng.integers(0, 4, 64))
        model = nn.MLP([20, 32, 4], seed=0)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(20):
            opt.zero_grad()
            tg.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return [p.numpy() for p in model.parameters()]

    for a, b in zip(train(False), train(True), strict=True):
        np.testing.assert_array_equal(a, b)


def test_mode_must_be_a_bool():
    with pytest.raises(TypeError, match="mode must be True or False, got 1"):
        tg.set_flush_denormal(1)
    with pytest.raises(TypeError, match="got 'yes'"):
        tg.set_flush_denormal("yes")


def test_unsupported_platforms_report_false_and_change_nothing(monkeypatch):
    monkeypatch.setattr(denormal, "_libm", [None])
    assert tg.set_flush_denormal(True) is False
    assert not tg.is_flush_denormal()


@needs_x86_linux
def test_a_refused_fesetenv_leaves_the_mode_unchanged(monkeypatch):
    real = denormal._load_libm()

    class Refusing:
        fegetenv = real.fegetenv

        @staticmethod
        def fesetenv(env):
            return 1  # what the C library returns on failure

    monkeypatch.setattr(denormal, "_libm", [Refusing()])
    assert tg.set_flush_denormal(True) is False
    assert not tg.is_flush_denormal()
