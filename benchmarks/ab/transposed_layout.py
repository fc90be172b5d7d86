"""Experiment (not adopted): hand-written NumPy steps in the usual batch-major layout (v0: the
bench reference's ``h @ W.T``, ``dZ.T @ h``, ``dZ @ W``) against a feature-major layout (v1:
activations kept as ``(features, N)``, ``W @ hT``, ``dZT @ hT.T``, ``W.T @ dZT``), the same
arithmetic; interleaved, median microseconds per step, and the largest parameter difference
after 3 steps.

On the 2-core Xeon of 2026-12-01 v1 took 0.93x the time on 784-512-128-64-10 in float32 at batch
32 and 128, and 0.83-1.19x in the other 16 cases (faster mainly in float64 at batch 1024:
0.83x, 0.89x, 0.98x; 1.01-1.19x in 13 cases), so MLPStack keeps v0. OpenBLAS's speed per
transposition case depends on the CPU: rerun before choosing a layout by rule.

    python benchmarks/ab/transposed_layout.py
"""

import time

import numpy as np

from tinygrad_mlp.bench import reference


def make(sizes, N, dt):
    p = reference.init_params(sizes, dtype=dt)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, sizes[0])).astype(dt)
    y = rng.integers(0, sizes[-1], N)
    return p, X, y


def ce_grad(z, y):
    n = z.shape[0]
    rows = np.arange(n)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    z[rows, y] -= 1
    z *= 1.0 / n
    return z


def step_v0(Ws, bs, X, y, lr):
    acts = [X]
    L = len(Ws)
    for i, (w, b) in enumerate(zip(Ws, bs)):
        z = acts[-1] @ w.T
        z += b
        if i < L - 1:
            np.maximum(z, 0, out=z)
        acts.append(z)
    dz = ce_grad(acts.pop(), y)
    for i in range(L - 1, -1, -1):
        a = acts[i]
        gW = dz.T @ a
        gb = dz.sum(0)
        if i > 0:
            dz = dz @ Ws[i]
            dz *= a > 0
        Ws[i] -= lr * gW
        bs[i] -= lr * gb


def step_v1(Ws, bs, X, y, lr):
    # transposed domain: hT (features, N) C-contiguous
    L = len(Ws)
    hs = [X.T]
    for i in range(L - 1):
        zT = Ws[i] @ hs[-1]
        zT += bs[i][:, None]
        np.maximum(zT, 0, out=zT)
        hs.append(zT)
    z = hs[-1].T @ Ws[-1].T
    z += bs[-1]
    dz = ce_grad(z, y)  # (N,out) C
    dzT = None
    for i in range(L - 1, -1, -1):
        hT = hs[i]
        if dzT is None:
            gW = dz.T @ hT.T
            gb = dz.sum(0)
            if i > 0:
                dhT = Ws[i].T @ dz.T
        else:
            gW = dzT @ hT.T
            gb = dzT.sum(1)
            if i > 0:
                dhT = Ws[i].T @ dzT
        if i > 0:
            dhT *= hT > 0
            dzT = dhT
        Ws[i] -= lr * gW
        bs[i] -= lr * gb


def check(sizes, N, dt):
    p, X, y = make(sizes, N, dt)
    W0 = [w.copy() for w, b in p]
    b0 = [b.copy() for w, b in p]
    W1 = [w.copy() for w, b in p]
    b1 = [b.copy() for w, b in p]
    for _ in range(3):
        step_v0(W0, b0, X, y, 0.01)
        step_v1(W1, b1, X, y, 0.01)
    return max(float(np.abs(a - b).max()) for a, b in zip(W0 + b0, W1 + b1))


def bench(sizes, N, dt, reps=9):
    p, X, y = make(sizes, N, dt)
    arms = {
        "v0": ([w.copy() for w, b in p], [b.copy() for w, b in p], step_v0),
        "v1": ([w.copy() for w, b in p], [b.copy() for w, b in p], step_v1),
    }
    res = {k: [] for k in arms}
    n = max(10, int(20000 / N / (sizes[1] / 64)))
    for r in range(reps):
        for k in ["v0", "v1"] if r % 2 else ["v1", "v0"]:
            Ws, bs, f = arms[k]
            for _ in range(3):
                f(Ws, bs, X, y, 0.0)
            t = time.perf_counter()
            for _ in range(n):
                f(Ws, bs, X, y, 0.0)
            res[k].append((time.perf_counter() - t) / n * 1e6)
    return {k: np.median(v) for k, v in res.items()}


if __name__ == "__main__":
    for sizes in ([784, 512, 128, 64, 10], [784, 50, 10], [64, 64, 16, 10]):
        for dt in ("float32", "float64"):
            for N in (32, 128, 1024):
                r = bench(sizes, N, dt)
                net = "-".join(map(str, sizes))
                print(
                    f"{net} {dt} N={N}: v0 {r['v0']:.0f} us, v1 {r['v1']:.0f} us, "
                    f"v1/v0 {r['v1'] / r['v0']:.2f}, max difference {check(sizes, N, dt):.1e}",
                    flush=True,
                )
