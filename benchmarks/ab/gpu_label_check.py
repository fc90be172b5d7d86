"""A/B for a GPU: what the class-label check of ``F.cross_entropy`` costs a training step.

``F.cross_entropy`` checks that every label is in ``[0, C)`` (``functional._check_labels``):
one reduction and ``int(...)`` of its result, which on CuPy waits for the GPU to finish every
kernel queued so far, once per step. PyTorch's CUDA eager step never waits, so the CPU keeps
launching the rest of the step while the GPU works. This times the benchmark's step with the
check (``F.cross_entropy``) against the same step without it (``ops.CrossEntropy.apply``, the
op the check guards), interleaved with GPU synchronisation (``harness.interleaved``). Without
the check, an out-of-range label gives a wrong loss (CuPy does not bounds-check indices), so
this measures a cost; it does not propose dropping the check.

    python benchmarks/ab/gpu_label_check.py [cuda|cpu] [--quick]

``--quick`` (a smoke test of this script): the small network only, 3 repeats.
"""

import sys

import numpy as np

from tinygrad_mlp import Tensor, backend, ops
from tinygrad_mlp import functional as F
from tinygrad_mlp.bench import harness, impls, reference

CASES = [("784-512-128-64-10", 1024), ("784-512-128-64-10", 8192), ("64-64-16-10", 1024)]


def steps(net: str, batch: int, device: str) -> dict:
    """The benchmark's step with the label check and without it, on one model and batch."""
    sizes = [int(s) for s in net.split("-")]
    rng = np.random.default_rng(0)
    model, opt, _ = impls.build(reference.init_params(sizes), 1e-4, device)
    x = Tensor(rng.standard_normal((batch, sizes[0])), dtype="float32", device=device)
    y = Tensor(rng.integers(0, sizes[-1], batch), device=device)

    def checked() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def unchecked() -> None:
        opt.zero_grad()
        ops.CrossEntropy.apply(model(x), y).backward()
        opt.step()

    return {"checked": checked, "unchecked": unchecked}


def main(device: str, quick: bool = False) -> None:
    sync = (lambda: backend.synchronize(device)) if device == "cuda" else None
    for net, batch in CASES[2:] if quick else CASES:
        stats = harness.interleaved(
            steps(net, batch, device), repeats=3 if quick else 15, sync=sync
        )
        a, b = stats["checked"].median, stats["unchecked"].median
        print(
            f"{device} {net} b{batch} float32: with the label check {a * 1e3:.3f} ms, "
            f"without {b * 1e3:.3f} ms, ratio {a / b:.3f}"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(next((a for a in args if a != "--quick"), "cuda"), quick="--quick" in args)
