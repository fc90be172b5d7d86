"""What the compiled step (``train.compile_step``) runs above the kernels: each part taken out in
turn, same session.

For each case, six steps on the same initial weights and batch alternate round-robin in one
process (``harness.interleaved``, the benchmark's timing):

1. ``hand-written``: ``reference.NumpyMLP.step``, the yardstick;
2. ``compiled step``: ``train.compile_step(model, opt)(x, y)``;
3. ``- batch and plan checks``: the same, with the check of ``x``'s shape and the stack plan
   replaced by the plan computed once before timing;
4. ``- target checks``: the same as 2, with the labels' checks (type, shape, dtype, range)
   replaced by handing the label array over as it is;
5. ``- optimizer``: the same as 2, with the optimizer's per-parameter update replaced by
   ``backend.add_scaled_`` (the update SGD makes) on each parameter;
6. ``kernels alone``: ``overhead.py``'s ``- engine``, the ops' forward and backward called
   directly and ``add_scaled_``.

Each row prints the median times and, for steps 3-5, what the part taken out costs (step 2 minus
that step); the parts are measured one at a time, so their costs need not add up to step 2 minus
step 6. Variants 3-5 compute the same step as 2 (``tests/test_bench_ab.py`` checks it). ::

    python benchmarks/ab/compiled_parts.py [--quick]

``--quick`` (a smoke test of this script): 64-64-16-10, float32, batch 32, 3 repeats.
"""

import os
import sys

import numpy as np

from tinygrad_mlp import backend, train
from tinygrad_mlp.bench import harness, impls

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import overhead  # noqa: E402  (the sibling script: its kernels and weight check)

NAMES = (
    "hand-written",
    "compiled step",
    "- batch and plan checks",
    "- target checks",
    "- optimizer",
    "kernels alone",
)
LR = 0.01


def steps(net: str, dtype: str, batch: int) -> tuple[dict, list]:
    """The six steps of one case, by name, each on its own copy of the weights, and each one's
    first weight array (updated in place by its steps)."""
    params, x, y, xt, yt, ref = overhead.case(net, dtype, batch)
    compiled = [train.compile_step(*impls.build(params, LR)[:2]) for _ in range(5)]
    plan = compiled[1]._checked_plan(x)
    compiled[1]._checked_plan = lambda x: plan  # noqa: ARG005
    compiled[2]._checked_target = lambda y, x, out: y.data  # noqa: ARG005
    arrays = [[p.data for p in step.model.parameters()] for step in compiled]

    def update(params: list, grads: tuple, arrays: list = arrays[3]) -> None:  # noqa: ARG001
        for p, g in zip(arrays, grads, strict=True):
            backend.add_scaled_(p, g, -LR)

    compiled[3]._apply = update
    xp, one = backend.namespace(x), np.ones((), dtype=dtype)

    def kernels(arrays: list = arrays[4]) -> None:
        for p, g in zip(arrays, overhead.kernels(x, y, arrays, xp, one), strict=True):
            backend.add_scaled_(p, g, -LR)

    fns = [lambda: ref.step(x, y)] + [lambda s=s: s(xt, yt) for s in compiled[:4]] + [kernels]
    return dict(zip(NAMES, fns, strict=True)), [ref.weights[0], *(a[0] for a in arrays)]


def check(net: str, batch: int) -> None:
    """Three float64 steps of each variant give the hand-written step's first weight (else an
    AssertionError naming the variant): all six compute the same step."""
    overhead.check(net, batch, steps, NAMES)


def same_weights(firsts: list) -> None:
    overhead.same_weights(firsts, NAMES)


def main(quick: bool = False) -> None:
    cases = [("64-64-16-10", "float32", 32)] if quick else [
        (net, dtype, batch)
        for net in ("784-50-10", "64-64-16-10")
        for dtype in ("float32", "float64")
        for batch in (32, 128)
    ]  # fmt: skip
    for net, batch in dict.fromkeys((net, batch) for net, _, batch in cases):
        check(net, batch)
    print("median step times in us; in brackets what the part taken out costs (compiled - it)")
    print("| case | " + " | ".join(NAMES) + " | compiled / hand-written |")
    print("|---" * (len(NAMES) + 2) + "|")
    for net, dtype, batch in cases:
        stats = harness.interleaved(
            steps(net, dtype, batch)[0], repeats=3 if quick else 11, warmup=3, min_sample_s=0.02
        )
        m = [stats[name].median * 1e6 for name in NAMES]
        cells = [f"{m[0]:.1f}", f"{m[1]:.1f}"]
        cells += [f"{t:.1f} ({m[1] - t:+.1f})" for t in m[2:5]] + [f"{m[5]:.1f}"]
        print(f"| {net} {dtype} {batch} | " + " | ".join(cells) + f" | {m[1] / m[0]:.2f}x |")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
