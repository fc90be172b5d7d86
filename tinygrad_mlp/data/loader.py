"""Mini-batches (``DataLoader``) and a stratified train/validation split (``train_val_split``).

The loader moves the whole data set to its device once, when it is built; every batch is then
cut out on the device with the array namespace (``xp.take`` for shuffled batches, a slice
otherwise), so an epoch on a GPU copies nothing from the host but one index vector. The order is
drawn on the host from a seeded NumPy generator: the same seed gives the same batches on every
device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor

ArrayLike = Any


class DataLoader:
    """Iterate over ``(xb, yb)`` mini-batches of ``X`` and ``y`` as Tensors on ``device``.

    ``xb`` is float32 (or ``dtype``); integer labels become int64; float targets take ``xb``'s
    dtype. With ``y=None`` the loader yields ``xb`` alone. ``shuffle=True`` draws a new order every
    epoch from a generator seeded with ``seed`` (the same seed gives the same sequence of epochs).
    ``len(loader)`` is the number of batches per epoch; ``drop_last=True`` leaves out a last,
    smaller batch. Values are converted, not rescaled: map uint8 images to [0, 1] first
    (``data.scale_images``).

    >>> loader = DataLoader(np.zeros((10, 3)), np.arange(10), batch_size=4, seed=0)
    >>> len(loader), [tuple(xb.shape) for xb, yb in loader]
    (3, [(4, 3), (4, 3), (2, 3)])
    """

    def __init__(
        self,
        X: ArrayLike,
        y: ArrayLike | None = None,
        batch_size: int = 32,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int | None = None,
        device: str = "cpu",
        dtype: Any = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = backend.normalize_device(device)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.num_samples = _check_length(X, "X")
        if y is not None:
            _check_same_length(self.num_samples, _check_length(y, "y"))
        if self.drop_last and self.num_samples < self.batch_size:
            raise ValueError(
                f"drop_last=True with batch_size={self.batch_size} and only {self.num_samples} "
                "samples would yield no batch at all"
            )
        self.dtype = backend.resolve_dtype(dtype, self.device)
        self._X = _to_device(X, self.dtype, self.device)
        self._y = None if y is None else _to_device(y, self._target_dtype(y), self.device)
        self._xp = backend.namespace_for(self.device)
        self._rng = np.random.default_rng(seed)

    def _target_dtype(self, y: ArrayLike) -> Any:
        """int64 for integer labels, else the dtype of ``xb`` (float targets, 0/1 bools)."""
        kind = np.dtype(backend.dtype_name(_dtype_of(y))).kind
        return backend.resolve_dtype("int64", self.device) if kind in "iu" else self.dtype

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n, bs = self.num_samples, self.batch_size
        order = None
        if self.shuffle:
            order = backend.asarray(self._rng.permutation(n).astype(np.int64), device=self.device)
        for start in range(0, len(self) * bs, bs):
            stop = min(start + bs, n)
            if order is None:
                rows = (slice(start, stop), ...)  # the array API wants every axis indexed
                batch = [self._X[rows]] + ([] if self._y is None else [self._y[rows]])
            else:
                index = order[start:stop]
                batch = [self._xp.take(self._X, index, axis=0)]
                if self._y is not None:
                    batch.append(self._xp.take(self._y, index, axis=0))
            tensors = [Tensor._make(b, False, None) for b in batch]  # already on device
            yield tensors[0] if self._y is None else tuple(tensors)

    def __repr__(self) -> str:
        return (
            f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, device={self.device!r}, "
            f"dtype={backend.dtype_name(self.dtype)}, targets={self._y is not None})"
        )


def _dtype_of(a: ArrayLike) -> Any:
    return a.dtype if isinstance(a, Tensor) or backend.is_array(a) else np.asarray(a).dtype


def _check_length(a: ArrayLike, name: str) -> int:
    """The number of samples (first dimension) of ``a``; rejects 0-d and empty arrays."""
    shape = tuple(a.shape) if hasattr(a, "shape") else np.shape(a)
    if len(shape) < 1:
        raise ValueError(f"{name} must have at least one dimension (samples first), got 0-d")
    if shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {shape}): there is nothing to load")
    return int(shape[0])


def _check_same_length(n_x: int, n_y: int) -> None:
    if n_x != n_y:
        raise ValueError(f"X and y must have the same length: X has {n_x} samples, y has {n_y}")


def _to_device(a: ArrayLike, dtype: Any, device: str) -> Any:
    """``a`` (array, Tensor or array-like) as an array of ``dtype`` on ``device``, moved once."""
    if isinstance(a, Tensor):
        a = a.data
    if backend.is_array(a) and backend.device_of(a) == device:
        return a if a.dtype == dtype else backend.namespace(a).astype(a, dtype)
    if backend.is_array(a):
        a = backend.to_numpy(a)
    return backend.asarray(np.asarray(a), dtype=backend.dtype_name(dtype), device=device)


# ---------------------------------------------------------------------- splitting
def train_val_split(
    X: ArrayLike,
    y: ArrayLike | None,
    val_fraction: float = 0.2,
    stratify: bool = True,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Split ``X`` and ``y`` into ``(X_train, X_val, y_train, y_val)`` (NumPy arrays).

    The validation part has ``round(n * val_fraction)`` samples (at least 1, at most n - 1),
    except as follows. When ``y`` holds integer labels and ``stratify`` is true, each class gives
    ``floor`` or ``ceil`` of ``count * val_fraction`` of its samples to the validation part, so
    every class is proportionally represented, and every class with two or more samples appears
    in both parts (which may move the validation size off the target by a sample per such
    class); see :func:`class_val_counts`. ``val_fraction`` counts as the decimal it prints as
    (0.9 is 9/10). Samples keep their original order inside each part.
    Deterministic for a given ``seed``.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float | np.floating):
        raise TypeError(f"val_fraction must be a number, got {type(val_fraction).__name__}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction}")
    X = _host(X)
    n = _check_length(X, "X")
    y = None if y is None else _host(y)
    if y is not None:
        _check_same_length(n, _check_length(y, "y"))
    if n < 2:
        raise ValueError(f"splitting needs at least 2 samples, X has {n}")
    frac = Fraction(repr(float(val_fraction)))  # 0.9 means 9/10, not the nearest binary float
    n_val = min(max(round(n * frac), 1), n - 1)
    rng = np.random.default_rng(seed)
    if stratify and y is not None and y.ndim == 1 and y.dtype.kind in "iub":
        val = _stratified_val_indices(y, frac, n_val, rng)
    else:
        val = rng.permutation(n)[:n_val]
    is_val = np.zeros(n, dtype=bool)
    is_val[val] = True
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    y_train = None if y is None else y[train_idx]
    y_val = None if y is None else y[val_idx]
    return X[train_idx], X[val_idx], y_train, y_val


def _host(a: ArrayLike) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.numpy()
    return backend.to_numpy(a) if backend.is_array(a) else np.asarray(a)


def class_val_counts(counts: np.ndarray, frac: Fraction, n_val: int) -> np.ndarray:
    """How many samples of each class (``counts``) go to the validation part.

    Every class gives ``floor(q)`` or ``ceil(q)`` samples, ``q = count * frac``. A class of 2+
    samples is rounded up when ``floor(q)`` is 0 and down when ``ceil(q)`` is all of it, so that
    it appears in both parts; the other classes share the places left to reach ``n_val`` (by
    largest remainder, single-sample classes last).
    """
    quotas = [int(c) * frac for c in counts]
    take = np.array([math.floor(q) for q in quotas], dtype=np.int64)
    free = []
    for k, (c, q) in enumerate(zip(counts, quotas, strict=True)):
        if q == take[k]:
            continue
        if c >= 2 and take[k] == 0:
            take[k] = 1  # would be missing from the validation part
        elif not (c >= 2 and take[k] + 1 == c):  # rounding up would empty its training part
            free.append(k)
    free.sort(key=lambda k: (counts[k] >= 2, quotas[k] - take[k]), reverse=True)
    for k in free[: max(n_val - int(take.sum()), 0)]:
        take[k] += 1
    return take


def _stratified_val_indices(
    y: np.ndarray, frac: Fraction, n_val: int, rng: np.random.Generator
) -> np.ndarray:
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    take = class_val_counts(counts, frac, n_val)
    members = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = [
        rng.permutation(members[s : s + c])[:t]
        for s, c, t in zip(starts, counts, take, strict=True)
    ]
    return np.concatenate(chosen)
