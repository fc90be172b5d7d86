"""Epoch time and test accuracy on Fashion-MNIST (or synthetic data of the same shape).

tinygrad_mlp runs twice: with the eager step and with ``train.compile_step`` (same arithmetic,
so the same accuracy).

All implementations start from the same weights (``reference.init_params``), use the same
architecture, plain SGD (no momentum, no weight decay) with the same learning rate and batch size,
and are timed epoch by epoch, round-robin (epoch e of every implementation before epoch e + 1).
scikit-learn's ``MLPClassifier`` cannot take given weights: it starts from its own (Glorot) init.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from . import harness, impls
from .reference import NumpyMLP, init_params

N_CLASSES = 10


def synthetic_fashion(n_train: int = 60000, n_test: int = 10000, seed: int = 0) -> tuple:
    """Learnable stand-in data shaped like Fashion-MNIST: uint8 (N, 784) and int64 labels.

    Every class has two prototype images; a sample is a random mix of its class's prototypes
    plus strong pixel noise, so a linear model does not reach 100% and an MLP has work to do.
    """
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0.0, 255.0, size=(N_CLASSES, 2, 784)).astype(np.float32)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, N_CLASSES, size=n)
        mix = rng.uniform(0.0, 1.0, size=(n, 1)).astype(np.float32)
        images = mix * protos[labels, 0] + (1.0 - mix) * protos[labels, 1]
        images += rng.standard_normal((n, 784), dtype=np.float32) * 160.0
        return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return x_train, y_train, x_test, y_test


def load_data(subset: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Fashion-MNIST via ``tinygrad_mlp.data.load_fashion_mnist`` if possible, else synthetic.

    Images are scaled to float32 in [0, 1]. ``subset`` keeps the first ``subset`` training rows
    (and a sixth as many test rows). ``source`` and ``note`` in the result say what was used.
    """
    try:
        from ..data import load_fashion_mnist

        x_train, y_train, x_test, y_test = load_fashion_mnist()
        source, note = "fashion-mnist", "tinygrad_mlp.data.load_fashion_mnist()"
    except ImportError:
        source, note = "synthetic", "tinygrad_mlp.data.load_fashion_mnist does not exist yet"
    except Exception as exc:  # files missing or unreadable: say so, carry on with synthetic
        source, note = "synthetic", f"load_fashion_mnist failed: {type(exc).__name__}: {exc}"
    if source == "synthetic":
        n_train = 60000 if subset is None else subset
        x_train, y_train, x_test, y_test = synthetic_fashion(n_train, n_train // 6, seed=seed)
    if subset is not None:
        x_train, y_train = x_train[:subset], y_train[:subset]
        x_test, y_test = x_test[: max(subset // 6, 1)], y_test[: max(subset // 6, 1)]

    def scale(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32).reshape(len(x), -1) / np.float32(255.0)

    return {
        "X_train": scale(x_train),
        "y_train": np.asarray(y_train, dtype=np.int64),
        "X_test": scale(x_test),
        "y_test": np.asarray(y_test, dtype=np.int64),
        "source": source,
        "note": note,
    }


def _tinygrad_runner(
    data: dict, sizes, batch: int, lr: float, seed: int, device: str, compiled: bool = False
):
    """tinygrad_mlp's epoch: the eager step, or (``compiled``) ``train.compile_step``'s."""
    params = init_params(sizes, seed=seed, dtype="float32")
    model, opt, variant = impls.build(params, lr, device)
    epoch_iter, loader = impls.tinygrad_batches(
        data["X_train"], data["y_train"], batch, seed, device
    )
    if compiled:
        from ..train import compile_step

        step, variant = compile_step(model, opt), f"train.compile_step({variant})"
    else:
        step = _eager_step(model, opt)

    def epoch() -> None:
        for xb, yb in epoch_iter():
            step(xb, yb)
        backend.synchronize(device)

    def accuracy() -> float:
        return float(np.mean(impls.predict(model, data["X_test"], device) == data["y_test"]))

    return epoch, accuracy, {"variant": variant, "batching": loader}


def _eager_step(model: Any, opt: Any):
    from .. import functional as F

    def step(xb: Any, yb: Any) -> None:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

    return step


def _reference_runner(data: dict, sizes, batch: int, lr: float, seed: int):
    net = NumpyMLP(init_params(sizes, seed=seed, dtype="float32"), lr=lr)
    rng = np.random.default_rng(seed)
    X, y = data["X_train"], data["y_train"]

    def epoch() -> None:
        for idx in impls.batch_indices(len(X), batch, rng):
            net.step(X[idx], y[idx])

    def accuracy() -> float:
        return float(np.mean(net.predict(data["X_test"]) == data["y_test"]))

    return epoch, accuracy, {"batching": "numpy indexing"}


def _sklearn_runner(data: dict, sizes, batch: int, lr: float, seed: int):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=batch,
        learning_rate="constant",
        learning_rate_init=lr,
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=True,
        random_state=seed,
    )
    classes = np.arange(N_CLASSES)

    def epoch() -> None:
        clf.partial_fit(data["X_train"], data["y_train"], classes=classes)

    def accuracy() -> float:
        return float(clf.score(data["X_test"], data["y_test"]))

    def info() -> dict[str, Any]:
        dtype = str(clf.coefs_[0].dtype) if hasattr(clf, "coefs_") else None
        return {
            "solver": "sgd (momentum 0, alpha 0) via partial_fit",
            "weights_dtype": dtype,
            "init": "scikit-learn's own (Glorot uniform)",
        }

    return epoch, accuracy, info


def run_epochs(
    data: dict,
    sizes,
    batch: int,
    lr: float,
    epochs: int,
    seed: int = 0,
    device: str = "cpu",
    sklearn: bool = True,
) -> dict[str, Any]:
    """Train every implementation for ``epochs`` epochs, round-robin; times and test accuracy."""
    runners: dict[str, Any] = {
        "tinygrad": _tinygrad_runner(data, sizes, batch, lr, seed, device),
    }
    if impls.nn_optim_available():
        runners["tinygrad_compiled"] = _tinygrad_runner(
            data, sizes, batch, lr, seed, device, compiled=True
        )
    if device == "cpu":
        runners["numpy_reference"] = _reference_runner(data, sizes, batch, lr, seed)
    notes: dict[str, str] = {}
    if sklearn and device == "cpu":
        try:
            runners["sklearn"] = _sklearn_runner(data, sizes, batch, lr, seed)
        except ImportError as exc:
            notes["sklearn"] = f"not measured: {exc}"
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for e in range(epochs):
        k = e % len(names)
        for name in names[k:] + names[:k]:
            start = harness.clock()
            runners[name][0]()
            times[name].append(harness.clock() - start)
    results = []
    for name, (_, accuracy, info) in runners.items():
        extra = info() if callable(info) else info
        results.append(
            {
                "impl": name,
                "device": device,
                "epoch_times_s": times[name],
                "median_epoch_s": float(np.median(times[name])),
                "test_accuracy": accuracy(),
                **extra,
            }
        )
    return {"results": results, "notes": notes}
