"""tinygrad_mlp/backend.py: the NumPy namespace's direct reductions and the host memory setting."""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mlp import backend
from tinygrad_mlp.testing import arrays, axes, shapes

XP = backend.namespace(np.zeros(1))


@given(data=st.data())
def test_numpy_reductions_equal_numpy_s_own(data):
    a = data.draw(arrays(shapes(min_dims=1)))
    axis = data.draw(axes(a.ndim))
    axis = axis if axis else None
    keepdims = data.draw(st.booleans())
    for name in ("sum", "max", "min"):
        got = getattr(XP, name)(a, axis=axis, keepdims=keepdims)
        want = getattr(np, name)(a, axis=axis, keepdims=keepdims)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "bool", "float32"])
def test_numpy_sum_accumulates_small_integers_like_numpy(dtype):
    a = np.full(300, 100).astype(dtype)
    assert XP.sum(a) == np.sum(a) and XP.sum(a).dtype == np.sum(a).dtype
    assert XP.sum(a, dtype="float64").dtype == np.float64


def test_numpy_max_of_an_empty_array_raises_like_numpy():
    with pytest.raises(ValueError, match="zero-size array"):
        XP.max(np.zeros((0, 3)))
    assert XP.max(np.zeros((0, 3)), axis=1).shape == (0,)


def test_the_namespace_is_numpy_for_everything_else():
    assert XP.matmul is np.matmul and XP.float32 is np.float32 and XP.exp is np.exp
    assert backend.namespace_for("cpu") is XP


def _setting_in_a_fresh_process(env_value):
    env = dict(os.environ)
    env.pop("TINYGRAD_MLP_KEEP_FREED_MEMORY", None)
    if env_value is not None:
        env["TINYGRAD_MLP_KEEP_FREED_MEMORY"] = env_value
    code = "from tinygrad_mlp import backend; print(backend.keep_freed_host_memory())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_keep_freed_host_memory_applies_on_glibc_and_can_be_turned_off():
    glibc = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert _setting_in_a_fresh_process(None) == str(glibc)
    assert _setting_in_a_fresh_process("0") == "False"


def test_creating_an_optimizer_applies_the_setting():
    from tinygrad_mlp import nn, optim

    optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    assert "applied" in backend._host_memory


@pytest.mark.parametrize("kwargs", [dict(trim_mib=4096), dict(mmap_mib=0), dict(trim_mib=-1)])
def test_keep_freed_host_memory_refuses_sizes_that_do_not_fit_a_c_int(kwargs):
    with pytest.raises(ValueError, match=r"must be in \[1, 2047\]"):
        backend.keep_freed_host_memory(**kwargs)
