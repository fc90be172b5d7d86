"""Where tinygrad_mlp's step spends the time the hand-written NumPy step does not: the framework's
layers taken off one at a time, same session.

For each case, eight steps on the same initial weights and batch alternate round-robin in one
process (``harness.interleaved``, the benchmark's timing):

1. ``hand-written``: ``reference.NumpyMLP.step``, the benchmark's yardstick;
2. ``user step``: what the benchmark times, ``opt.zero_grad(); F.cross_entropy(model(x),
   y).backward(); opt.step()`` with ``nn.MLP`` and ``optim.SGD``;
3. ``- loss checks``: ``ops.CrossEntropy.apply`` instead of ``F.cross_entropy`` (no argument
   and label-range checks);
4. ``- module``: ``fused.MLPStack.apply`` on the parameters instead of ``model(x)`` (no
   ``Module`` call, stack plan or shape checks);
5. ``- optimizer``: ``p.grad = None`` and ``backend.add_scaled_`` (the update SGD makes) instead
   of ``zero_grad`` and ``step``;
6. ``- engine``: the two ops' ``forward`` and ``backward`` called directly, no graph, no
   ``Tensor``, no ``backward()`` walk: the step's arithmetic alone, as tinygrad_mlp does it;
7. ``replay estimate``: step 6 plus what a step recorded once and replayed (as CUDA graphs and
   ``torch.compile`` do; tinygrad_mlp has no such thing) would still run if it kept the
   optimizer as it is and checked its inputs: the module's stack plan (standing for the check
   that the parameters are still the recorded ones), the label-range check (the labels are new
   every batch), the gradients handed to the parameters' ``.grad``, and the optimizer's
   ``zero_grad`` and ``step``. No recording, no ``Tensor`` for the activations, no
   ``backward()`` walk. An estimate, not a bound: a real replay would also check the batch's
   shapes, but might check its parameters more cheaply and skip making the op objects anew. A
   replay that recorded the optimizer's update as well could come close to step 6.
8. ``compiled step``: ``train.compile_step(model, opt)``, the real thing steps 6 and 7 frame: it
   checks the batch (shape, dtype, labels in range) and the stack plan, runs step 6's kernels,
   and hands each gradient to the optimizer's own per-parameter update (no ``.grad``, no
   ``zero_grad``).

Each row prints the median times and what each layer costs (the difference to the step above
it; for steps 7 and 8, what each adds to step 6). Step 6 over step 1 is how far tinygrad_mlp's
kernels are from the hand-written ones; the rest is the framework. The first case, a 4-4-4-2
network at batch 2, has arrays of a few elements: there the layers cost what their Python costs
between small array calls, the baseline for the same layers between the larger arrays of the
other cases.

Before timing, ``check`` runs three float64 steps of every variant and compares the first
weights with the hand-written step's: the eight compute the same step. (That the right layer is
gone from each is a matter of the code below; ``tests/test_bench_ab.py`` checks it by counting
which layers each variant enters.) ::

    python benchmarks/ab/overhead.py [--quick]

``--quick`` (a smoke test of this script): 64-64-16-10, float32, batch 32, 3 repeats.
"""

import sys

import numpy as np

from tinygrad_mlp import Tensor, backend, functional, train
from tinygrad_mlp.bench import harness, impls, reference
from tinygrad_mlp.fused import MLPStack
from tinygrad_mlp.nn import mlp
from tinygrad_mlp.ops import CrossEntropy

CHAIN = ("hand-written", "user step", "- loss checks", "- module", "- optimizer", "- engine")
NAMES = (*CHAIN, "replay estimate", "compiled step")
LR = 0.01


def kernels(x, y, arrays: list, xp, one, activation: str = "relu") -> tuple:
    """The two ops' forward and backward called directly on the batch ``(x, y)`` and the arrays
    ``[W1, b1, ...]``: the parameters' gradients (``one``: the loss's seed gradient)."""
    stack, loss = MLPStack(), CrossEntropy()
    stack.xp = loss.xp = xp
    stack.needs_input_grad = (False,) + (True,) * len(arrays)
    loss.needs_input_grad = (True, False)
    loss.forward(stack.forward(x, *arrays, activation=activation), y)
    return stack.backward(loss.backward(one)[0])[1:]


def case(net: str, dtype: str, batch: int) -> tuple:
    """``(params, x, y, x Tensor, y Tensor, hand-written step)`` of one case: the initial weights
    (seed 0), a batch of normal inputs and uniform labels (seed 0), and ``NumpyMLP`` on them."""
    sizes = [int(s) for s in net.split("-")]
    params = reference.init_params(sizes, 0, dtype)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], batch)
    return params, x, y, Tensor(x), Tensor(y), reference.NumpyMLP(params, lr=LR)


