"""tinygrad_mlp/cpu.py: the NumPy namespace's direct reductions, BLAS axpy updates and the host
memory setting."""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mlp import backend, cpu
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
        assert np.shape(got) == np.shape(want)
        # exact: these shapes (sides <= 4) never reach the BLAS sums, which need 64 rows
        np.testing.assert_array_equal(got, want)


def _assert_sum_close(got, a, axis, keepdims):
    """``got`` is the sum of ``a`` within the rounding bound n * eps * sum(|a|) of any order."""
    exact = np.sum(a.astype(np.float64), axis=axis, keepdims=keepdims)
    n = a.size if axis is None else int(np.prod([a.shape[i] for i in np.atleast_1d(axis)]))
    bound = (
        (n + 1)
        * np.finfo(a.dtype).eps
        * np.sum(np.abs(a.astype(np.float64)), axis=axis, keepdims=keepdims)
    )
    assert np.all(np.abs(np.asarray(got, dtype=np.float64) - exact) <= bound)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("axis", [0, 1, -1, -2, (0,), (1,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_sums_over_one_axis_go_through_blas(dtype, order, axis, keepdims, monkeypatch):
    a = np.asarray(np.random.default_rng(0).normal(size=(100, 7)) + 2.0, dtype=dtype, order=order)
    calls = []
    real = cpu._sum_2d
    monkeypatch.setattr(cpu, "_sum_2d", lambda *args: calls.append(real(*args)) or calls[-1])
    got = XP.sum(a, axis=axis, keepdims=keepdims)
    assert len(calls) == 1 and calls[0] is not None  # the fast path is taken ...
    want = np.sum(a, axis=axis, keepdims=keepdims)
    assert got.dtype == want.dtype and got.shape == want.shape  # ... with NumPy's dtype and shape
    _assert_sum_close(got, a, axis, keepdims)
    assert not any(np.shares_memory(got, ones) for ones in cpu._ones_cache.values())
    assert got.flags.writeable  # the result is the caller's own array


_R = np.random.default_rng(2)


@pytest.mark.parametrize(
    "a",
    [
        _R.normal(size=(32, 50)),  # under 64 rows: NumPy's own reduction
        _R.normal(size=(200, 4))[::2],  # strided: no BLAS
        _R.normal(size=(100, 4))[:, ::2],
        _R.normal(size=(3, 4, 2)),  # not a matrix
        _R.integers(-9, 9, size=(100, 3)),  # integers accumulate as NumPy does
        _R.normal(size=(100, 3)).astype(np.float16),
    ],
)
def test_other_sums_keep_numpy_s_reduction(a, monkeypatch):
    calls = []
    real = cpu._sum_2d
    monkeypatch.setattr(cpu, "_sum_2d", lambda *args: calls.append(real(*args)) or calls[-1])
    for axis in (0, -1):
        got = XP.sum(a, axis=axis)
        np.testing.assert_array_equal(got, np.add.reduce(a, axis=axis))
        assert got.dtype == np.sum(a, axis=axis).dtype
    assert all(out is None for out in calls)


def test_blas_sums_keep_nan_inf_and_empty_axes():
    a = np.ones((100, 3), dtype=np.float32)  # 100 rows: XP.sum takes the BLAS path
    a[:3] = [[np.inf, 1.0, np.nan], [1.0, 2.0, 3.0], [-np.inf, 0.0, 1.0]]
    with np.errstate(invalid="ignore"):  # inf - inf warns, as it does in np.sum
        np.testing.assert_array_equal(XP.sum(a, axis=0), [np.nan, 100.0, np.nan])
        np.testing.assert_array_equal(cpu._sum_2d(a, 0, False), [np.nan, 100.0, np.nan])
    np.testing.assert_array_equal(XP.sum(a, axis=1)[:4], [np.nan, 6.0, -np.inf, 3.0])
    np.testing.assert_array_equal(XP.sum(a[:, :2].copy(), axis=1)[:3], [np.inf, 3.0, -np.inf])
    for shape, axis, want in (((0, 3), 0, [0.0] * 3), ((4, 0), 1, [0.0] * 4), ((0, 3), 1, [])):
        for got in (XP.sum(np.zeros(shape), axis=axis), cpu._sum_2d(np.zeros(shape), axis, 0)):
            assert got.tolist() == want


@pytest.mark.parametrize("order, axis", [("C", 0), ("F", 1)])
def test_blas_sums_across_a_strided_axis_are_at_least_as_accurate_as_numpy_s(order, axis):
    """NumPy adds a strided axis one row (column) at a time; BLAS accumulates in blocks."""
    a = (np.random.default_rng(1).normal(size=(20000, 16)) + 3.0).astype(np.float32)
    a = np.asarray(a if axis == 0 else a.T, order=order)
    assert cpu._sum_2d(a, axis, False) is not None
    exact = np.sum(a.astype(np.float64), axis=axis)
    ours = np.abs(XP.sum(a, axis=axis) - exact).max()
    theirs = np.abs(np.add.reduce(a, axis=axis) - exact).max()
    assert ours <= theirs


@pytest.mark.parametrize("order, axis", [("C", 1), ("F", 0)])
def test_long_contiguous_axes_keep_numpy_s_pairwise_sum(order, axis):
    """Along a contiguous axis NumPy sums pairwise, more accurately than BLAS from about 256
    values on: such sums longer than 128 keep NumPy's reduction."""
    for n, blas in ((128, True), (129, False), (4096, False)):
        shape = (64, n) if axis == 1 else (n, 64)
        a = np.ones(shape, dtype=np.float32, order=order)
        assert (cpu._sum_2d(a, axis, False) is not None) == blas, n
    a = (np.random.default_rng(2).random((64, 4096)) + 1).astype(np.float32)
    a = np.asarray(a if axis == 1 else a.T, order=order)
    np.testing.assert_array_equal(XP.sum(a, axis=axis), np.add.reduce(a, axis=axis))


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


def _setting_in_a_fresh_process(env_value, code=None):
    env = dict(os.environ)
    env.pop("TINYGRAD_MLP_KEEP_FREED_MEMORY", None)
    if env_value is not None:
        env["TINYGRAD_MLP_KEEP_FREED_MEMORY"] = env_value
    code = code or "from tinygrad_mlp import backend; print(backend.keep_freed_host_memory())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_keep_freed_host_memory_applies_on_glibc_and_can_be_turned_off():
    glibc = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert _setting_in_a_fresh_process(None) == str(glibc)
    assert _setting_in_a_fresh_process("0") == "False"


def test_creating_an_optimizer_applies_the_setting():
    code = (
        "from tinygrad_mlp import cpu, nn, optim\n"
        "before = 'applied' in cpu._host_memory\n"
        "optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)\n"
        "print(before, 'applied' in cpu._host_memory)"
    )
    assert _setting_in_a_fresh_process(None, code) == "False True"  # a fresh process each time


@pytest.mark.parametrize("kwargs", [dict(trim_mib=4096), dict(mmap_mib=0), dict(trim_mib=-1)])
def test_keep_freed_host_memory_refuses_sizes_that_do_not_fit_a_c_int(kwargs):
    with pytest.raises(ValueError, match=r"must be in \[1, 2047\]"):
        cpu.keep_freed_host_memory(**kwargs)


# ---------------------------------------------------------------------- add_scaled_ (optimizers)
BIG = cpu._AXPY_MIN_SIZE  # the smallest array that goes through BLAS axpy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(BIG,), (BIG // 64, 64), (3 * cpu._AXPY_CHUNK + 7,), (10,)])
def test_add_scaled_matches_numpy_in_place(dtype, shape):
    rng = np.random.default_rng(0)
    y = rng.standard_normal(shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    expected = y + np.asarray(-0.37, dtype) * x
    cpu.add_scaled_(y, x, -0.37)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_add_scaled_of_a_big_array_goes_through_blas_when_scipy_is_there(monkeypatch):
    pytest.importorskip("scipy")
    calls = []
    real = cpu._load_axpy()[np.dtype("float32")]
    monkeypatch.setitem(cpu._axpy, np.dtype("float32"), lambda *a: calls.append(1) or real(*a))
    y, x = np.ones(BIG, np.float32), np.ones(BIG, np.float32)
    cpu.add_scaled_(y, x, 2.0)
    assert calls and np.all(y == 3.0)


@pytest.mark.parametrize(
    "make_y",
    [
        lambda: np.ones((64, BIG // 64), np.float32).T,  # not C-contiguous
        lambda: np.ones((2 * BIG,), np.float32)[::2],  # strided
        lambda: np.ones(BIG, np.float64),  # dtype differs from x
    ],
)
def test_add_scaled_of_arrays_blas_cannot_take_still_updates_them(make_y):
    y = make_y()
    x = np.full(y.shape, 0.5, np.float32)
    cpu.add_scaled_(y, x, 2.0)
    assert np.all(y == 2.0)


def test_add_scaled_reads_a_strided_or_read_only_x_correctly():
    y = np.zeros(BIG, np.float32)
    strided = np.arange(2 * BIG, dtype=np.float32)[::2]
    cpu.add_scaled_(y, strided, 1.0)
    assert np.array_equal(y, strided)
    frozen = np.arange(BIG, dtype=np.float32)
    frozen.flags.writeable = False
    cpu.add_scaled_(y, frozen, -1.0)
    assert np.array_equal(y, strided - frozen)


def test_add_scaled_of_overlapping_arrays_equals_numpy_s():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(2 * BIG + 13).astype(np.float32)
    b = a.copy()
    cpu.add_scaled_(a[1:], a[:-1], 1.0)  # x is y shifted by one element
    b[1:] += 1.0 * b[:-1]
    assert np.array_equal(a, b)
    cpu.add_scaled_(a, a, -0.5)  # x is y
    b += -0.5 * b
    assert np.array_equal(a, b)


def test_add_scaled_keeps_numpy_s_floating_point_errors():
    y = np.full(BIG, np.finfo(np.float32).max, np.float32)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        cpu.add_scaled_(y, y.copy(), 1.0)


def test_add_scaled_never_writes_into_a_read_only_array():
    y = np.ones(BIG, np.float32)
    y.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        cpu.add_scaled_(y, np.ones(BIG, np.float32), 2.0)
    assert np.all(y == 1.0)


def test_add_scaled_with_alpha_zero_keeps_numpy_s_nan_from_inf():
    y = np.ones(BIG, np.float32)
    x = np.ones(BIG, np.float32)
    x[5] = np.inf
    with np.errstate(invalid="ignore"):
        cpu.add_scaled_(y, x, 0.0)
    assert np.isnan(y[5]) and np.all(np.delete(y, 5) == 1.0)


def test_add_scaled_without_scipy_takes_numpy(monkeypatch):
    pytest.importorskip("scipy")
    assert cpu.blas_axpy_available()
    monkeypatch.setattr(cpu, "_axpy", {})
    assert not cpu.blas_axpy_available()
    y, x = np.ones(BIG, np.float64), np.ones(BIG, np.float64)
    cpu.add_scaled_(y, x, -1.0)
    assert np.all(y == 0.0)


# ---------------------------------------------------------------------- aligned host memory
def _offset(a: np.ndarray) -> int:
    return a.ctypes.data % cpu.ALIGNMENT


@given(data=st.data(), transpose=st.booleans(), copy=st.booleans())
def test_aligned_arrays_start_on_a_64_byte_boundary_with_the_same_values(data, transpose, copy):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    a = data.draw(arrays(shapes(min_dims=0, max_dims=3), dtype=dtype))
    a = a.T if transpose else a
    out = cpu.aligned(a, copy=copy)
    assert _offset(out) == 0 and out.flags.c_contiguous and out.flags.writeable
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)
    if copy:
        assert not np.shares_memory(out, a)


def test_aligned_copies_an_aligned_array_that_is_transposed_or_read_only():
    a = cpu.aligned(np.arange(12.0).reshape(3, 4), copy=True)
    transposed = cpu.aligned(a.T)
    assert transposed.flags.c_contiguous and _offset(transposed) == 0
    np.testing.assert_array_equal(transposed, a.T)
    a.flags.writeable = False
    writeable = cpu.aligned(a)
    assert writeable is not a and writeable.flags.writeable and _offset(writeable) == 0


def test_aligned_keeps_the_shape_and_dtype_of_an_empty_array():
    out = cpu.aligned(np.zeros((0, 5), dtype=np.float32))
    assert out.shape == (0, 5) and out.dtype == np.float32


def test_aligned_returns_an_aligned_array_itself_unless_asked_for_a_copy():
    first = cpu.aligned(np.arange(100.0), copy=True)
    assert cpu.aligned(first) is first
    copied = cpu.aligned(first, copy=True)
    assert copied is not first and not np.shares_memory(copied, first) and _offset(copied) == 0


@pytest.mark.parametrize("offset", [4, 8, 16, 32, 48])
def test_a_misaligned_array_is_copied_to_the_boundary(offset):
    buffer = np.zeros(1000, dtype=np.uint8)
    start = -buffer.ctypes.data % cpu.ALIGNMENT + offset
    a = buffer[start : start + 400].view(np.float32)  # 100 floats, `offset` bytes past it
    a[:] = np.arange(100)
    assert _offset(a) == offset
    out = cpu.aligned(a)
    assert _offset(out) == 0 and not np.shares_memory(out, a)
    np.testing.assert_array_equal(out, np.arange(100))


def test_parameter_memory_aligns_numpy_arrays_and_keeps_other_libraries_arrays():
    misaligned = np.zeros(17)[1:]  # 8 bytes past malloc's (16-byte aligned) start
    assert _offset(backend.parameter_memory(misaligned)) == 0
    pytest.importorskip("array_api_strict")
    x = backend.asarray([1.0, 2.0], device="array_api_strict")
    assert backend.parameter_memory(x) is x
    y = backend.parameter_memory(x, copy=True)
    assert y is not x and backend.to_numpy(y).tolist() == [1.0, 2.0]
