"""A/B: parameters on a 64-byte boundary against 16 bytes past it, same session.

For each network, dtype and batch, four training steps alternate round-robin in one process
(``harness.interleaved``, the benchmark's timing): the hand-written NumPy step
(``reference.NumpyMLP``) and tinygrad_mlp's step (nn.MLP + optim.SGD), each once with every
weight and bias on a 64-byte boundary (what ``cpu.aligned`` gives) and once with them 16 bytes
past it (where NumPy's ``malloc`` often puts them). Prints the median step times and the ratios
misaligned / aligned. The inputs and everything else stay where NumPy puts them.

    python benchmarks/ab/alignment.py [--quick]
    python benchmarks/ab/alignment.py --epoch [N]

``--quick`` (a smoke test of this script): 64-64-16-10 at batch 32, 3 repeats. ``--epoch``: the
benchmark's Fashion-MNIST epoch instead (784-512-128-64-10, batch 128, SGD lr 0.1, float32), the
four variants round-robin, N epochs each (default 6) after one warm-up epoch.
"""

import sys

import numpy as np

from tinygrad_mlp import Tensor
from tinygrad_mlp import functional as F
from tinygrad_mlp.bench import epoch, harness, impls, reference

NETWORKS = ("784-512-128-64-10", "784-50-10", "64-64-16-10")


def placed(a: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``a`` starting ``offset`` bytes past a 64-byte boundary (its ``base`` keeps the
    buffer alive)."""
    buffer = np.empty(a.nbytes + 128, dtype=np.uint8)
    start = -buffer.ctypes.data % 64 + offset
    out = buffer[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def steps(net: str, dtype: str, batch: int) -> dict:
    """The four steps of one case, by name."""
    sizes = [int(s) for s in net.split("-")]
    params = reference.init_params(sizes, 0, dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    fns = {}
    for offset in (0, 16):
        ref = reference.NumpyMLP(params)
        ref.weights = [placed(w, offset) for w in ref.weights]
        ref.biases = [placed(b, offset) for b in ref.biases]
        fns[f"hand-written {offset}"] = lambda ref=ref: ref.step(x, y)
        model, opt, _ = impls.build(params, 0.01)
        for p in model.parameters():
            p.data = placed(p.data, offset)
        fns[f"tinygrad {offset}"] = impls.make_step(model, opt, Tensor(x), Tensor(y))
    return fns


def epochs(n: int) -> None:
    """The benchmark's epoch, the four variants round-robin; prints the median epoch times."""
    data = epoch.load_data()
    X, y = data["X_train"], data["y_train"]
    params = reference.init_params([784, 512, 128, 64, 10], 0, "float32")
    fns = {}
    for offset in (0, 16):
        ref = reference.NumpyMLP(params, lr=0.1)
        ref.weights = [placed(w, offset) for w in ref.weights]
        ref.biases = [placed(b, offset) for b in ref.biases]
        rng = np.random.default_rng(0)

        def hand_written(ref=ref, rng=rng) -> None:
            for idx in impls.batch_indices(len(X), 128, rng):
                ref.step(X[idx], y[idx])

        model, opt, _ = impls.build(params, 0.1)
        for p in model.parameters():
            p.data = placed(p.data, offset)
        batches, _ = impls.tinygrad_batches(X, y, 128, 0, "cpu")

        def tinygrad(model=model, opt=opt, batches=batches) -> None:
            for xb, yb in batches():
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()

        fns[f"hand-written {offset}"], fns[f"tinygrad {offset}"] = hand_written, tinygrad
    stats = harness.interleaved(fns, repeats=n, warmup=1, min_sample_s=0.0)
    for name in ("hand-written", "tinygrad"):
        on, off = stats[f"{name} 0"].median, stats[f"{name} 16"].median
        print(f"epoch ({data['source']}), {name}: {on:.3f} / {off:.3f} s ({off / on:.3f})")


def main(quick: bool = False) -> None:
    cases = [("64-64-16-10", "float32", 32)] if quick else [
        (net, dtype, batch)
        for net in NETWORKS
        for dtype in ("float32", "float64")
        for batch in (32, 128, 1024)
    ]  # fmt: skip
    print("network dtype batch: hand-written 64-byte / +16 bytes (ratio), tinygrad the same")
    for net, dtype, batch in cases:
        stats = harness.interleaved(
            steps(net, dtype, batch), repeats=3 if quick else 11, warmup=3, min_sample_s=0.02
        )
        m = {name: s.median * 1e6 for name, s in stats.items()}
        ref = (m["hand-written 0"], m["hand-written 16"])
        tg = (m["tinygrad 0"], m["tinygrad 16"])
        print(
            f"{net} {dtype} {batch}: hand-written {ref[0]:.1f} / {ref[1]:.1f} us "
            f"({ref[1] / ref[0]:.3f}), tinygrad {tg[0]:.1f} / {tg[1]:.1f} us ({tg[1] / tg[0]:.3f})",
            flush=True,
        )


if __name__ == "__main__":
    if "--epoch" in sys.argv[1:]:
        args = [a for a in sys.argv[1:] if a != "--epoch"]
        epochs(int(args[0]) if args else 6)
    else:
        main(quick="--quick" in sys.argv[1:])