def steps(net: str, dtype: str, batch: int) -> tuple[dict, list]:
    """The eight steps of one case, by name (each on its own copy of the weights), and each one's
    first weight array (updated in place by its steps)."""
    params, x, y, xt, yt, ref = case(net, dtype, batch)
    models = [impls.build(params, LR)[:2] for _ in range(7)]
    weights = [list(model.parameters()) for model, _ in models]

    def no_loss_checks(model=models[1][0], opt=models[1][1]) -> None:
        opt.zero_grad()
        CrossEntropy.apply(model(xt), yt).backward()
        opt.step()

    def no_module(params=weights[2], opt=models[2][1]) -> None:
        opt.zero_grad()
        CrossEntropy.apply(MLPStack.apply(xt, *params, activation="relu"), yt).backward()
        opt.step()

    def no_optimizer(params=weights[3]) -> None:
        for p in params:
            p.grad = None
        CrossEntropy.apply(MLPStack.apply(xt, *params, activation="relu"), yt).backward()
        for p in params:
            backend.add_scaled_(p.data, p.grad.data, -LR)

    xp, one = backend.namespace(x), np.ones((), dtype=dtype)
    arrays = [p.data for p in weights[4]]

    def no_engine() -> None:
        for p, g in zip(arrays, kernels(x, y, arrays, xp, one), strict=True):
            backend.add_scaled_(p, g, -LR)

    def replay_estimate(model=models[5][0], opt=models[5][1]) -> None:
        opt.zero_grad()
        activation, params, _, _ = mlp._stack_plan(model.layers._layers, xt.data)
        if not functional._labels_in_range(yt.data, params[-1].shape[0]):
            raise ValueError("a label is out of range")
        grads = kernels(x, y, [p.data for p in params], xp, one, activation)
        for p, g in zip(params, grads, strict=True):
            p.grad = Tensor._make(g, False, None)
        opt.step()

    fns = [lambda: ref.step(x, y), impls.make_step(*models[0], xt, yt)]
    compiled = train.compile_step(*models[6])
    fns += [no_loss_checks, no_module, no_optimizer, no_engine, replay_estimate]
    fns.append(lambda: compiled(xt, yt))
    firsts = [ref.weights[0], *(w[0].data for w in weights)]  # updated in place by every step
    return dict(zip(NAMES, fns, strict=True)), firsts


def check(net: str, batch: int, steps=steps, names: tuple = NAMES) -> None:
    """Three float64 steps of each variant give the hand-written step's first weight (else an
    error): all eight (all of ``names``, for another script's ``steps``) compute the same step."""
    fns, firsts = steps(net, "float64", batch)
    for fn in fns.values():
        for _ in range(3):
            fn()
    same_weights(firsts, names)


def same_weights(firsts: list, names: tuple = NAMES) -> None:
    """AssertionError naming the first variant whose weight differs from the hand-written one."""
    for name, w in zip(names, firsts, strict=True):
        if not np.allclose(w, firsts[0], rtol=1e-12, atol=1e-14):
            raise AssertionError(f"{name} computed another step than the hand-written one")


def main(quick: bool = False) -> None:
    cases = [("64-64-16-10", "float32", 32)] if quick else [("4-4-4-2", "float32", 2)] + [
        (net, dtype, batch)
        for net in ("784-512-128-64-10", "784-50-10", "64-64-16-10")
        for dtype in ("float32", "float64")
        for batch in (32, 128)
    ]  # fmt: skip
    for net, batch in dict.fromkeys((net, batch) for net, _, batch in cases):
        check(net, batch)
    print(
        "median step times in us; in brackets what the layer above costs (the difference); "
        "for the replay estimate and the compiled step, what each adds to - engine"
    )
    shown = ("user step", "- engine", "replay estimate", "compiled step")
    header = " | ".join(f"{name} / hand-written" for name in shown)
    print("| case | " + " | ".join(NAMES) + f" | {header} |")
    print("|---" * (len(NAMES) + len(shown) + 1) + "|")
    for net, dtype, batch in cases:
        stats = harness.interleaved(
            steps(net, dtype, batch)[0], repeats=3 if quick else 11, warmup=3, min_sample_s=0.02
        )
        m = [stats[name].median * 1e6 for name in NAMES]
        cells = [f"{m[0]:.1f}", f"{m[1]:.1f}"]
        cells += [f"{m[i]:.1f} ({m[i - 1] - m[i]:+.1f})" for i in range(2, len(CHAIN))]
        engine = m[len(CHAIN) - 1]  # the replay estimate and the compiled step, over - engine
        cells += [f"{t:.1f} ({t - engine:+.1f})" for t in m[len(CHAIN) :]]
        ratios = " | ".join(f"{m[NAMES.index(n)] / m[0]:.2f}x" for n in shown)
        print(f"| {net} {dtype} {batch} | " + " | ".join(cells) + f" | {ratios} |", flush=True)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
