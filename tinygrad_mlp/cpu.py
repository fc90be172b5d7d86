"""The CPU fast paths behind ``backend``: NumPy-only code that makes small and large steps cheaper.

- ``fast_numpy``: NumPy's namespace with ``sum``, ``max`` and ``min`` calling the ufunc
  reductions directly (float sums over one axis of a matrix through BLAS, maxima of short rows
  through a copy); ``backend.namespace`` hands it out for NumPy arrays.
- ``add_scaled_``: ``y += alpha * x`` in one pass (BLAS axpy) for large NumPy arrays; the
  optimizers' parameter update.
- ``keep_freed_host_memory``: glibc's settings that keep a step's freed megabytes for reuse.
- ``aligned``: parameters' host memory on a 64-byte boundary, where NumPy's in-place updates
  run at full speed.

Other array libraries never reach the NumPy-specific branches: ``add_scaled_`` falls back to
``y += alpha * x`` for them. Every number here was measured (benchmarks/README.md: where the
time goes).
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import numpy as np

_LAST_AXIS = {1, -1, (1,), (-1,)}
_FIRST_AXIS = {0, -2, (0,), (-2,)}
_ones_cache: dict[tuple[int, np.dtype], np.ndarray] = {}


def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones (cached up to 65,536 entries: ``_sum_2d`` needs one per
    reduction; longer ones cost nothing next to the sum they serve)."""
    key = (n, dtype)
    ones = _ones_cache.get(key)
    if ones is None:
        ones = np.ones(n, dtype=dtype)
        ones.flags.writeable = False
        if n <= 65_536:
            if len(_ones_cache) >= 64:
                _ones_cache.clear()
            _ones_cache[key] = ones
    return ones


