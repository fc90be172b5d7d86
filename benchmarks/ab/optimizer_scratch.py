"""A/B: the optimizer step before and after ``backend.scratch`` (commit 13ef074), same session.

``AdamOld`` / ``RMSpropOld`` are the previous ``_update`` methods (three new arrays per parameter
and step); the current classes write into the update's one temporary. Both arms step the same
parameters with the same gradients, alternating; prints the median step time, the peak memory
of one step (tracemalloc) and how far the parameters drifted apart after 3 steps.

    python benchmarks/ab/optimizer_scratch.py float32 784-512-128-64-10
"""

import math
import sys
import time
import tracemalloc
import warnings

import numpy as np

from tinygrad_mlp import Tensor, backend, nn, optim


class AdamOld(optim.Adam):
    def _update(self, p, grad, state, group):
        xp = backend.namespace(p.data)
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if self.decoupled_weight_decay:
                p.data *= 1.0 - lr * wd
            else:
                grad = grad + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        backend.add_scaled_(m, grad, 1.0 - beta1)
        v *= beta2
        sq = grad * grad
        sq *= 1.0 - beta2
        v += sq
        if group["amsgrad"]:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:
                v_max = state["max_exp_avg_sq"] = xp.zeros_like(p.data)
            v_max[...] = xp.maximum(v_max, v)
            v = v_max
        denom = xp.sqrt(v)
        denom /= math.sqrt(1.0 - beta2**t)
        denom += eps
        backend.add_scaled_(p.data, m / denom, -lr / (1.0 - beta1**t))


class RMSpropOld(optim.RMSprop):
    def _update(self, p, grad, state, group):
        xp = backend.namespace(p.data)
        alpha, wd, mu = group["alpha"], group["weight_decay"], group["momentum"]
        state["step"] += 1
        if wd != 0:
            grad = grad + wd * p.data
        v = state["square_avg"]
        v *= alpha
        sq = grad * grad
        sq *= 1.0 - alpha
        v += sq
        if group["centered"]:
            g_avg = state.get("grad_avg")
            if g_avg is None:
                g_avg = state["grad_avg"] = xp.zeros_like(p.data)
            g_avg *= alpha
            backend.add_scaled_(g_avg, grad, 1.0 - alpha)
            denom = xp.sqrt(v - g_avg * g_avg)
        else:
            denom = xp.sqrt(v)
        denom += group["eps"]
        if mu > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.zeros_like(p.data)
            buf *= mu
            buf += grad / denom
            backend.add_scaled_(p.data, buf, -group["lr"])
        else:
            backend.add_scaled_(p.data, grad / denom, -group["lr"])


CASES = {
    "adam": (AdamOld, optim.Adam, {}),
    "adam-amsgrad": (AdamOld, optim.Adam, {"amsgrad": True}),
    "rmsprop": (RMSpropOld, optim.RMSprop, {}),
    "rmsprop-centered-momentum": (RMSpropOld, optim.RMSprop, {"centered": True, "momentum": 0.9}),
}


def make(cls, sizes, dtype, hyper):
    params = list(nn.MLP(sizes, seed=0, dtype=dtype).parameters())
    rng = np.random.default_rng(1)
    for p in params:
        p.grad = Tensor(rng.standard_normal(p.shape).astype(dtype), dtype=dtype)
    return cls(params, lr=1e-3, **hyper)


def compare(name, sizes, dtype):
    old_cls, new_cls, hyper = CASES[name]
    arms = {"old": make(old_cls, sizes, dtype, hyper), "new": make(new_cls, sizes, dtype, hyper)}
    start = [p.data.copy() for p in arms["old"].param_groups[0]["params"]]
    for _ in range(3):
        for opt in arms.values():
            opt.step()
    old, new = ([p.data for p in arms[k].param_groups[0]["params"]] for k in ("old", "new"))
    drift = max(
        float(np.max(np.abs(a - b)) / np.max(np.abs(a - s)))
        for a, b, s in zip(old, new, start, strict=True)
    )
    peaks = {}
    for key, opt in arms.items():
        tracemalloc.start()
        opt.step()
        peaks[key] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    times = {key: [] for key in arms}
    for r in range(12):
        for key in ("old", "new") if r % 2 == 0 else ("new", "old"):
            opt = arms[key]
            for _ in range(10):
                opt.step()
            t = time.perf_counter()
            for _ in range(100):
                opt.step()
            times[key].append((time.perf_counter() - t) / 100 * 1e6)
    old_us, new_us = (float(np.median(times[k])) for k in ("old", "new"))
    print(
        f"{dtype} {name}: old {old_us:.0f} us, new {new_us:.0f} us, new/old {new_us / old_us:.3f}; "
        f"peak {peaks['old']:.2f} -> {peaks['new']:.2f} MB; "
        f"max |old - new| / max |update| after 3 steps {drift:.1e}"
    )


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # constant gradients: centered RMSprop's variance hits 0
    dtype = sys.argv[1] if len(sys.argv) > 1 else "float32"
    sizes = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "784-512-128-64-10").split("-")]
    for case in CASES:
        compare(case, sizes, dtype)
