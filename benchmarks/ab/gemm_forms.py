"""Experiment (not adopted): the step's matrix products as ``(B.T @ A.T).T`` instead of ``A @ B``.

OpenBLAS splits a product between its threads by the shape it sees, and ``(B.T @ A.T).T`` shows
it the transposed problem. Part 1 times each product of a 784-512-128-64-10 step (the layouts
of ``MLPStack``: ``h @ W.T``, ``dZ.T @ h``, ``dZ @ W``) both ways; the transposed way returns a
column-major result, so it is also timed with a copy back to row-major. Part 2 times whole
training steps whose forward products take the transposed way (copied back) wherever the batch
is smaller than the layer's output width, against the usual step, alternating.

On the 2-core Xeon of 2026-12-01 (one run, 05:08 UTC, idle machine), part 1: the transposed
way gave float32 batch-32 products in 0.56-0.67x the time for layers 0 and 1 (column-major
results), and 0.73-0.75x for the forward products copied back; of the other 61 products, 37
were slower that way (0.76-3.42x), and a weight gradient copied back cost 0.95-8.0x (a
megabyte-sized transposing copy).
Part 2, whole steps with the forward products flipped and copied back: float32 0.946x at batch
32, 1.003x at 128; float64 1.018x at 32, 1.058x at 128 (batch 1024 flips nothing: 1.006x,
0.986x, noise). A gain for one dtype at one batch size on one CPU, so MLPStack keeps ``A @ B``.
The two ways also differ in the last bits for some shapes (float64 300 x 200 x 100: 3.6e-14),
so choosing by timing at run time would make results depend on timing noise.

    python benchmarks/ab/gemm_forms.py
"""

import time
import types

import numpy as np

from tinygrad_mlp import Tensor, backend
from tinygrad_mlp.bench import impls, reference

SIZES = [784, 512, 128, 64, 10]


def per_call_us(fn, n: int) -> float:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n * 1e6)
    return float(np.median(samples))


def products(batch: int, dtype: str) -> None:
    rng = np.random.default_rng(0)
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=False)):
        h = rng.standard_normal((batch, fan_in)).astype(dtype)
        w = rng.standard_normal((fan_out, fan_in)).astype(dtype)
        dz = rng.standard_normal((batch, fan_out)).astype(dtype)
        pairs = [("h @ W.T", h, w.T), ("dZ.T @ h", dz.T, h)] + ([("dZ @ W", dz, w)] * (i > 0))
        for name, a, b in pairs:
            n = 20 if batch >= 1024 else 100
            usual = per_call_us(lambda a=a, b=b: a @ b, n)
            flipped = per_call_us(lambda a=a, b=b: (b.T @ a.T).T, n)
            back = per_call_us(lambda a=a, b=b: (b.T @ a.T).T.copy(), n)
            print(
                f"  layer {i} {name:9} {dtype} b{batch}: {usual:7.1f} us; (B.T @ A.T).T "
                f"{flipped / usual:.2f}x, copied back to row-major {back / usual:.2f}x"
            )


def flipped_namespace() -> types.SimpleNamespace:
    """NumPy's namespace whose ``matmul(h, W.T)`` (a row-major ``h`` with fewer rows than W has)
    computes ``(W @ h.T).T`` copied back to row-major: only the forward products change."""
    fast = backend.namespace(np.zeros(1))
    ns = types.SimpleNamespace(**vars(fast))

    def matmul(a, b):
        if a.flags.c_contiguous and b.flags.f_contiguous and not b.flags.c_contiguous:
            if a.shape[0] < b.shape[1]:
                return (b.T @ a.T).T.copy()
        return fast.matmul(a, b)

    ns.matmul = matmul
    return ns


def steps(batch: int, dtype: str, blocks: int = 12) -> None:
    rng = np.random.default_rng(0)
    model, opt, _ = impls.build(reference.init_params(SIZES, dtype=dtype), 1e-4)
    x = Tensor(rng.standard_normal((batch, SIZES[0])).astype(dtype))
    y = Tensor(rng.integers(0, SIZES[-1], batch))
    step = impls.make_step(model, opt, x, y)
    real, flipped = backend.namespace, flipped_namespace()
    fake = lambda a: flipped if type(a) is np.ndarray else real(a)  # noqa: E731
    n = max(5, int(2000 / batch))
    times: dict[str, list[float]] = {"usual": [], "flipped": []}
    for block in range(blocks):
        for name in ("usual", "flipped") if block % 2 else ("flipped", "usual"):
            backend.namespace = real if name == "usual" else fake
            step()
            start = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append((time.perf_counter() - start) / n * 1e3)
    backend.namespace = real
    usual, new = np.median(times["usual"]), np.median(times["flipped"])
    print(f"  step {dtype} b{batch}: {usual:.3f} ms, flipped forward {new / usual:.3f}x")


if __name__ == "__main__":
    print("part 1: the products alone")
    for dtype in ("float32", "float64"):
        for batch in (32, 128, 1024):
            products(batch, dtype)
    print("part 2: whole steps")
    for dtype in ("float32", "float64"):
        for batch in (32, 128, 1024):
            steps(batch, dtype)