def _sum_2d(a: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray | None:
    """Column sums (``axis=0``) or row sums (``axis=1``) of a C- or F-contiguous float matrix
    ``a`` as one BLAS matrix-vector product with a vector of ones; None for other axes and
    layouts, and for sums along a contiguous axis longer than 128, which NumPy adds pairwise,
    more accurately than BLAS (rows of 4096 float32 values: 3x smaller error). Faster than
    ``np.add.reduce`` (bias gradients of 1024 x 512 float32: 20 us instead of 60 us; row sums of
    128 x 10: 1.6 instead of 3.5 us) and as accurate where it is used: more accurate for column
    sums of a C-ordered matrix, which NumPy adds row by row."""
    if not a.flags.forc:
        return None  # matmul would not reach BLAS
    if axis in _FIRST_AXIS:
        k = 0
    elif axis in _LAST_AXIS:
        k = 1
    else:
        return None
    n = a.shape[k]
    if n > 128 and a.strides[k] == a.itemsize:
        return None
    if k == 0:
        out = np.matmul(_ones(n, a.dtype), a)
        return out[None, :] if keepdims else out
    out = np.matmul(a, _ones(n, a.dtype))
    return out[:, None] if keepdims else out


def _reduce(ufunc: Any, a: Any, axis: Any, keepdims: bool, dtype: Any = None) -> Any:
    """``ufunc.reduce``, with two shortcuts for NumPy matrices:

    - float sums over one axis go through BLAS (``_sum_2d``), from 64 rows (a batch of 32: no
      gain in a measured training step, though a loop over the sum alone shows one);
    - maxima and minima over the last axis of a C-contiguous (N >= 64, C <= 16) matrix go
      through a transposed copy: NumPy reduces each short row in its own inner loop, 3-6x
      slower (1024 x 10 float32 logits: 42 us for the row maxima, 8 us through the copy)."""
    if type(a) is np.ndarray and a.ndim == 2:
        if ufunc is np.add:
            if axis is not None and a.shape[0] >= 64 and dtype is None and a.dtype.char in "fd":
                out = _sum_2d(a, axis, keepdims)
                if out is not None:
                    return out
        elif axis in _LAST_AXIS and a.shape[1] <= 16 and a.shape[0] >= 64 and a.flags.c_contiguous:
            out = ufunc.reduce(a.T.copy(), axis=0, dtype=dtype)
            return out[:, None] if keepdims else out
    return ufunc.reduce(a, axis=axis, dtype=dtype, keepdims=keepdims)


def fast_numpy() -> types.ModuleType:
    """NumPy's namespace, except that ``sum``, ``max`` and ``min`` call the ufunc reductions
    directly. ``np.sum(a)`` costs about 2 us of Python dispatch before the same
    ``np.add.reduce(a)`` call, and an MLP step on small layers does a dozen of them; float sums
    over one axis of a matrix go through BLAS and maxima of short rows through a copy
    (``_reduce``). Results, dtypes (small integers accumulate in int64/uint64) and errors are
    NumPy's own; float sums may differ from ``np.sum`` in the last bits (another summation
    order, as accurate: see ``_sum_2d``)."""
    fast = types.ModuleType("numpy", doc=np.__doc__)
    fast.__dict__.update(np.__dict__)

    def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001
        return _reduce(np.add, a, axis, keepdims, dtype)

    def max(a, axis=None, keepdims=False):  # noqa: A001
        return _reduce(np.maximum, a, axis, keepdims)

    def min(a, axis=None, keepdims=False):  # noqa: A001
        return _reduce(np.minimum, a, axis, keepdims)

    fast.sum, fast.max, fast.min = sum, max, min
    return fast


_axpy: dict[np.dtype, Any] | None = None  # dtype -> SciPy's BLAS axpy, filled on first use


def _load_axpy() -> dict[np.dtype, Any]:
    global _axpy
    try:
        from scipy.linalg import blas
    except ImportError:
        _axpy = {}
    else:
        _axpy = {np.dtype(np.float32): blas.saxpy, np.dtype(np.float64): blas.daxpy}
    return _axpy


def blas_axpy_available() -> bool:
    """Whether ``add_scaled_`` can use BLAS axpy (SciPy is installed); the benchmark records it."""
    return bool(_axpy if _axpy is not None else _load_axpy())


_AXPY_MIN_SIZE = 16384  # smaller updates take NumPy's two passes (benchmarks/README.md)
_AXPY_CHUNK = 10_000  # elements per BLAS call: OpenBLAS runs axpy on one thread up to 10,000,
# and its threads would fight NumPy's own OpenBLAS threads for the cores (10x slower steps)


def add_scaled_(y: Any, x: Any, alpha: float) -> None:
    """``y += alpha * x`` in place: the optimizers' parameter update.

    NumPy computes that in two passes through a temporary; BLAS ``axpy`` does it in one, faster
    on large weights (the 784-512-128-64-10 update: 208-216 us against NumPy's 279 us with the
    weights on a 64-byte boundary, 311-315 us off it) and at the same speed wherever the weight
    sits (``aligned``). So ``_blas_ok`` arrays (NumPy float32/float64 of one
    dtype and shape, ``_AXPY_MIN_SIZE`` elements or more, C-contiguous, not overlapping) go
    through SciPy's BLAS when SciPy is installed; anything else takes ``y += alpha * x``. The BLAS
    result may differ from NumPy's in the last bit (it fuses the multiply-add), and it emits no
    NumPy floating-point warnings (under ``np.errstate(over/invalid="raise")`` NumPy runs).
    """
    if type(y) is np.ndarray and type(x) is np.ndarray and y.size >= _AXPY_MIN_SIZE:
        routine = (_axpy if _axpy is not None else _load_axpy()).get(y.dtype)
        if routine is not None and _blas_ok(y, x, alpha):
            flat, xs = y.reshape(-1), x.reshape(-1)  # views: flat is updated in place
            n = flat.shape[0]
            for start in range(0, n, _AXPY_CHUNK):
                stop = min(start + _AXPY_CHUNK, n)
                ys = flat[start:stop]
                out = routine(xs[start:stop], ys, stop - start, alpha)
                if out is not ys:  # f2py made a copy after all: keep its result
                    ys[...] = out
            return
    if alpha == 1:
        y += x
    else:
        y += alpha * x


def _blas_ok(y: np.ndarray, x: np.ndarray, alpha: float) -> bool:
    """Whether BLAS axpy computes ``y += alpha * x`` exactly as NumPy would (up to rounding)."""
    if alpha == 0 or x.dtype != y.dtype or x.shape != y.shape:
        return False  # BLAS skips a = 0 (NumPy keeps 0 * inf = nan)
    if not (y.flags.carray and x.flags.c_contiguous and x.flags.aligned):
        return False  # f2py would write into a read-only y, and copy a strided one
    if np.may_share_memory(x, y):
        return False  # overlapping: BLAS reads values it has already overwritten
    errors = np.geterr()
    return "raise" not in (errors["over"], errors["invalid"])


# ---------------------------------------------------------------------- host memory
ALIGNMENT = 64  # bytes: one cache line and one AVX-512 register; PyTorch's CPU tensors use it too


def aligned(a: np.ndarray, copy: bool = False) -> np.ndarray:
    """``a``'s values in a writeable C-ordered array starting on a 64-byte boundary: ``a`` itself
    when it is one (and ``copy`` is False), else a copy in a slightly larger buffer (the result's
    ``base``). An empty result may start anywhere (NumPy does not move an empty slice's pointer).

    NumPy's own buffers start wherever ``malloc`` puts them, on a 16-byte boundary. NumPy's
    in-place update of a parameter off the 64-byte boundary (``W -= lr * dW``) ran up to 2.5x
    slower inside a training step (784-50-10, float64, batch 128: 117 us against 46 us for the
    hand-written update; benchmarks/README.md, "memory alignment"), and where ``malloc`` puts a
    parameter is luck, so step times varied from one process to the next. Parameters
    (``Tensor(..., requires_grad=True)``, ``nn.Parameter``, ``zeros``/``ones`` with
    ``requires_grad``, their copies by ``.to`` and ``Module.to``, unpickled and deep-copied ones)
    are therefore aligned; ``requires_grad_()`` leaves an existing array where it is. Large
    updates here go through BLAS axpy (``add_scaled_``), which was as fast either way; the small
    ones through NumPy gained up to 7% of a step (64-64-16-10, batch 128).
    """
    if not copy and a.flags.c_contiguous and a.flags.writeable and a.ctypes.data % ALIGNMENT == 0:
        return a
    buffer = np.empty(a.nbytes + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    out = buffer[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    np.copyto(out, a, casting="no")
    return out


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
_host_memory: dict[str, Any] = {}


def keep_freed_host_memory(trim_mib: int = 64, mmap_mib: int = 32) -> bool:
    """Ask glibc to keep up to ``trim_mib`` MiB of freed memory for reuse (once per process).

    A training step frees and re-allocates the same megabyte-sized arrays every time. By default
    glibc hands such memory back to the kernel and takes it again on the next step, paying a page
    fault per 4 KiB: about 10% of a 784-512-128-64-10 step at batch 1024 in float64 (2,162
    faults a step). CuPy's and PyTorch's GPU allocators keep a pool for the same reason. This
    sets ``M_MMAP_THRESHOLD`` (arrays up to ``mmap_mib`` come from the heap) and
    ``M_TRIM_THRESHOLD`` (the heap shrinks only past ``trim_mib`` of free memory at its top).
    Optimizers call it when they are created; ``TINYGRAD_MLP_KEEP_FREED_MEMORY=0`` turns it off.
    Returns True when the settings were applied (glibc on Linux), False elsewhere.
    """
    if not (0 < trim_mib < 2048 and 0 < mmap_mib < 2048):  # mallopt takes a C int of bytes
        raise ValueError(f"trim_mib and mmap_mib must be in [1, 2047], got {trim_mib}, {mmap_mib}")
    if "applied" in _host_memory:  # once per process: the first call's settings stay
        return _host_memory["applied"]
    applied = False
    if os.environ.get("TINYGRAD_MLP_KEEP_FREED_MEMORY", "1") != "0" and sys.platform == "linux":
        try:
            import ctypes

            mallopt = ctypes.CDLL(None).mallopt  # glibc only (musl has no mallopt)
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            applied = bool(mallopt(_M_MMAP_THRESHOLD, mmap_mib << 20)) and bool(
                mallopt(_M_TRIM_THRESHOLD, trim_mib << 20)
            )
        except (ImportError, OSError, AttributeError):
            applied = False
    _host_memory["applied"] = applied
    return applied
