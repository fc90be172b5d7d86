"""The classic from-scratch NumPy MLP, and the step's matrix products alone (the "GEMM floor").

``NumpyMLP`` is what a careful person writes by hand: ReLU hidden layers, a softmax
cross-entropy head, backprop written out layer by layer and a plain SGD update, in place where
that is natural (bias add, ReLU, softmax, the update) but with no tricks beyond that. It is the
floor a NumPy-based framework can reach for the same network, and the benchmark's yardstick.
Its gradients are tested against tinygrad_mlp's to 1e-10 in float64 (``tests/test_bench.py``).

Layout follows PyTorch and ``tinygrad_mlp.nn.Linear``: weight ``(out_features, in_features)``,
bias ``(out_features,)``, ``z = x @ W.T + b``.

Its weights and biases start on a 64-byte boundary (``cpu.aligned``), as tinygrad_mlp's
parameters and PyTorch's tensors do: with NumPy's default placement its in-place update ran at
one speed or 2.5x slower depending on where ``malloc`` put the weights (the step up to 1.23x), and
that changed from one process to the next (benchmarks/README.md, "memory alignment").

This is host-side benchmark code, not tensor code: it is NumPy by design.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..cpu import aligned

Params = list[tuple[np.ndarray, np.ndarray]]


def init_params(sizes: Sequence[int], seed: int = 0, dtype: str = "float32") -> Params:
    """PyTorch's default ``nn.Linear`` init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for W and b.

    Every implementation in the benchmark starts from these arrays, so all of them compute the
    same function (and the epoch benchmark compares accuracies from the same start).
    """
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must be >= 2 positive layer widths, got {list(sizes)}")
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(dtype)
        b = rng.uniform(-bound, bound, size=fan_out).astype(dtype)
        params.append((w, b))
    return params


class NumpyMLP:
    """A ReLU MLP with softmax cross-entropy loss and SGD, written directly in NumPy.

    >>> net = NumpyMLP(init_params([4, 8, 3], dtype="float64"), lr=0.1)
    >>> x = np.ones((2, 4)); y = np.array([0, 2])
    >>> loss = net.step(x, y)
    """

    def __init__(self, params: Params, lr: float = 0.01) -> None:
        self.weights = [aligned(w, copy=True) for w, _ in params]
        self.biases = [aligned(b, copy=True) for _, b in params]
        self.lr = float(lr)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits for a batch ``x`` of shape (N, in_features)."""
        return self._forward(x)[-1]

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """[x, h1, ..., logits]: every layer's output (post-ReLU for hidden layers)."""
        acts = [x]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = acts[-1] @ w.T
            z += b
            if i < last:
                np.maximum(z, 0, out=z)
            acts.append(z)
        return acts

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, Params]:
        """Mean cross-entropy of integer ``labels`` and the gradients [(dW, db), ...] per layer."""
        acts = self._forward(x)
        n = x.shape[0]
        rows = np.arange(n)
        # softmax cross-entropy, in place on the logits (which backward does not need)
        z = acts.pop()
        z -= z.max(axis=1, keepdims=True)
        picked = z[rows, labels]
        np.exp(z, out=z)
        total = z.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(total[:, 0]) - picked))
        z /= total  # softmax probabilities
        z[rows, labels] -= 1.0
        z *= 1.0 / n  # dL/dlogits = (softmax - onehot) / N
        grads: Params = [None] * len(self.weights)  # type: ignore[list-item]
        dz = z
        for i in range(len(self.weights) - 1, -1, -1):
            a = acts[i]
            grads[i] = (dz.T @ a, dz.sum(axis=0))
            if i > 0:
                dz = dz @ self.weights[i]
                dz *= a > 0  # ReLU': a is layer i-1's post-ReLU output
        return loss, grads

    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        """One SGD step on the batch; returns the loss before the update."""
        loss, grads = self.loss_and_grads(x, labels)
        lr = self.lr
        for w, b, (gw, gb) in zip(self.weights, self.biases, grads, strict=True):
            gw *= lr
            w -= gw
            gb *= lr
            b -= gb
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class of every row."""
        return np.argmax(self.forward(x), axis=1)


def gemm_shapes(sizes: Sequence[int], batch: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product in one training step of the MLP ``sizes``.

    Per layer (in -> out): forward ``x @ W.T`` (N, in)x(in, out); weight gradient ``dZ.T @ A``
    (out, N)x(N, in); input gradient ``dZ @ W`` (N, out)x(out, in) for every layer but the first.
    """
    shapes = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        shapes += [(batch, fan_in, fan_out), (fan_out, batch, fan_in)]
        if i > 0:
            shapes.append((batch, fan_out, fan_in))
    return shapes


def gemm_floor(
    sizes: Sequence[int], batch: int, dtype: str = "float32", seed: int = 0
) -> Callable[[], None]:
    """A callable doing exactly the matrix products of one training step (``gemm_shapes``).

    Operands are precomputed with the reference's memory layouts (``W.T`` and ``dZ.T`` are
    transposed views, as in ``NumpyMLP``) and results go to preallocated buffers (``out=``), so
    the time is the BLAS calls alone: the floor no NumPy-based step can beat.
    """
    rng = np.random.default_rng(seed)
    triples = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        x = rng.standard_normal((batch, fan_in)).astype(dtype)
        w = rng.standard_normal((fan_out, fan_in)).astype(dtype)
        dz = rng.standard_normal((batch, fan_out)).astype(dtype)
        triples.append((x, w.T, np.empty((batch, fan_out), dtype)))
        triples.append((dz.T, x, np.empty((fan_out, fan_in), dtype)))
        if i > 0:
            triples.append((dz, w, np.empty((batch, fan_in), dtype)))

    def run() -> None:
        for a, b, out in triples:
            np.matmul(a, b, out=out)

    shapes = [(a.shape[0], a.shape[1], b.shape[1]) for a, b, _ in triples]
    run.shapes = shapes  # type: ignore[attr-defined]
    run.triples = triples  # type: ignore[attr-defined]
    return run
