"""A/B: the smallest parameter that the optimizers update with BLAS axpy
(``cpu._AXPY_MIN_SIZE``), 16,384 against the former 65,536 elements, same session.

Full training steps (nn.MLP + optim.SGD, zero_grad, forward, cross-entropy, backward, step) on
a fixed batch; the two thresholds alternate in blocks of 1,000 steps, 10 blocks each; prints
the median time of ``opt.step()`` and of the whole step. Only parameters of 16,384 to 65,535
elements change path: of the benchmark's networks, 784-50-10's first weight (39,200).

    python benchmarks/ab/axpy_threshold.py
"""

import time

import numpy as np

from tinygrad_mlp import Tensor, cpu
from tinygrad_mlp import functional as F
from tinygrad_mlp.bench import impls, reference

NEW, OLD = 16384, 65536
CASES = [
    ("784-50-10", 32, "float32"),
    ("784-50-10", 128, "float32"),
    ("784-50-10", 1024, "float32"),
    ("784-50-10", 32, "float64"),
    ("784-50-10", 128, "float64"),
    ("784-50-10", 1024, "float64"),
    ("64-64-16-10", 32, "float32"),  # controls: no parameter in between
    ("784-512-128-64-10", 128, "float32"),
]


def run(net: str, batch: int, dtype: str, blocks: int = 10, steps: int = 1000) -> None:
    sizes = [int(s) for s in net.split("-")]
    rng = np.random.default_rng(0)
    model, opt, _ = impls.build(reference.init_params(sizes, dtype=dtype), 1e-4)
    x = Tensor(rng.standard_normal((batch, sizes[0])).astype(dtype))
    y = Tensor(rng.integers(0, sizes[-1], batch))
    times: dict[int, list[tuple[float, float]]] = {NEW: [], OLD: []}
    clock = time.perf_counter
    for block in range(blocks):
        for threshold in (OLD, NEW) if block % 2 else (NEW, OLD):
            cpu._AXPY_MIN_SIZE = threshold
            in_step = total = 0.0
            for i in range(steps + 100):
                t0 = clock()
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                t1 = clock()
                opt.step()
                t2 = clock()
                if i >= 100:
                    in_step, total = in_step + t2 - t1, total + t2 - t0
            times[threshold].append((in_step / steps * 1e6, total / steps * 1e6))
    cpu._AXPY_MIN_SIZE = NEW
    (s_new, t_new), (s_old, t_old) = (np.median(times[k], axis=0) for k in (NEW, OLD))
    print(
        f"{net} {dtype} batch {batch}: opt.step {s_old:.1f} -> {s_new:.1f} us, "
        f"whole step {t_old:.1f} -> {t_new:.1f} us ({t_new / t_old:.2f}x)",
        flush=True,
    )


if __name__ == "__main__":
    for case in CASES:
        run(*case)
