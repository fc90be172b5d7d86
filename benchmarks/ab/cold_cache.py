"""Does Python run slower right after a large array operation?

A training step of a tiny network (4-4-4-2, batch 2) is timed right after nothing, right after
an 8 MB copy (one thread, no BLAS) and right after a 128 x 784 x 512 float32 matrix product (the
large network's first layer at batch 128), the three round-robin; only the tiny step is inside
the timer. The tiny step is all call overhead: tinygrad_mlp's Python and NumPy's calls on arrays of
a few elements (about half each: ``overhead.py``'s "- engine" variant of it takes half the
time). If it is slower after the array operations, they evicted what the interpreter and NumPy's
call paths need from the caches (the copy runs on one thread, no BLAS; run with
``OPENBLAS_NUM_THREADS=1`` to take the product's threads out as well). See
benchmarks/README.md, "Where the time goes".

    python benchmarks/ab/cold_cache.py [CALLS]
"""

import statistics
import sys
import time

import numpy as np

from tinygrad_mlp import Tensor
from tinygrad_mlp import functional as F
from tinygrad_mlp.bench import impls, reference


def main(calls: int = 3000) -> None:
    model, opt, _ = impls.build(reference.init_params([4, 4, 4, 2], 0, "float32"), 0.01)
    x, y = Tensor(np.ones((2, 4), np.float32)), Tensor(np.array([0, 1]))

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    rng = np.random.default_rng(0)
    src, dst = rng.random(1 << 20), np.empty(1 << 20)  # 8 MB each
    a = rng.random((128, 784), dtype=np.float32)
    w = rng.random((512, 784), dtype=np.float32)
    before = {
        "nothing": lambda: None,
        "an 8 MB copy": lambda: np.copyto(dst, src),
        "a 128x784x512 float32 product": lambda: a @ w.T,
    }
    times: dict[str, list[float]] = {name: [] for name in before}
    for _ in range(calls):  # the three conditions round-robin, so drift hits them alike
        for name, fn in before.items():
            fn()
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    for name, samples in times.items():
        print(f"tiny step right after {name}: median {statistics.median(samples) * 1e6:.1f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
