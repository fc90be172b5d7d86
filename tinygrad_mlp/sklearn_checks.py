"""Checks of ``tinygrad_mlp.sklearn.MLPClassifier``'s hyper-parameters and labels: each bad value
raises a ValueError that names the parameter or the labels (scikit-learn checks them at ``fit``)."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

DTYPES = ("float32", "float64")


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int means one layer)."""
    sizes = [value] if isinstance(value, numbers.Integral) else value
    bad = isinstance(value, str | bytes | bool) or not isinstance(sizes, Iterable)
    if not bad:
        sizes = list(sizes)
        bad = any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in sizes)
        bad = bad or any(s < 1 for s in sizes)
    if bad:
        raise ValueError(
            "hidden_layer_sizes must be a positive int or a sequence of positive ints like "
            f"(100,) or (50, 50), got {value!r}"
        )
    return tuple(int(s) for s in sizes)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        hint = "; lbfgs is not supported" if name == "solver" and value == "lbfgs" else ""
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}{hint}")


def _real(
    name: str,
    value: Any,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        raise ValueError(f"{name} must be a finite number in {lo}{low}, {high}{hi}, got {value!r}")


def _integer(name: str, value: Any, what: str = "an int >= 1") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _dtype_name(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    return name


def _encode(y: np.ndarray, classes: np.ndarray, where: str) -> np.ndarray:
    """Indices of ``y`` in ``classes``; ValueError naming labels that are not in it."""
    unseen = np.setdiff1d(y, classes)
    if unseen.size:
        raise ValueError(
            f"y holds labels {unseen[:5].tolist()} that are not in classes_={classes.tolist()} "
            f"({where} keeps the classes of the first fit)"
        )
    return np.searchsorted(classes, y)


def _check_two_classes(classes: np.ndarray) -> None:
    if len(classes) < 2:
        raise ValueError(
            f"MLPClassifier needs samples of at least 2 classes, got 1 class: {classes.tolist()}"
        )


def _batch_size(batch_size: int | str, n: int) -> int:
    if batch_size == "auto":
        return min(200, n)
    if batch_size > n:
        warnings.warn(
            f"batch_size={batch_size} is larger than the {n} training samples; using {n}",
            UserWarning,
            stacklevel=4,
        )
    return min(int(batch_size), n)
