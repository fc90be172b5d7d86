"""The one module that knows which array library holds a tensor's data.

Devices
-------
``"cpu"``
    NumPy arrays (always available).
``"cuda"``
    CuPy arrays. CuPy is imported lazily, the first time ``"cuda"`` is asked for; without it
    (or without a GPU) everything on the CPU keeps working and asking for ``"cuda"`` raises a
    :class:`DeviceError` that says what to install.
``"array_api_strict"``
    Arrays of the `array-api-strict` reference library (``pip install array-api-strict``). It has
    no speed and no GPU; the test suite runs every op on it to prove that the engine only uses the
    standard array API (so the same code runs on CuPy) and never calls NumPy on tensor data.

Everything else in the package asks this module for an array's namespace (``namespace``), its
device (``device_of``) and for moves between devices (``to_device``, ``to_numpy``).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import types
from typing import Any

import numpy as np

DEVICES = ("cpu", "cuda", "array_api_strict")
DEFAULT_DTYPE = "float32"
_FLOAT_NAMES = ("float32", "float64")
_INT_NAMES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")

_modules: dict[str, Any] = {}  # device -> array namespace, filled lazily
_array_types: dict[type, str] = {np.ndarray: "cpu"}
_ufunc_modules: dict[type, Any] = {np.ndarray: np}  # array type -> module whose ufuncs take out=


class DeviceError(RuntimeError):
    """A device was asked for that is not available, or tensors on two devices were mixed."""


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


def _fast_numpy() -> types.ModuleType:
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


_NUMPY = _fast_numpy()


def _load(device: str) -> Any:
    """Import (once) and return the array namespace serving ``device``."""
    if device in _modules:
        return _modules[device]
    if device == "cpu":
        xp = _NUMPY
    elif device == "cuda":
        xp = _load_cupy()
    elif device == "array_api_strict":
        try:
            xp = importlib.import_module("array_api_strict")
        except ImportError as exc:
            raise DeviceError(
                "device 'array_api_strict' needs the array-api-strict package: "
                "pip install array-api-strict"
            ) from exc
        _array_types[xp.asarray(0.0).__class__] = device
    else:
        raise DeviceError(f"unknown device {device!r}; expected one of {DEVICES}")
    _modules[device] = xp
    return xp


def _load_cupy() -> Any:
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise DeviceError(
            "device 'cuda' needs CuPy and an NVIDIA GPU: pip install 'tinygrad_mlp[cuda12]' "
            "(or [cuda13] for CUDA 13), then check that cupy.cuda.runtime.getDeviceCount() > 0"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise DeviceError(f"CuPy is installed but no CUDA GPU is usable: {exc}") from exc
    if count < 1:
        raise DeviceError("CuPy is installed but no CUDA GPU was found")
    _array_types[cupy.ndarray] = "cuda"
    _ufunc_modules[cupy.ndarray] = cupy
    try:  # the standard-conforming wrapper (permute_dims, astype, ...) where CuPy lacks names
        return importlib.import_module("array_api_compat.cupy")
    except ImportError:
        return cupy


def normalize_device(device: str | None) -> str:
    """Map ``None``/``"cuda:0"``/``"gpu"`` style names onto one of :data:`DEVICES`."""
    if device is None:
        return "cpu"
    name = str(device).lower()
    if name.startswith("cuda") or name == "gpu":
        return "cuda"
    if name in DEVICES:
        return name
    raise DeviceError(f"unknown device {device!r}; expected one of {DEVICES}")


def is_available(device: str) -> bool:
    """True when ``device`` can be used on this machine (never raises)."""
    try:
        _load(normalize_device(device))
    except DeviceError:
        return False
    return True


def available_devices() -> list[str]:
    """The devices usable here, ``"cpu"`` first."""
    return [d for d in DEVICES if is_available(d)]


def namespace_for(device: str) -> Any:
    """The array namespace (module) of ``device``."""
    return _load(device)


def device_of(array: Any) -> str:
    """The device an array lives on; raises TypeError for anything that is not an array."""
    device = _array_types.get(type(array))
    if device is None and isinstance(array, np.ndarray):  # subclasses, e.g. np.memmap (joblib)
        return "cpu"
    if device is None:
        raise TypeError(f"expected an array of a known backend, got {type(array).__name__}")
    return device


def namespace(array: Any) -> Any:
    """The array namespace of ``array`` (``numpy``, CuPy's, or ``array_api_strict``)."""
    if type(array) is np.ndarray:
        return _NUMPY
    return _load(device_of(array))


def ufuncs(array: Any) -> Any:
    """NumPy or CuPy itself when ``array`` is theirs (ufuncs with ``out=``, bool times float
    without a cast), for in-place work on an op's own temporaries; None for array-api-strict."""
    return _ufunc_modules.get(type(array))


_AS_UNSIGNED = {np.dtype(f"int{b}"): np.dtype(f"uint{b}") for b in (8, 16, 32, 64)}


def unsigned_view(array: Any) -> Any:
    """A NumPy or CuPy integer array of native byte order viewed as unsigned integers of the
    same size (no copy: -1 reads as the largest value); None for anything else (other dtypes,
    byte-swapped integers, array-api-strict)."""
    if type(array) not in _ufunc_modules:
        return None
    if array.dtype.kind == "u":
        return array
    unsigned = _AS_UNSIGNED.get(array.dtype)  # None for byte-swapped dtypes such as ">i8"
    return None if unsigned is None else array.view(unsigned)


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


_AXPY_MIN_SIZE = 16384  # smaller updates take NumPy's two passes (README: where the time goes)
_AXPY_CHUNK = 10_000  # elements per BLAS call: OpenBLAS runs axpy on one thread up to 10,000,
# and its threads would fight NumPy's own OpenBLAS threads for the cores (10x slower steps)


def add_scaled_(y: Any, x: Any, alpha: float) -> None:
    """``y += alpha * x`` in place: the optimizers' parameter update.

    NumPy computes that in two passes through a temporary; BLAS ``axpy`` does it in one, about
    2x faster on a large weight matrix. So ``_blas_ok`` arrays (NumPy float32/float64 of one
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


_SCRATCH_MIN_SIZE = 16384  # smaller temporaries are cheaper to allocate than to reuse


def scratch(tmp: Any, like: Any) -> dict[str, Any]:
    """``{"out": tmp}`` when the caller's next elementwise results may go into its temporary
    ``tmp`` instead of new arrays: NumPy or CuPy, ``tmp`` C-contiguous (as a new result would be:
    a column-major ``tmp``, from the gradient of a weight used as ``x @ W.T``, would make the
    results column-major and keep them from BLAS axpy), of ``like``'s shape and dtype and of
    ``_SCRATCH_MIN_SIZE`` elements or more (where skipping an allocation pays); ``{}`` otherwise
    (small arrays, array-api-strict, mixed dtypes). Use as ``d = xp.sqrt(v, **out)`` and always
    go on with the result ``d``: it is ``tmp`` itself or a new array. (``xp`` of CuPy arrays is
    ``array_api_compat.cupy``, whose elementwise functions are CuPy's own ufuncs.)"""
    if (
        tmp.size >= _SCRATCH_MIN_SIZE
        and type(tmp) in _ufunc_modules
        and tmp.flags.c_contiguous
        and tmp.dtype == like.dtype
        and tmp.shape == like.shape
    ):
        return {"out": tmp}
    return {}


def is_array(obj: Any) -> bool:
    """True for an array of any backend that has been loaded (NumPy subclasses included)."""
    return type(obj) in _array_types or isinstance(obj, np.ndarray)


def as_array(value: Any) -> Any:
    """``value`` itself, except that NumPy scalars (what NumPy reductions return) become 0-d
    arrays, so every result is an array of a known backend."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def to_numpy(array: Any) -> np.ndarray:
    """A host NumPy array holding ``array``'s values (a copy unless it already is NumPy)."""
    if type(array) is np.ndarray:
        return array
    device = device_of(array)
    if device == "cuda":
        return array.get()
    return np.from_dlpack(array)


def resolve_dtype(dtype: Any, device: str) -> Any:
    """Turn ``"float32"``, ``np.float64``, a backend dtype or ``None`` into ``device``'s dtype."""
    xp = _load(device)
    if dtype is None:
        dtype = DEFAULT_DTYPE
    name = dtype if isinstance(dtype, str) else getattr(dtype, "__name__", None)  # np.float32
    name = name or dtype_name(dtype)  # np.dtype("f4"), any backend's dtype object
    name = str(np.dtype(name)) if name not in _FLOAT_NAMES + _INT_NAMES + ("bool",) else name
    if name not in _FLOAT_NAMES + _INT_NAMES + ("bool",):
        raise TypeError(f"unsupported dtype {dtype!r}; use float32, float64, an int or bool type")
    return getattr(xp, name)


_dtype_names: dict[Any, str] = {}


def dtype_name(dtype: Any) -> str:
    """``"float32"`` etc. for a dtype of any backend (cached: it is on every op's path)."""
    key = (type(dtype), dtype)  # the type first: never compare dtypes of two libraries
    try:
        return _dtype_names[key]
    except (KeyError, TypeError):
        pass
    name = getattr(dtype, "name", None) or getattr(dtype, "_canonical_name", None)
    name = str(name) if name is not None else str(np.dtype(dtype))
    try:
        _dtype_names[key] = name
    except TypeError:  # an unhashable dtype object
        pass
    return name


def is_floating(dtype: Any) -> bool:
    """True for float32 / float64 of any backend."""
    return dtype_name(dtype) in _FLOAT_NAMES


def asarray(data: Any, dtype: Any = None, device: str = "cpu") -> Any:
    """Convert nested lists, scalars, NumPy or other-device arrays into an array on ``device``.

    ``dtype=None``: arrays keep their dtype (float32, float64, integer, bool; float16 becomes
    float32); Python numbers and nested lists of floats become float32, the framework's default.
    """
    xp = _load(device)
    if is_array(data) and device_of(data) != device:
        data = to_numpy(data)
    if dtype is None:
        if is_array(data) or isinstance(data, np.ndarray | np.generic):
            name = dtype_name(data.dtype)  # arrays keep float32/float64, ints and bool
        else:
            kind = np.asarray(data).dtype.kind
            name = "int64" if kind in "iu" else "bool" if kind == "b" else DEFAULT_DTYPE
        dtype = name if name in _FLOAT_NAMES + _INT_NAMES + ("bool",) else DEFAULT_DTYPE
    target = resolve_dtype(dtype, device)
    if type(data) is np.ndarray and device == "cpu":
        return data if data.dtype == target else data.astype(target)
    if device == "array_api_strict" and isinstance(data, np.ndarray | np.generic):
        data = np.asarray(data).tolist() if np.asarray(data).size < 2 else np.asarray(data)
    return xp.asarray(data, dtype=target)


def to_device(array: Any, device: str) -> Any:
    """``array`` moved to ``device`` (the same object when it is already there)."""
    device = normalize_device(device)
    if device_of(array) == device:
        return array
    return asarray(to_numpy(array), dtype=dtype_name(array.dtype), device=device)


def generator(seed: int | None = None, device: str = "cpu") -> Any:
    """A seeded random generator for ``device`` (NumPy's PCG64 on the host, CuPy's on a GPU)."""
    if device == "cuda":
        _load("cuda")
        return importlib.import_module("cupy").random.default_rng(seed)
    return np.random.default_rng(seed)


_RAW64 = (np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64)  # MT19937: 32


def random_keep(rng: Any, shape: tuple[int, ...], p: float, device: str) -> Any:
    """Booleans of ``shape`` on ``device``, each True with probability ``1 - p`` (the units
    dropout keeps), drawn from ``rng`` (see ``generator``).

    On the host every value takes 32 random bits straight from the bit generator
    (``random_raw``: two values per 64-bit draw), kept when they read >= ``round(p * 2**32)``:
    half the time of uniform floats (128 x 512: 53 us against 111 us; with dropout 0.5 the
    784-512-128-64-10 training step took 0.94x its old time at batch 1024, 0.96-0.99x at 128:
    ``benchmarks/ab/dropout_mask.py``), on a finer probability grid (2**-32; float32 uniforms
    have 2**-24). NumPy's float32 uniforms are the top 24 of the same 32 bits, so a mask equals
    ``rng.random(shape, float32) >= p`` from the same generator state except for draws within
    2**-24 of ``p`` (the streams part after a mask of an odd size: NumPy keeps the unused half
    of the last draw for its next float32). Bit generators whose ``random_raw`` gives fewer
    than 64 bits (MT19937), and CuPy's, take float32 uniforms."""
    if device == "cuda":
        return rng.random(shape, dtype=np.float32) >= p
    if isinstance(rng.bit_generator, _RAW64):
        n = math.prod(shape)
        bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(shape)
        keep = np.asarray(bits >= round(p * 2.0**32))  # asarray: a 0-d result is a scalar
    else:
        keep = np.asarray(rng.random(shape, dtype=np.float32) >= p)
    return keep if device == "cpu" else asarray(keep, device=device)


def synchronize(device: str) -> None:
    """Wait for queued GPU work (a no-op on the CPU); needed for honest timings."""
    if device == "cuda":
        importlib.import_module("cupy").cuda.Device().synchronize()


# ---------------------------------------------------------------------- host memory
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
