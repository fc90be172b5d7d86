"""A/B: the weight-decay term as ``g + wd * p`` (two new arrays) against
``optim.optimizer.with_weight_decay`` (``wd * p``, then ``+= g``: one), same session.

Both arms step their own copy of the 784-512-128-64-10 parameters (float32, fixed gradients),
alternating in blocks of 200 steps; prints the median optimizer-step time of each arm.

    python benchmarks/ab/weight_decay.py
"""

import time

import numpy as np

from tinygrad_mlp import Tensor, optim
from tinygrad_mlp.optim import adam, optimizer, rmsprop, sgd

NEW = optimizer.with_weight_decay


def old(grad, param, weight_decay):
    return grad + weight_decay * param


def use(fn) -> None:
    for module in (sgd, adam, rmsprop):
        module.with_weight_decay = fn


SIZES = [784, 512, 128, 64, 10]
SHAPES = [(a, b) for a, b in zip(SIZES, SIZES[1:])] + [(b,) for b in SIZES[1:]]
CONFIGS = {
    "SGD momentum 0.9": (optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=5e-4)),
    "SGD": (optim.SGD, dict(lr=0.01, weight_decay=5e-4)),
    "Adam": (optim.Adam, dict(lr=1e-3, weight_decay=5e-4)),
    "RMSprop": (optim.RMSprop, dict(lr=1e-3, weight_decay=5e-4)),
}


def build(cls, hyper, rng):
    params = [
        Tensor(rng.standard_normal(s).astype("float32") * 0.05, requires_grad=True) for s in SHAPES
    ]
    for p in params:
        p.grad = Tensor(rng.standard_normal(p.shape).astype("float32") * 1e-2)
    return cls(params, **hyper)


def main() -> None:
    rng = np.random.default_rng(0)
    for name, (cls, hyper) in CONFIGS.items():
        opts = {"old": build(cls, hyper, rng), "new": build(cls, hyper, rng)}
        times = {"old": [], "new": []}
        for r in range(9):
            for arm in ("old", "new") if r % 2 else ("new", "old"):
                use(old if arm == "old" else NEW)
                for _ in range(20):
                    opts[arm].step()
                start = time.perf_counter()
                for _ in range(200):
                    opts[arm].step()
                times[arm].append((time.perf_counter() - start) / 200 * 1e6)
        t_old, t_new = np.median(times["old"]), np.median(times["new"])
        print(f"{name}: old {t_old:.0f} us, new {t_new:.0f} us, new/old {t_new / t_old:.2f}")
    use(NEW)


if __name__ == "__main__":
    main()
