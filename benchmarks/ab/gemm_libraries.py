"""How much of the gap to PyTorch on the CPU is its matrix-product library.

NumPy's wheels multiply with OpenBLAS; PyTorch's x86 wheels with Intel MKL. This times the
matrix products of one training step (``bench.reference.gemm_floor``: the same shapes and
memory layouts) with each library, each in its own process, and beside them each framework's
whole step (tinygrad_mlp's ``nn.MLP`` + ``optim.SGD``; PyTorch's eager step as in the benchmark).
If tinygrad_mlp / PyTorch is close to OpenBLAS floor / MKL floor, the gap is mostly the
library's. The rest of the step (element-wise work, updates, Python) is estimated by the
difference step - floor ("rest"; an estimate: products in a loop of their own may run faster
than inside a step).

On the 2-core Xeon, 2026-12-01 (this file's commit; medians of 3 processes a side; NumPy 2.4.6
with its OpenBLAS 0.3.31, torch 2.13.0 with MKL 2024.2; large = 784-512-128-64-10; rest:
tinygrad_mlp / PyTorch):

| network, batch, dtype | tinygrad / PyTorch step | OpenBLAS / MKL floor | rest (ms) |
|---|---|---|---|
| large, 32, float32 | 1.344 / 1.259 = 1.07x | 0.681 / 0.449 = 1.52x | 0.663 / 0.810 |
| large, 128, float32 | 2.234 / 2.087 = 1.07x | 1.403 / 1.061 = 1.32x | 0.831 / 1.026 |
| large, 1024, float32 | 10.108 / 9.841 = 1.03x | 8.240 / 7.312 = 1.13x | 1.868 / 2.529 |
| 784-50-10, 1024, float32 | 1.505 / 1.663 = 0.90x | 1.071 / 0.837 = 1.28x | 0.434 / 0.826 |
| large, 32, float64 | 1.864 / 1.816 = 1.03x | 1.035 / 0.769 = 1.35x | 0.829 / 1.046 |
| large, 128, float64 | 3.778 / 3.416 = 1.11x | 2.568 / 2.112 = 1.22x | 1.210 / 1.304 |
| large, 1024, float64 | 20.710 / 18.003 = 1.15x | 17.657 / 14.565 = 1.21x | 3.053 / 3.438 |
| 784-50-10, 1024, float64 | 2.783 / 2.415 = 1.15x | 2.178 / 1.566 = 1.39x | 0.605 / 0.848 |

MKL does the same products 1.13-1.52x faster; by this estimate, everything else in
tinygrad_mlp's step costs less than in PyTorch's in all eight cases. So where tinygrad_mlp
trails PyTorch on the CPU, the matrix-product library accounts for the gap. ``mkl_gemm.py``
tries MKL from tinygrad_mlp.

    python benchmarks/ab/gemm_libraries.py
"""

import json
import subprocess
import sys

import numpy as np

from tinygrad_mlp.bench import reference

CASES = [
    ("784-512-128-64-10", 32),
    ("784-512-128-64-10", 128),
    ("784-512-128-64-10", 1024),
    ("784-50-10", 1024),
]
ROUNDS = 3  # processes per side, alternating, so a slow minute hits both sides


def case_data(net: str, batch: int, dtype: str):
    sizes = [int(s) for s in net.split("-")]
    params = reference.init_params(sizes, dtype=dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    return sizes, params, x, y


def numpy_side(net: str, batch: int, dtype: str):
    """tinygrad_mlp's step and the OpenBLAS floor, alternating."""
    from tinygrad_mlp import Tensor
    from tinygrad_mlp.bench import impls

    sizes, params, x, y = case_data(net, batch, dtype)
    model, opt, _ = impls.build(params, 1e-4)
    step = impls.make_step(model, opt, Tensor(x), Tensor(y))
    return step, reference.gemm_floor(sizes, batch, dtype)


def torch_side(net: str, batch: int, dtype: str):
    """PyTorch's eager step and the same products as ``gemm_floor``, done by torch (MKL)."""
    import torch
    from eager_floor import torch_steps

    sizes, params, x, y = case_data(net, batch, dtype)
    eager, _ = torch_steps(params, x, y)
    floor = reference.gemm_floor(sizes, batch, dtype)
    triples = [  # the floor's operands (same strides: transposed views stay views)
        (torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out))
        for a, b, out in floor.triples  # type: ignore[attr-defined]
    ]

    def mkl_floor() -> None:
        for a, b, out in triples:
            torch.matmul(a, b, out=out)

    return eager, mkl_floor


def side(name: str) -> None:
    from eager_floor import calibrated_ms

    make = numpy_side if name == "numpy" else torch_side
    for dtype in ("float32", "float64"):
        for net, batch in CASES:
            step, floor = make(net, batch, dtype)
            step_ms, floor_ms = calibrated_ms((step, floor))  # blocks of >= 30 ms
            print(json.dumps([name, net, batch, dtype, step_ms, floor_ms]), flush=True)


def main() -> None:
    runs: dict[tuple, dict[str, list[tuple[float, float]]]] = {}
    for _ in range(ROUNDS):
        for name in ("numpy", "torch"):
            out = subprocess.run(
                [sys.executable, __file__, name], check=True, capture_output=True, text=True
            ).stdout
            for line in out.splitlines():
                who, net, batch, dtype, step_ms, floor_ms = json.loads(line)
                runs.setdefault((net, batch, dtype), {}).setdefault(who, []).append(
                    (step_ms, floor_ms)
                )
    print("| network, batch, dtype | tinygrad / PyTorch step | OpenBLAS / MKL floor | rest (ms) |")
    print("|---|---|---|---|")
    for (net, batch, dtype), sides in runs.items():
        tg, pt = (np.median(np.array(sides[k]), axis=0) for k in ("numpy", "torch"))
        print(
            f"| {net}, {batch}, {dtype} | {tg[0]:.3f} / {pt[0]:.3f} = {tg[0] / pt[0]:.2f}x | "
            f"{tg[1]:.3f} / {pt[1]:.3f} = {tg[1] / pt[1]:.2f}x | "
            f"{tg[0] - tg[1]:.3f} / {pt[0] - pt[1]:.3f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        side(sys.argv[1])
    else:
        main()
