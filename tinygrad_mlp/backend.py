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
device (``device_of``), for moves between devices (``to_device``, ``to_numpy``) and for a
parameter's memory (``parameter_memory``). The NumPy-only fast paths behind it (direct
reductions, BLAS axpy updates, the host memory setting, 64-byte-aligned parameters) live in
``cpu.py``.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

from . import cpu

# re-exported: the optimizers' CPU fast paths (backend.add_scaled_, ...), defined in cpu.py
from .cpu import add_scaled_ as add_scaled_
from .cpu import keep_freed_host_memory as keep_freed_host_memory

DEVICES = ("cpu", "cuda", "array_api_strict")
DEFAULT_DTYPE = "float32"
_FLOAT_NAMES = ("float32", "float64")
_INT_NAMES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")

_modules: dict[str, Any] = {}  # device -> array namespace, filled lazily
_array_types: dict[type, str] = {np.ndarray: "cpu"}
_ufunc_modules: dict[type, Any] = {np.ndarray: np}  # array type -> module whose ufuncs take out=


class DeviceError(RuntimeError):
    """A device was asked for that is not available, or tensors on two devices were mixed."""


_NUMPY = cpu.fast_numpy()


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


def parameter_memory(array: Any, copy: bool = False) -> Any:
    """A parameter's array: NumPy arrays on a 64-byte boundary (``cpu.aligned``; a copy when
    needed or ``copy``), other libraries' arrays as they are (CuPy's pool already aligns them)."""
    if type(array) is np.ndarray:
        return cpu.aligned(array, copy=copy)
    return namespace(array).asarray(array, copy=True) if copy else array


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
