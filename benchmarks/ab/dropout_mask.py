"""A/B: dropout masks from uniform floats (before) against 32 random bits per unit
(``backend.random_keep``), same session; and the same network without dropout.

nn.MLP 784-512-128-64-10, dropout 0.5, float32, SGD; the arms alternate in blocks of 300 steps
on a fixed batch; prints the median step time of each arm and dropout's share of the step.

    python benchmarks/ab/dropout_mask.py 128
"""

import sys
import time

import numpy as np

from tinygrad_mlp import Tensor, backend, nn, optim
from tinygrad_mlp import functional as F
from tinygrad_mlp.nn.layers import Dropout

NEW = Dropout.mask


def old_mask(self, shape, dtype, device):
    rng = self._rngs.get(device)
    if rng is None:
        rng = self._rngs[device] = backend.generator(self.seed, device)
    u = rng.random(
        shape, dtype=np.float64 if backend.dtype_name(dtype) == "float64" else np.float32
    )
    return (u >= self.p).astype(dtype) * (1.0 / (1.0 - self.p))


def main(batch: int, sizes=(784, 512, 128, 64, 10)) -> None:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((batch, sizes[0])).astype("float32"))
    y = Tensor(rng.integers(0, sizes[-1], batch))
    times: dict[str, list[float]] = {}
    for arm in ["before", "after", "no dropout"] * 3:
        model = nn.MLP(list(sizes), dropout=0.0 if arm == "no dropout" else 0.5, seed=0)
        opt = optim.SGD(model.parameters(), lr=0.01)
        Dropout.mask = old_mask if arm == "before" else NEW

        def step(model=model, opt=opt):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        for _ in range(20):
            step()
        start = time.perf_counter()
        for _ in range(300):
            step()
        times.setdefault(arm, []).append((time.perf_counter() - start) / 300 * 1e6)
    Dropout.mask = NEW
    base = np.median(times["no dropout"])
    for arm, values in times.items():
        med = np.median(values)
        runs = [round(v) for v in values]
        print(f"{arm}: {med:.0f} us per step ({med / base:.2f}x no dropout), runs {runs}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 128)
