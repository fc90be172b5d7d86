"""The tinygrad_mlp side of the benchmark: the model, the optimizer and one training step.

With ``tinygrad_mlp.nn`` and ``tinygrad_mlp.optim`` installed the step is what a user writes::

    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

with ``nn.MLP`` and ``optim.SGD``. Without them (early in the project) the same step is built from
the raw engine: leaf Tensors, ``F.linear`` + ``F.relu`` and a manual SGD update under ``no_grad``.
``VARIANT`` in the results says which one was measured. With ``nn`` the benchmark also times
the compiled step, ``train.compile_step(model, opt)``, on a second copy of the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend
from .. import functional as F
from ..tensor import Tensor, no_grad
from .reference import Params

ENGINE_VARIANT = "engine: Tensor + F.linear/F.relu + manual SGD under no_grad"
NN_VARIANT = "nn.MLP + optim.SGD"


def nn_optim_available() -> bool:
    """True when ``tinygrad_mlp.nn.MLP`` and ``tinygrad_mlp.optim.SGD`` can be imported."""
    try:
        from .. import nn, optim
    except ImportError:
        return False
    return hasattr(nn, "MLP") and hasattr(optim, "SGD")


class EngineMLP:
    """A ReLU MLP on bare engine Tensors (used while ``nn`` is not there, or when asked)."""

    def __init__(self, params: Params, device: str = "cpu") -> None:
        def leaf(a: np.ndarray) -> Tensor:  # a copy: the SGD update is in place
            return Tensor(
                np.array(a, copy=True), requires_grad=True, dtype=str(a.dtype), device=device
            )

        self.layers = [(leaf(w), leaf(b)) for w, b in params]

    def __call__(self, x: Tensor) -> Tensor:
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            x = F.linear(x, w, b)
            if i < last:
                x = F.relu(x)
        return x

    def parameters(self) -> list[Tensor]:
        return [t for layer in self.layers for t in layer]


class EngineSGD:
    """Plain SGD, ``p -= lr * grad``, written against the engine API."""

    def __init__(self, params: list[Tensor], lr: float) -> None:
        self.params, self.lr = params, float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        with no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.data -= self.lr * p.grad.data


def build(
    params: Params, lr: float, device: str = "cpu", variant: str = "auto"
) -> tuple[Any, Any, str]:
    """``(model, optimizer, variant)`` for the MLP whose initial weights are ``params``.

    ``variant``: "auto" (nn + optim when they exist), "nn" or "engine".
    """
    if variant not in ("auto", "nn", "engine"):
        raise ValueError(f"variant must be 'auto', 'nn' or 'engine', got {variant!r}")
    use_nn = nn_optim_available() if variant == "auto" else variant == "nn"
    if not use_nn:
        model = EngineMLP(params, device)
        return model, EngineSGD(model.parameters(), lr), ENGINE_VARIANT
    from .. import nn, optim

    sizes = [params[0][0].shape[1]] + [w.shape[0] for w, _ in params]
    dtype = backend.dtype_name(params[0][0].dtype)
    model = nn.MLP(sizes, activation="relu", dtype=dtype, device=device)
    flat = [a for layer in params for a in layer]
    names = [name for name, _ in model.named_parameters()]
    if len(names) != len(flat):
        raise RuntimeError(f"nn.MLP{sizes} has {len(names)} parameters, expected {len(flat)}")
    model.load_state_dict(dict(zip(names, flat, strict=True)))
    return model, optim.SGD(model.parameters(), lr=lr), NN_VARIANT


def make_step(model: Any, opt: Any, x: Tensor, y: Tensor) -> Callable[[], None]:
    """One training step on a fixed batch: zero_grad, forward, loss, backward, SGD update."""

    def step() -> None:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def make_compiled_step(model: Any, opt: Any, x: Tensor, y: Tensor) -> Callable[[], None]:
    """The same step through ``train.compile_step(model, opt)`` (no autodiff graph)."""
    from ..train import compile_step

    step = compile_step(model, opt)
    return lambda: step(x, y)


def batch_indices(n: int, batch: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """A shuffled epoch's mini-batch index arrays (the last one may be short)."""
    order = rng.permutation(n)
    for start in range(0, n, batch):
        yield order[start : start + batch]


def tinygrad_batches(
    X: np.ndarray, y: np.ndarray, batch: int, seed: int, device: str
) -> tuple[Callable[[], Iterator[tuple[Tensor, Tensor]]], str]:
    """An epoch iterator factory: ``data.DataLoader`` when it exists, else NumPy indexing."""
    try:
        from ..data import DataLoader
    except ImportError:
        DataLoader = None  # noqa: N806
    if DataLoader is not None:
        loader = DataLoader(X, y, batch_size=batch, shuffle=True, seed=seed, device=device)
        return (lambda: iter(loader)), "data.DataLoader"
    rng = np.random.default_rng(seed)

    def epoch() -> Iterator[tuple[Tensor, Tensor]]:
        for idx in batch_indices(len(X), batch, rng):
            yield Tensor(X[idx], dtype=str(X.dtype), device=device), Tensor(y[idx], device=device)

    return epoch, "numpy indexing (no tinygrad_mlp.data yet)"


def predict(model: Any, X: np.ndarray, device: str, chunk: int = 2048) -> np.ndarray:
    """Predicted classes of ``X`` (host NumPy), evaluated in chunks under ``no_grad``."""
    out = []
    with no_grad():
        for start in range(0, len(X), chunk):
            xb = X[start : start + chunk]
            logits = model(Tensor(xb, dtype=str(xb.dtype), device=device))
            out.append(logits.argmax(axis=1).numpy())
    return np.concatenate(out)


def sizes_of(params: Params) -> Sequence[int]:
    return [params[0][0].shape[1]] + [w.shape[0] for w, _ in params]
