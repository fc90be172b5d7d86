"""What an eager autograd framework costs over hand-written code: PyTorch's ratio, for comparison.

The issue asks tinygrad_mlp for <= 1.15x the hand-written NumPy step at batch 32. This measures
the same ratio for PyTorch on the CPU: its usual eager step (``zero_grad``, forward, cross-entropy,
``backward``, ``SGD.step``, as in the benchmark) against the same arithmetic written by hand with
torch tensors (no autograd: forward, softmax cross-entropy gradient, backprop, in-place SGD),
timed in alternating blocks; then tinygrad_mlp's step against the hand-written NumPy step
(``bench.reference``). Each side runs in its own process.

On the 2-core Xeon, 2026-12-01 (this file's commit), float32, eager / by hand:

| network, batch | PyTorch | tinygrad_mlp |
|---|---|---|
| 64-64-16-10, 32 | 0.382 / 0.157 ms = 2.43x | 0.151 / 0.080 ms = 1.89x |
| 64-64-16-10, 128 | 0.502 / 0.237 ms = 2.12x | 0.213 / 0.161 ms = 1.32x |
| 784-50-10, 32 | 0.395 / 0.181 ms = 2.19x | 0.245 / 0.199 ms = 1.23x |
| 784-512-128-64-10, 32 | 1.400 / 0.969 ms = 1.44x | 1.378 / 1.311 ms = 1.05x |

(PyTorch's eager step took 0.216 ms at 64-64-16-10 batch 32 in the benchmark run of 03:15 and
0.37 ms here: this machine's speed for PyTorch moves more than for NumPy; the ratios are from
one process each, side by side.)

    python benchmarks/ab/eager_floor.py
"""

import functools
import subprocess
import sys
import time

import numpy as np
import torch

from tinygrad_mlp import Tensor
from tinygrad_mlp.bench import impls, reference

CASES = [("64-64-16-10", 32), ("64-64-16-10", 128), ("784-50-10", 32), ("784-512-128-64-10", 32)]


def alternating_ms(fns, n: int, blocks: int = 9) -> list[float]:
    """Median ms per call of each function, timed in alternating blocks of ``n`` calls."""
    for fn in fns:
        for _ in range(n // 10 + 1):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for block in range(blocks):
        order = list(enumerate(fns))
        for i, fn in order[block % 2 :] + order[: block % 2]:
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times[i].append((time.perf_counter() - start) / n * 1e3)
    return [float(np.median(t)) for t in times]


def calibrated_ms(fns, blocks: int = 9, block_s: float = 0.03) -> list[float]:
    """``alternating_ms`` with ``n`` calls a block, ``n`` chosen so that a block of the first
    function lasts at least ``block_s`` seconds (from 3 timed calls)."""
    start = time.perf_counter()
    for _ in range(3):
        fns[0]()
    n = max(3, int(block_s / ((time.perf_counter() - start) / 3)))
    return alternating_ms(fns, n, blocks)


def torch_steps(params, x, y, lr: float = 1e-4):
    """PyTorch's eager step and the same step written by hand with torch tensors."""
    dtype = torch.from_numpy(params[0][0]).dtype
    layers = [torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype) for w, _ in params]
    with torch.no_grad():
        for layer, (w, b) in zip(layers, params, strict=True):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    mods = [m for layer in layers for m in (layer, torch.nn.ReLU())][:-1]
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def eager() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()

    ws = [torch.from_numpy(w.copy()) for w, _ in params]
    bs = [torch.from_numpy(b.copy()) for _, b in params]
    rows = torch.arange(len(y))

    def by_hand() -> None:
        acts = [xt]
        for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
            z = torch.addmm(b, acts[-1], w.T)
            acts.append(z.clamp_(min=0) if i < len(ws) - 1 else z)
        dz = torch.softmax(acts.pop(), dim=1)
        dz[rows, yt] -= 1.0
        dz /= len(y)
        for i in range(len(ws) - 1, -1, -1):
            gw, gb = dz.T @ acts[i], dz.sum(0)
            if i:
                dz = (dz @ ws[i]).mul_(acts[i] > 0)
            ws[i].sub_(gw, alpha=lr)
            bs[i].sub_(gb, alpha=lr)

    return eager, by_hand


def side(name: str) -> None:
    """One side's ratios: ``torch`` (PyTorch eager / by hand) or ``tinygrad`` (/ NumPy by hand)."""
    for net, batch in CASES:
        sizes = [int(s) for s in net.split("-")]
        params = reference.init_params(sizes, dtype="float32")
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, sizes[0])).astype("float32")
        y = rng.integers(0, sizes[-1], batch)
        if name == "torch":
            fns = torch_steps(params, x, y)
            labels = ("PyTorch eager", "PyTorch by hand")
        else:
            model, opt, _ = impls.build(params, 1e-4)
            ref = reference.NumpyMLP(params, lr=1e-4)
            fns = (
                impls.make_step(model, opt, Tensor(x), Tensor(y)),
                functools.partial(ref.step, x, y),
            )
            labels = ("tinygrad_mlp", "NumPy by hand")
        a, b = alternating_ms(fns, 2000 if sizes[1] < 100 else 200)
        ratio = f"{labels[0]} {a:.3f} ms / {labels[1]} {b:.3f} ms = {a / b:.2f}x"
        print(f"{net} b{batch} float32: {ratio}")


def main() -> None:
    """Each side in its own process (PyTorch's OpenMP threads slow NumPy in a shared one)."""
    for name in ("torch", "tinygrad"):
        subprocess.run([sys.executable, __file__, name], check=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        side(sys.argv[1])
    else:
        main()
