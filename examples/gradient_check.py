"""Gradient checking: backpropagation against finite differences, element by element.

The classic walkthrough: build an untrained [10, 40, 30, 10] network (sigmoid hidden layers,
softmax cross-entropy on a small random batch), and compare every one of its 1,980 gradients from
backpropagation with the central difference ``(L(w + eps) - L(w - eps)) / (2 eps)`` computed in
float64: ``tinygrad_mlp.gradcheck`` prints "N of N gradients numerically equal" per layer.

Then the check earns its keep: a custom op (a ``Function`` subclass) whose backward forgets a
factor of the sigmoid derivative is put in the network, and the check names the layers whose
gradients went wrong, with the worst element.

    python examples/gradient_check.py [--quick] [--out DIR] [--device cpu|cuda]

(It takes about a second, so ``--quick`` runs exactly the same check.)
"""

from __future__ import annotations

import time

import numpy as np
from _common import parse_args, row, write_results

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F
from tinygrad_mlp import nn


class BrokenSigmoid(tg.Function):
    """sigmoid(x) with a WRONG backward: d sigmoid / dx is y * (1 - y), not y."""

    def forward(self, x):
        y = 1.0 / (1.0 + self.xp.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved
        return grad * y  # the bug: should be grad * y * (1.0 - y)


class BrokenSigmoidLayer(nn.Module):
    """A layer that uses the broken op, like any user-defined activation."""

    def forward(self, x):
        return BrokenSigmoid.apply(x)


def network(sizes: list[int], activation, seed: int, device: str) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation()`` between them; the last one gives logits."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, seed=rng, device=device))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def check(model, X, y) -> tg.GradcheckReport:
    """gradcheck of the mean cross-entropy of ``model`` on the batch ``(X, y)``."""
    report = tg.gradcheck(lambda: F.cross_entropy(model(X), y), model)
    print(report)
    print("=> all gradients agree\n" if report else "=> GRADIENTS DISAGREE\n")
    return report


def as_dict(report: tg.GradcheckReport) -> dict:
    return {
        "ok": bool(report),
        "eps": report.eps,
        "atol": report.atol,
        "rtol": report.rtol,
        "layers": [
            {
                "name": r.name,
                "passed": r.passed,
                "total": r.total,
                "fraction_equal": r.passed / r.total,
            }
            for r in report.results
        ],
    }


def main() -> None:
    args = parse_args("gradient_check", __doc__.splitlines()[0])
    start = time.perf_counter()
    sizes = [10, 40, 30, 10]
    rng = np.random.default_rng(args.seed)
    # float64 inputs: the check runs the parameters in float64 and needs a float64 loss
    X = tg.Tensor(rng.normal(size=(8, sizes[0])), dtype="float64", device=args.device)
    y = tg.Tensor(rng.integers(0, sizes[-1], size=8), device=args.device)

    print(f"== untrained {sizes} network, sigmoid hidden layers ==")
    good = check(network(sizes, nn.Sigmoid, args.seed, args.device), X, y)
    print("== the same network with a custom sigmoid whose backward is wrong ==")
    broken = check(network(sizes, BrokenSigmoidLayer, args.seed, args.device), X, y)

    def count(report):
        passed = sum(r.passed for r in report.results)
        return f"{passed} of {sum(r.total for r in report.results)} equal"

    rows = [
        row(f"gradient check {sizes}", "all gradients equal", count(good)),
        row(
            "gradient check, broken custom op",
            "caught",
            f"{count(broken)}: " + ("caught" if not broken else "NOT caught"),
        ),
    ]
    results = {"sizes": sizes, "batch": 8, "correct": as_dict(good), "broken_op": as_dict(broken)}
    write_results(args, results, rows, start)


if __name__ == "__main__":
    main()
