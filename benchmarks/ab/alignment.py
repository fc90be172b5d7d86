"""A/B: parameters on a 64-byte boundary against 16 bytes past it, same session.

For each network, dtype and batch, four training steps alternate round-robin in one process
(``harness.interleaved``, the benchmark's timing): the hand-written NumPy step
(``reference.NumpyMLP``) and tinygrad_mlp's step (nn.MLP + optim.SGD), each once with every
weight and bias on a 64-byte boundary (what ``cpu.aligned`` gives) and once with them 16 bytes
past it (where NumPy's ``malloc`` often puts them). Prints the median step times and the ratios
misaligned / aligned. The inputs and everything else stay where NumPy puts them.

    python benchmarks/ab/alignment.py [--quick]

``--quick`` (a smoke test of this script): 64-64-16-10 at batch 32, 3 repeats.
"""

import sys

import numpy as np

from tinygrad_mlp import Tensor
from tinygrad_mlp.bench import harness, impls, reference

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
    main(quick="--quick" in sys.argv[1:])
